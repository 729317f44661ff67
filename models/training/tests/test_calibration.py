# SPDX-License-Identifier: MPL-2.0
"""Calibration figures of the element's windows (calibration.py)."""
import unittest

import numpy as np

from training import calibration, common, windows

NS = common.NON_SPEECH


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Calibration(unittest.TestCase):
    def test_scale_one_is_what_the_element_reports(self):
        p = softmax(np.random.default_rng(0).normal(size=(20, common.N_LABELS)))
        np.testing.assert_allclose(calibration.rescaled(p, 1.0), windows.emotion_probs(p, NS), atol=1e-12)
        self.assertTrue(np.all(calibration.rescaled(p, 0.5)[:, NS] == 0))

    def test_a_temperature_changes_confidence_never_the_label(self):
        p = softmax(3 * np.random.default_rng(1).normal(size=(50, common.N_LABELS)))
        for s in (0.3, 0.7, 2.0):
            q = calibration.rescaled(p, s)
            np.testing.assert_array_equal(q.argmax(1), windows.emotion_probs(p, NS).argmax(1))
        self.assertTrue(np.all(calibration.rescaled(p, 0.5).max(1) <= calibration.rescaled(p, 1.0).max(1) + 1e-12))

    def test_ece_of_honest_and_of_overconfident_windows(self):
        rng = np.random.default_rng(2)
        conf = rng.uniform(0.2, 1.0, 20000)
        honest = rng.random(conf.size) < conf
        self.assertLess(calibration.ece(conf, honest), 0.02)
        # always 90 % sure, right half of the time
        self.assertAlmostEqual(calibration.ece(np.full(1000, 0.9), np.arange(1000) % 2 == 0), 0.4, places=6)

    def test_fit_scale_recovers_the_temperature_of_the_data(self):
        rng = np.random.default_rng(3)
        n, k = 4000, common.N_LABELS
        logits = 2.5 * rng.normal(size=(n, k))
        logits[:, NS] = -50  # speech windows
        y = np.array([rng.choice(k, p=row) for row in softmax(logits)])
        # the model is twice as sure as the data: its logits are doubled
        p = softmax(2 * logits)
        self.assertAlmostEqual(calibration.fit_scale(p, y), 0.5, delta=0.06)
        # already calibrated data: the fit finds no change (a rerun does not drift)
        self.assertAlmostEqual(calibration.fit_scale(softmax(logits), y), 1.0, delta=0.06)
        # too few windows, or an optimum beyond the range: no refit
        self.assertIsNone(calibration.fit_scale(p[:10], y[:10]))
        self.assertIsNone(calibration.fit_scale(softmax(40 * logits), y))

    def test_windows_and_six_class_outcomes(self):
        calm, neutral, surprised = (common.LABELS.index(k) for k in ("calm", "neutral", "surprised"))
        win = np.full((3, common.N_LABELS), 0.01)
        win[0, calm], win[1, surprised], win[2, NS] = 0.9, 0.9, 0.9
        preds = [{"win": win / win.sum(1, keepdims=True), "db": np.array([-20.0, -20.0, -20.0])}]
        p, y = calibration.classified_windows(preds, [neutral], six=True)
        self.assertEqual(len(y), 2)  # the non-speech window is not classified
        conf, right = calibration.outcomes(p, y, six=True)
        self.assertEqual(right.tolist(), [True, False])  # calm counts as neutral; surprised is not one of the six
        r = calibration.report(p, y, six=True)
        self.assertEqual((r["windows"], r["accuracy"]), (2, 0.5))
        self.assertEqual(sum(b["windows"] for b in r["bins"]), 2)
        self.assertIsNone(calibration.report(p[:0], y[:0])["ece"])  # strict JSON: null, not NaN


if __name__ == "__main__":
    unittest.main()
