# SPDX-License-Identifier: MPL-2.0
"""The element's window rule (windows.py)."""
import unittest

import numpy as np

from training import windows


class WindowRule(unittest.TestCase):
    def test_starts_16k(self):
        self.assertEqual(windows.window_starts(30000, 16000), [(0, 30000)])
        self.assertEqual(windows.window_starts(48000, 16000), [(0, 48000)])
        self.assertEqual(windows.window_starts(80000, 16000), [(0, 48000), (16000, 48000), (32000, 48000)])

    def test_starts_8k(self):
        self.assertEqual(windows.window_starts(40000, 8000), [(0, 24000), (8000, 24000), (16000, 24000)])

    def test_frames_inside_window(self):
        for sr, hop, n_fft in ((16000, 640, 1280), (8000, 320, 640)):
            s, n = sr, 3 * sr
            j0, j1 = windows.window_frames(s, n, hop, n_fft)
            self.assertEqual(j1 - j0, 74)
            for j in range(j0, j1):
                self.assertTrue(j * hop >= s and j * hop + n_fft <= s + n)
            self.assertFalse(j1 * hop + n_fft <= s + n)
            self.assertFalse((j0 - 1) * hop >= s)
        self.assertEqual(windows.window_frames(0, 1000, 640, 1280), (0, 0))

    def test_rms(self):
        self.assertAlmostEqual(windows.rms_dbfs(np.full(100, 0.1)), -20.0, places=6)
        self.assertEqual(windows.rms_dbfs(np.zeros(10)), float("-inf"))

    def test_gate_and_summary(self):
        ns = 3
        p = np.array([[0.6, 0.2, 0.1, 0.1],    # classified: label 0
                      [0.1, 0.2, 0.1, 0.6],    # argmax non-speech: not classified
                      [0.1, 0.5, 0.1, 0.3],    # too quiet
                      [0.2, 0.3, 0.1, 0.4]])   # argmax non-speech
        db = np.array([-30.0, -30.0, -70.0, -30.0])
        g = windows.gate(p, db, ns)
        self.assertEqual(g.tolist(), [True, False, False, False])
        s = windows.summary(p, np.array([48000] * 4), g, ns)
        np.testing.assert_allclose(s, [0.6 / 0.9, 0.2 / 0.9, 0.1 / 0.9, 0.0])
        self.assertIsNone(windows.summary(p, np.ones(4), np.zeros(4, bool), ns))

    def test_summary_is_duration_weighted(self):
        p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        s = windows.summary(p, np.array([3, 1]), np.array([True, True]), 2)
        np.testing.assert_allclose(s, [0.75, 0.25, 0.0])


if __name__ == "__main__":
    unittest.main()
