# SPDX-License-Identifier: MPL-2.0
"""Labels, corpora, folds and metrics (common.py)."""
import unittest

import numpy as np

from training import common


class Labels(unittest.TestCase):
    def test_order(self):
        self.assertEqual(common.LABELS[:8], ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust",
                                             "surprised"])
        self.assertEqual(common.LABELS[-1], "non-speech")
        self.assertEqual(len(set(common.LABELS)), len(common.LABELS))

    def test_masks(self):
        rav = {common.LABELS[i] for i in common.CORPUS_MASK["ravdess"]}
        emo = {common.LABELS[i] for i in common.CORPUS_MASK["emodb"]}
        self.assertNotIn("boredom", rav)
        self.assertTrue({"calm", "surprised"}.isdisjoint(emo))
        self.assertIn("non-speech", rav & emo)
        self.assertEqual(len(common.CORPUS_MASK["nonspeech"]), common.N_LABELS)
        self.assertEqual(len(common.EVAL_LABELS["emodb"]), 7)

    def test_parse(self):
        self.assertEqual(common.parse_ravdess("03-01-08-02-01-02-24.flac"), (7, 24))
        with self.assertRaises(ValueError):
            common.parse_ravdess("03-02-08-02-01-02-24.flac")
        self.assertEqual(common.parse_emodb("03a01Wa.flac"), (common.LABELS.index("angry"), 3))
        self.assertEqual(common.parse_emodb("16b10Lb.flac"), (common.LABELS.index("boredom"), 16))
        with self.assertRaises(ValueError):
            common.parse_emodb("03a01Xa.flac")

    def test_shared6(self):
        p = np.zeros((1, common.N_LABELS))
        p[0, common.LABELS.index("calm")] = 0.4
        p[0, common.LABELS.index("happy")] = 0.3
        p[0, common.LABELS.index("surprised")] = 0.3
        self.assertEqual(int(np.argmax(common.shared6(p))), 0)  # calm counts as neutral
        self.assertEqual(common.to_shared6(common.LABELS.index("calm")), 0)
        self.assertEqual(common.to_shared6(common.LABELS.index("boredom")), -1)


class Folds(unittest.TestCase):
    def test_every_speaker_tested_once(self):
        rav = sorted(a for f in range(5) for a in common.cv_split(f)["ravdess"]["test"])
        emo = sorted(s for f in range(5) for s in common.cv_split(f)["emodb"]["test"])
        self.assertEqual(rav, list(range(1, 25)))
        self.assertEqual(emo, sorted(common.EMODB_MALE + common.EMODB_FEMALE))

    def test_disjoint(self):
        for f in range(5):
            for corpus, s in common.cv_split(f).items():
                tr, va, te = set(s["train"]), set(s["val"]), set(s["test"])
                self.assertFalse(tr & va or tr & te or va & te, (f, corpus))

    def test_emodb_pairs_mixed_sex(self):
        for f in common.EMODB_FOLDS:
            for part in ("test", "val"):
                m, w = f[part]
                self.assertIn(m, common.EMODB_MALE)
                self.assertIn(w, common.EMODB_FEMALE)

    def test_final_keeps_demo_actors_out(self):
        fin = common.final_split()
        self.assertTrue({3, 6}.isdisjoint(fin["ravdess"]["train"]))
        self.assertEqual(len(fin["ravdess"]["train"]), 22)


class Metrics(unittest.TestCase):
    def test_uar(self):
        m = common.metrics_from_cm(common.confusion([0, 0, 1, 1], [0, 1, 1, 1], 3))
        self.assertAlmostEqual(m["uar"], 0.75)
        self.assertAlmostEqual(m["accuracy"], 0.75)

    def test_restricted_argmax(self):
        p = np.array([[0.1, 0.5, 0.4]])
        self.assertEqual(common.restricted_argmax(p, [0, 2]).tolist(), [2])


class MergeJson(unittest.TestCase):
    def test_evaluations_at_the_same_time_keep_each_others_entries(self):
        import json
        import tempfile
        import threading
        import time
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            path, locks = Path(d) / "results.json", Path(d) / "locks"
            path.write_text(json.dumps({"kept": 1}))

            def writer(name):
                for k in range(15):
                    def update(res, key=f"{name}{k}"):
                        time.sleep(0.002)  # a slow evaluation between its read and its write
                        res[key] = k
                    common.merge_json(path, update, lock_dir=locks)

            threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            got = json.loads(path.read_text())
            self.assertEqual(len(got), 31)
            self.assertEqual(got["kept"], 1)
            self.assertEqual(got["b14"], 14)
            # a new file starts from the default
            d2 = common.merge_json(Path(d) / "new.json", lambda r: r.update(x=np.float32(0.5)), {"rate": 8000},
                                   lock_dir=locks)
            self.assertEqual(json.loads((Path(d) / "new.json").read_text()), {"rate": 8000, "x": 0.5})
            self.assertEqual(d2["rate"], 8000)


if __name__ == "__main__":
    unittest.main()


class WriteJson(unittest.TestCase):
    def test_results_are_indented_json_with_numpy_values_as_numbers(self):
        import json
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as d:
            path = common.write_json(Path(d) / "r.json", {"uar": np.float64(0.5), "counts": np.array([1, 2])})
            text = path.read_text()
        self.assertEqual(text, json.dumps({"uar": 0.5, "counts": [1, 2]}, indent=1) + "\n")
