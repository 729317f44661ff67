# SPDX-License-Identifier: MPL-2.0
"""The checkpoint-rule judge: a split's epoch is chosen by the choosing pair alone and judged by the other pair."""
import unittest

from training import checkpoints


def history(rows):
    """rows: per epoch, UARs of ravdess:1, ravdess:2, emodb:3, emodb:4."""
    keys = ["ravdess:1", "ravdess:2", "emodb:3", "emodb:4"]
    return [{"epoch": k + 1, "speakers": dict(zip(keys, r))} for k, r in enumerate(rows)]


class CrossFit(unittest.TestCase):
    def test_four_splits_one_speaker_of_each_corpus_per_pair(self):
        got = checkpoints.splits(["emodb:3", "emodb:4", "ravdess:1", "ravdess:2"])
        self.assertEqual(len(got), 4)
        for choose, judge in got:
            self.assertEqual(sorted(s.split(":")[0] for s in choose), ["emodb", "ravdess"])
            self.assertEqual(set(choose) | set(judge), {"emodb:3", "emodb:4", "ravdess:1", "ravdess:2"})

    def test_the_choosing_pair_picks_and_the_other_pair_judges(self):
        # ravdess:1 and emodb:3 peak at epoch 2, where ravdess:2 and emodb:4 are at their worst
        h = history([[0.5, 0.6, 0.5, 0.6], [0.9, 0.1, 0.9, 0.2], [0.6, 0.7, 0.6, 0.8]])
        fit = {(tuple(p["choose"])): p for p in checkpoints.cross_fit(h)}
        p = fit[("ravdess:1", "emodb:3")]
        self.assertEqual(p["chosen_epoch"], 2)
        self.assertAlmostEqual(p["judged_at_chosen"], 0.15)
        self.assertAlmostEqual(p["judged_at_last"], 0.75)
        q = fit[("ravdess:2", "emodb:4")]  # they pick epoch 3, the last, judged by ravdess:1 and emodb:3
        self.assertEqual(q["chosen_epoch"], 3)
        self.assertAlmostEqual(q["judged_at_chosen"], q["judged_at_last"])
        s = checkpoints.summary(list(fit.values()))
        self.assertEqual(s["pairs"], 4)
        self.assertGreater(s["last_minus_chosen"], 0)

    def test_ties_go_to_the_earlier_epoch(self):
        h = history([[0.5, 0.1, 0.5, 0.1], [0.5, 0.9, 0.5, 0.9]])
        p = [p for p in checkpoints.cross_fit(h) if p["choose"] == ["ravdess:1", "emodb:3"]][0]
        self.assertEqual(p["chosen_epoch"], 1)
        self.assertAlmostEqual(p["judged_at_chosen"], 0.1)

    def test_a_history_without_speakers_is_refused(self):
        with self.assertRaises(ValueError):
            checkpoints.cross_fit([{"epoch": 1, "score": 0.5}])
        with self.assertRaises(ValueError):
            checkpoints.splits(["ravdess:1", "ravdess:2", "emodb:3"])


class EpochGain(unittest.TestCase):
    @staticmethod
    def epochs(scores):
        return [{"epoch": k + 1, "score": s, "ravdess": s + 0.1, "emodb": s - 0.1, "nonspeech_classified": 0.01 * k}
                for k, s in enumerate(scores)]

    def test_the_later_epoch_against_the_earlier_of_the_same_run(self):
        g = checkpoints.epoch_gain(self.epochs([0.2, 0.5, 0.4, 0.6]), 2, 4)
        self.assertAlmostEqual(g["score"]["gain"], 0.1)
        self.assertAlmostEqual(g["ravdess"]["late"], 0.7)
        self.assertAlmostEqual(g["nonspeech_classified"]["gain"], 0.02)
        s = checkpoints.epoch_summary([g, checkpoints.epoch_gain(self.epochs([0.2, 0.5, 0.4, 0.3]), 2, 4)])
        self.assertEqual((s["runs"], s["score"]["ahead"], s["score"]["behind"]), (2, 1, 1))
        self.assertAlmostEqual(s["score"]["gain"], -0.05)
        # gains +0.1 and -0.2: their sample SD is 0.15 * sqrt(2), the standard error of the mean 0.15
        self.assertAlmostEqual(s["score"]["sd"], 0.2121, places=4)
        self.assertAlmostEqual(s["score"]["se"], 0.15, places=4)
        one = checkpoints.epoch_summary([g])
        self.assertEqual((one["score"]["sd"], one["score"]["se"]), (None, None))

    def test_epochs_outside_the_history_or_out_of_order_are_refused(self):
        h = self.epochs([0.2, 0.5, 0.4])
        for early, late in ((2, 4), (3, 2), (0, 2)):
            with self.assertRaises(ValueError):
                checkpoints.epoch_gain(h, early, late)
        with self.assertRaises(ValueError):
            checkpoints.epoch_gain(h[:1] + h[2:], 1, 2)  # a history with an epoch missing

    def test_a_longer_run_starts_as_the_shorter_one(self):
        short, long = self.epochs([0.2, 0.5]), self.epochs([0.2, 0.5, 0.4])
        self.assertTrue(checkpoints.same_start(long, short))
        self.assertFalse(checkpoints.same_start(long, self.epochs([0.2, 0.51])))
        self.assertFalse(checkpoints.same_start(short, long))  # the baseline is longer
        self.assertFalse(checkpoints.same_start(long, []))


if __name__ == "__main__":
    unittest.main()
