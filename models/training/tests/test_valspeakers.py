# SPDX-License-Identifier: MPL-2.0
"""Lever (h): the moved validation speaker trains, the other one of its corpus judges both runs."""
import unittest

from training import common, valspeakers


def record(seed, epochs, last):
    """A run record whose history's last epoch has these per-speaker UARs (the epoch before differs)."""
    return {"seed": seed, "config": {"epochs": epochs},
            "history": [{"epoch": 1, "speakers": {s: 0.0 for s in last}}, {"epoch": 2, "speakers": last}]}


class MoveValToTrain(unittest.TestCase):
    def test_each_corpus_moves_its_kth_validation_speaker_and_keeps_its_test_speakers(self):
        split = common.cv_split(0)
        for k in (0, 1):
            moved = common.move_val_to_train(split, k)
            for corpus, c in split.items():
                self.assertEqual(moved[corpus]["val"], [c["val"][1 - k]])
                self.assertEqual(moved[corpus]["train"], sorted(c["train"] + [c["val"][k]]))
                self.assertEqual(moved[corpus]["test"], c["test"])
        self.assertEqual(len(split["ravdess"]["val"]), 2, "the split passed in is left as it was")

    def test_a_split_without_two_validation_speakers_is_refused(self):
        split = common.move_val_to_train(common.cv_split(0), 0)
        with self.assertRaises(ValueError):
            common.move_val_to_train(split, 0)


class Compare(unittest.TestCase):
    def test_both_runs_are_judged_on_the_candidates_validation_speakers_at_their_last_epoch(self):
        recipe = record(0, 42, {"ravdess:3": 0.9, "ravdess:6": 0.4, "emodb:9": 0.5, "emodb:10": 0.1})
        candidate = record(0, 42, {"ravdess:6": 0.6, "emodb:9": 0.7})
        got = valspeakers.compare(recipe, candidate)
        self.assertEqual(got["judge"], ["emodb:9", "ravdess:6"])
        self.assertAlmostEqual(got["recipe"], 0.45)
        self.assertAlmostEqual(got["candidate"], 0.65)
        self.assertAlmostEqual(got["gain"], 0.2)

    def test_runs_of_other_seeds_or_lengths_or_judges_of_one_corpus_are_refused(self):
        recipe = record(0, 42, {"ravdess:3": 0.9, "ravdess:6": 0.4, "emodb:9": 0.5, "emodb:10": 0.1})
        with self.assertRaises(ValueError):
            valspeakers.compare(recipe, record(1, 42, {"ravdess:6": 0.6, "emodb:9": 0.7}))
        with self.assertRaises(ValueError):
            valspeakers.compare(recipe, record(0, 98, {"ravdess:6": 0.6, "emodb:9": 0.7}))
        with self.assertRaises(ValueError):
            valspeakers.compare(recipe, record(0, 42, {"ravdess:6": 0.6, "ravdess:3": 0.7}))
        with self.assertRaises(ValueError):  # the recipe never judged emodb:11
            valspeakers.compare(recipe, record(0, 42, {"ravdess:6": 0.6, "emodb:11": 0.7}))

    def test_summary_counts_the_comparisons_ahead_and_behind(self):
        rows = [{"recipe": 0.5, "candidate": 0.6, "gain": 0.1}, {"recipe": 0.5, "candidate": 0.45, "gain": -0.05},
                {"recipe": 0.5, "candidate": 0.5, "gain": 0.0}]
        s = valspeakers.summary(rows)
        self.assertEqual((s["comparisons"], s["ahead"], s["behind"], s["ties"]), (3, 1, 1, 1))
        self.assertAlmostEqual(s["gain"], 0.0167, places=4)


if __name__ == "__main__":
    unittest.main()
