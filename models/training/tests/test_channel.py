# SPDX-License-Identifier: MPL-2.0
"""Audio degradations and the telephone channel (channel.py)."""
import unittest

import numpy as np
from scipy import signal

from training import channel


class G711(unittest.TestCase):
    def test_round_trip(self):
        codes = np.arange(256, dtype=np.uint8)
        mu = codes[codes != 0x7F]  # mu-law's negative zero decodes to 0 and re-encodes as 0xFF
        self.assertTrue(np.array_equal(channel.mulaw_encode(channel.mulaw_decode(mu)), mu))
        self.assertTrue(np.array_equal(channel.alaw_encode(channel.alaw_decode(codes)), codes))

    def test_quantisation_snr(self):
        t = np.arange(8000) / 8000
        x = 0.1 * np.sin(2 * np.pi * 1004 * t)
        for law in ("mu", "a"):
            e = channel.g711(x, law) - x
            snr = 10 * np.log10(np.mean(x**2) / np.mean(e**2))
            self.assertGreater(snr, 33, law)

    def test_telephone(self):
        rng = np.random.default_rng(0)
        x = 0.1 * rng.standard_normal(16000)
        y = channel.telephone(x, "mu")
        self.assertEqual(y.size, 8000)
        f, p = signal.welch(y, fs=8000, nperseg=512)
        self.assertLess(p[(f > 3800)].mean(), p[(f > 800) & (f < 3000)].mean() / 100)
        lost = channel.telephone(x, "a", np.random.default_rng(1))
        blocks = lost[: 8000 // 160 * 160].reshape(-1, 160)
        self.assertTrue(np.all((np.abs(blocks).max(1) == 0) <= 1))


class Augmentation(unittest.TestCase):
    def test_snr(self):
        rng = np.random.default_rng(0)
        x = np.sin(2 * np.pi * 200 * np.arange(16000) / 16000)
        n = channel.coloured_noise(16000, "white", rng)
        y = channel.add_noise(x, n, 10.0)
        snr = 10 * np.log10(channel.active_power(x) / np.mean((y - x) ** 2))
        self.assertAlmostEqual(snr, 10.0, places=6)

    def test_noise_colours(self):
        rng = np.random.default_rng(1)
        slopes = {}
        for c in ("white", "pink", "brown"):
            n = channel.coloured_noise(1 << 16, c, rng)
            self.assertAlmostEqual(float(np.mean(n**2)), 1.0, places=6)
            f, p = signal.welch(n, fs=16000, nperseg=1024)
            sel = (f > 100) & (f < 6000)
            slopes[c] = np.polyfit(np.log10(f[sel]), 10 * np.log10(p[sel]), 1)[0]
        self.assertAlmostEqual(slopes["white"], 0, delta=1)
        self.assertAlmostEqual(slopes["pink"], -10, delta=1.5)
        self.assertAlmostEqual(slopes["brown"], -20, delta=2)

    def test_rir_decay(self):
        rir = channel.synthetic_rir(0.5, np.random.default_rng(2), drr_db=0.0)
        self.assertEqual(rir[0], 1.0)
        e = np.cumsum(rir[::-1] ** 2)[::-1]  # Schroeder integral
        t60 = np.argmax(10 * np.log10(e / e[1]) < -30) / 16000 * 2  # T30 extrapolated
        self.assertAlmostEqual(t60, 0.5, delta=0.1)

    def test_speed_and_gain(self):
        x = np.random.default_rng(3).standard_normal(16000) * 0.1
        self.assertEqual(channel.change_speed(x, 1.1).size, -(-16000 * 100 // 110))  # resample_poly: ceil
        self.assertEqual(channel.change_speed(x, 0.9).size, -(-16000 * 100 // 90))
        self.assertLessEqual(np.max(np.abs(channel.apply_gain(x, 20.0))), 0.99 + 1e-12)
        np.testing.assert_allclose(channel.apply_gain(x, -20.0), x / 10)

    def test_augment_is_seeded_and_families_independent(self):
        x = np.random.default_rng(4).standard_normal(32000) * 0.05
        a, ia = channel.augment(x, np.random.default_rng(7))
        b, ib = channel.augment(x, np.random.default_rng(7))
        np.testing.assert_array_equal(a, b)
        self.assertEqual(ia, ib)
        _, ic = channel.augment(x, np.random.default_rng(7), families=("gain",))
        self.assertEqual(ic, {"gain_db": ia["gain_db"]})

    def test_more_babble_changes_only_the_kind_of_some_noise(self):
        x = np.random.default_rng(4).standard_normal(16000) * 0.05

        def kinds(talkers):
            """(plain, more_babble) noise kinds of 60 seeds' copies, every other draw checked equal."""
            out = []
            for seed in range(60):
                _, plain = channel.augment(x, np.random.default_rng(seed), talkers)
                _, more = channel.augment(x, np.random.default_rng(seed), talkers, more_babble=True)
                self.assertEqual({k: v for k, v in plain.items() if k != "noise"},
                                 {k: v for k, v in more.items() if k != "noise"})
                self.assertEqual("noise" in plain, "noise" in more)
                out.append((plain.get("noise"), more.get("noise")))
            return out

        pairs = [p for p in kinds([np.random.default_rng(6).standard_normal(20000) * 0.05]) if p[0]]
        for plain, more in pairs:
            self.assertTrue(more in (plain, "babble"), (plain, more))
        share = [sum(p[k] == "babble" for p in pairs) / len(pairs) for k in (0, 1)]
        self.assertLess(share[0], 0.5)
        self.assertGreater(share[1], share[0] + 0.15)
        # without talkers (the non-speech clips) babble falls back to pink: white turns pink instead
        pairs = kinds(None)
        for plain, more in pairs:
            self.assertNotIn("babble", (plain, more))
            if plain != more:
                self.assertEqual((plain, more), ("white", "pink"))
        self.assertGreater(sum(plain != more for plain, more in pairs), 0)

    def test_babble_unit_power(self):
        rng = np.random.default_rng(5)
        talkers = [rng.standard_normal(5000), rng.standard_normal(7000)]
        b = channel.babble(16000, talkers, rng)
        self.assertEqual(b.size, 16000)
        self.assertAlmostEqual(float(np.mean(b**2)), 1.0, places=6)


if __name__ == "__main__":
    unittest.main()
