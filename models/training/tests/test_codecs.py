# SPDX-License-Identifier: MPL-2.0
"""training.codecs scores a codec's decisions as the card says (no GStreamer run here)."""

import unittest
from pathlib import Path

import numpy as np

from training import codecs, common

N, A, S = (common.LABELS.index(x) for x in ("neutral", "angry", "sad"))
NO = common.NON_SPEECH  # no classified window


class Decision(unittest.TestCase):
    def test_no_probabilities_is_no_decision(self):
        self.assertEqual(common.decision(None, [N, A]), (NO, NO))
        self.assertIsNone(common.summary_probs(None))

    def test_the_corpus_label_is_the_best_of_the_corpus_labels_only(self):
        probs = {"calm": 0.5, "neutral": 0.2, "angry": 0.3}
        self.assertEqual(common.decision(probs, [N, A]), (common.LABELS.index("calm"), A))
        self.assertEqual(common.decision(probs, [N, S]), (common.LABELS.index("calm"), N))  # sad: no probability

    def test_a_summary_names_its_own_emotion(self):
        summary = {"labels": ["neutral", "angry"], "probabilities": [0.5, 0.5], "emotion": "angry"}
        probs = common.summary_probs(summary)
        self.assertEqual(probs, {"neutral": 0.5, "angry": 0.5})
        # a tie: the element's choice (its argmax keeps the last of equal values) stands
        self.assertEqual(common.decision(probs, [N, A], summary["emotion"]), (A, N))


class Figures(unittest.TestCase):
    def test_a_clip_without_a_decision_counts_as_wrong_and_lowers_coverage(self):
        y = [N, A, S, A]
        decided = [(N, N), (A, A), (S, S), (A, A)]
        undecided = [(N, N), (A, A), (S, S), (NO, NO)]
        labels = [N, A, S]
        self.assertEqual(codecs.corpus_figures(y, decided, None, labels)["uar_corpus_labels"], 1.0)
        f = codecs.corpus_figures(y, undecided, decided, labels)
        self.assertEqual(f["coverage"], 0.75)
        self.assertEqual(f["uar_corpus_labels"], round((1 + 0.5 + 1) / 3, 4))
        self.assertEqual(f["element_label_changed"], 1)

    def test_the_element_label_and_the_corpus_label_are_scored_apart(self):
        calm = common.LABELS.index("calm")
        # the element says calm (not a label of the corpus), its best corpus label is neutral
        f = codecs.corpus_figures([N, A], [(calm, N), (A, A)], None, [N, A])
        self.assertEqual((f["uar_corpus_labels"], f["uar_element_label"]), (1.0, 0.5))

    def test_the_reference_has_no_change_count(self):
        self.assertNotIn("element_label_changed", codecs.corpus_figures([N], [(N, N)], None, [N]))


class Calls(unittest.TestCase):
    def test_each_speaker_is_one_call_in_a_seeded_order(self):
        clips = [common.Clip(Path(f"{k}.wav"), "emodb", 3 if k % 2 else 8, N, 0) for k in range(10)]
        calls = codecs.calls_of(clips)
        self.assertEqual([sorted(c) for c in calls], [[1, 3, 5, 7, 9], [0, 2, 4, 6, 8]])
        for call, speaker, idx in zip(calls, (3, 8), ([1, 3, 5, 7, 9], [0, 2, 4, 6, 8])):
            order = np.random.default_rng(speaker).permutation(5)
            self.assertEqual(call, [idx[int(j)] for j in order])
            self.assertNotEqual(call, idx)  # the seeds shuffle these five


class Pipelines(unittest.TestCase):
    def test_every_chain_sits_between_the_model_rate_caps(self):
        for rate, chains in codecs.CHAINS.items():
            for chain in chains.values():
                d = codecs.coding_pipeline(Path("in.flac"), Path("out.wav"), chain, rate)
                self.assertIn(f"audio/x-raw,rate={rate},channels=1 ! {chain} ! audioconvert", d)
                self.assertTrue(d.endswith(f'format=F32LE,rate={rate},channels=1 ! wavenc ! filesink '
                                           f'location="out.wav"'), d)


if __name__ == "__main__":
    unittest.main()
