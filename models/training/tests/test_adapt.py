# SPDX-License-Identifier: MPL-2.0
"""Speaker adaptation's rule (adapt.py), which the element implements too (core/src/adapt.rs)."""
import json
import unittest

import numpy as np

from training import adapt


def prior(frames=100.0):
    return adapt.Prior(np.array([1.0, -2.0]), np.array([2.0, 0.5]), frames, 0.1)


class Rule(unittest.TestCase):
    def test_no_speech_seen_changes_nothing(self):
        x = np.array([[3.0, 1.0], [-1.0, 0.0]], dtype=np.float32)
        np.testing.assert_allclose(adapt.apply(x, adapt.Stats.zero(2), prior()), x, rtol=0, atol=1e-6)
        self.assertIs(adapt.apply(x, None, prior()).dtype, np.dtype(np.float32))

    def test_hand_computed_mean_and_std(self):
        # n0 = 2 frames of prior (mean 1, std 2 -> second moment 5) and two frames 4 and 6:
        # m = (2*1 + 10) / 4 = 3, q = (2*5 + 16 + 36) / 4 = 15.5, s = sqrt(15.5 - 9) = 2.5495
        p = adapt.Prior(np.array([1.0]), np.array([2.0]), 2.0, 0.1)
        stats = adapt.Stats.of(np.array([[4.0], [6.0], [100.0]]), np.array([True, True, False]))
        self.assertEqual(stats.n, 2)
        m, s = adapt.mean_std(stats, p)
        self.assertAlmostEqual(m[0], 3.0)
        self.assertAlmostEqual(s[0], np.sqrt(6.5))
        # fed to the graph, x' normalises to (x - m) / s
        x = adapt.apply(np.array([[5.5]]), stats, p)
        self.assertAlmostEqual(float((x[0, 0] - 1.0) / 2.0), (5.5 - 3.0) / np.sqrt(6.5), places=6)

    def test_many_frames_of_one_speaker_standardise_to_that_speaker(self):
        rng = np.random.default_rng(0)
        p = prior(frames=50.0)
        spk = rng.normal([7.0, 3.0], [3.0, 0.5], size=(200000, 2))
        x = adapt.apply(spk, adapt.Stats.of(spk, np.ones(len(spk), bool)), p)
        z = (x - p.mean) / p.std  # what the graph's own normalisation makes of it
        np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.02)
        np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.02)

    def test_the_std_has_a_floor(self):
        p = prior()
        flat = np.tile([[1.0, -2.0]], (100000, 1))  # constant frames at the prior mean
        _, s = adapt.mean_std(adapt.Stats.of(flat, np.ones(len(flat), bool)), p)
        np.testing.assert_allclose(s, 0.1 * p.std)

    def test_streaming_statistics_count_speech_frames_up_to_the_window_end(self):
        f = np.arange(20, dtype=np.float64).reshape(10, 2)
        sp = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0, 1], bool)
        st = adapt.streaming_stats(f, sp, 5)
        self.assertEqual(st.n, 3)
        np.testing.assert_allclose(st.s1, f[[1, 2, 4]].sum(axis=0))
        before = adapt.Stats.of(f[:2], np.ones(2, bool))
        self.assertEqual(adapt.streaming_stats(f, sp, 10, before).n, 6 + 2)

    def test_the_prior_reads_back_as_float32_from_its_metadata(self):
        p = adapt.Prior(np.array([0.1, 1 / 3]), np.array([0.7, 2 / 3]), 100.0, 0.1)
        d = json.loads(p.to_json())
        self.assertEqual(set(d), {"format", "prior_frames", "min_std_ratio", "mean", "std"})
        back = adapt.Prior.from_json(p.to_json())
        np.testing.assert_array_equal(back.mean, np.float32(p.mean).astype(np.float64))
        self.assertEqual(back.rounded().to_json(), back.to_json())
        with self.assertRaises(ValueError):
            adapt.Prior.from_json(json.dumps({**d, "format": 2}))


if __name__ == "__main__":
    unittest.main()
