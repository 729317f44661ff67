# SPDX-License-Identifier: MPL-2.0
"""Voice perturbation (voice.py) and its training condition augvtN (extract.audio_for)."""
import unittest

import numpy as np
from scipy import linalg, signal

from training import extract, voice

SR = voice.SR


def vowel(f0: float, formants=(700.0, 1800.0), seconds: float = 1.0) -> np.ndarray:
    """An impulse train at f0 through two resonators (80 Hz bandwidth): a synthetic vowel."""
    x = np.zeros(int(SR * seconds))
    x[:: int(round(SR / f0))] = 1.0
    r = np.exp(-np.pi * 80 / SR)
    for f in formants:
        x = signal.lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * f / SR), r * r], x)
    return x


def middle(x: np.ndarray) -> np.ndarray:
    return x[x.size // 4: 3 * x.size // 4]


def pitch_of(x: np.ndarray) -> float:
    """The autocorrelation peak of the middle half within 60-400 Hz, in Hz."""
    m = middle(x)
    ac = np.correlate(m, m, "full")[m.size - 1:]
    lo, hi = SR // 400, SR // 60
    return SR / (lo + int(np.argmax(ac[lo:hi])))


def formants_of(x: np.ndarray, order: int = 12) -> list[float]:
    """Resonance frequencies above 200 Hz of an order-12 LPC fit of the middle half (pre-emphasised)."""
    m = signal.lfilter([1.0, -0.63], [1.0], middle(x) * np.hamming(middle(x).size))
    r = np.correlate(m, m, "full")[m.size - 1: m.size + order]
    a = linalg.solve_toeplitz(r[:order], -r[1: order + 1])
    roots = np.roots(np.r_[1.0, a])
    f = np.sort(np.angle(roots[np.imag(roots) > 0]) * SR / (2 * np.pi))
    return [float(v) for v in f if v > 200]


class Perturb(unittest.TestCase):
    x = vowel(125.0)

    def test_the_pitch_moves_and_the_resonances_stay(self):
        y = voice.perturb(self.x, 1.2, 1.0)
        self.assertEqual(y.size, self.x.size)
        self.assertAlmostEqual(pitch_of(y) / pitch_of(self.x), 1.2, delta=0.02)
        f1, f2 = formants_of(y)[:2]
        self.assertAlmostEqual(f1 / 709, 1.0, delta=0.05)  # the original's LPC: 709 and 1791 Hz
        self.assertAlmostEqual(f2 / 1791, 1.0, delta=0.03)
        # the same factor on the envelope moves both, as speed perturbation does
        f1, f2 = formants_of(voice.perturb(self.x, 1.2, 1.2))[:2]
        self.assertAlmostEqual(f1 / 709, 1.2, delta=0.04)

    def test_the_resonances_move_and_the_pitch_stays(self):
        self.assertEqual(pitch_of(self.x), 125.0)
        self.assertEqual([round(f) for f in formants_of(self.x)[:2]], [709, 1791])
        up, down = voice.perturb(self.x, 1.0, 1.1), voice.perturb(self.x, 1.0, 0.9)
        for y, factor in ((up, 1.1), (down, 0.9)):
            self.assertEqual(pitch_of(y), 125.0)
            f1, f2 = formants_of(y)[:2]
            # LPC on harmonics 125 Hz apart understates the move; half of it at least, each way
            self.assertGreater((f1 / 709 - 1) / (factor - 1), 0.5, factor)
            self.assertGreater((f2 / 1791 - 1) / (factor - 1), 0.7, factor)
        self.assertAlmostEqual(np.sqrt(np.mean(up**2)), np.sqrt(np.mean(self.x**2)), places=9)

    def test_factors_of_one_change_nothing(self):
        np.testing.assert_allclose(voice.perturb(self.x, 1.0, 1.0), self.x, atol=1e-12)
        # the STFT round trip alone, on noise (the vocoder is the pitch test's)
        n = np.random.default_rng(1).standard_normal(8000)
        np.testing.assert_allclose(voice._istft(voice._stft(n), n.size), n, atol=1e-9)

    def test_draws(self):
        rng = np.random.default_rng(3)
        got = [voice.draw(rng) for _ in range(2000)]
        on = [g for g in got if g is not None]
        self.assertAlmostEqual(len(on) / len(got), voice.P_VOICE, delta=0.04)
        p, f = np.array(on).T
        self.assertTrue(np.all((p >= 0.8) & (p <= 1.25) & (f >= 0.87) & (f <= 1.15)))
        self.assertAlmostEqual(float(np.median(np.log(p))), float(np.mean(np.log(voice.PITCH_RANGE))), delta=0.03)
        self.assertLess(abs(np.corrcoef(p, f)[0, 1]), 0.1)  # independent, unlike speed perturbation's
        # always three draws: what follows on the generator does not depend on the outcome
        a, b = np.random.default_rng(5), np.random.default_rng(5)
        voice.draw(a), [b.random() for _ in range(3)]
        self.assertEqual(a.random(), b.random())


class Condition(unittest.TestCase):
    class Clips:
        """extract.Audio's interface on synthetic clips of the RAVDESS group."""
        group = "ravdess"

        def __getitem__(self, i):
            return vowel(100.0 + 10 * i, seconds=1.5) * 0.1

        def babble_talkers(self, i, rng, k=4):
            return [np.random.default_rng(i).standard_normal(20000) * 0.05]

    def test_augvt_is_aug_after_the_voice_perturbation_alone(self):
        perturbed = 0
        for i in range(12):
            y, info = extract.audio_for(self.Clips(), i, "augvt1", 16000)
            ref, ref_info = extract.audio_for(self.Clips(), i, "aug1", 16000)
            self.assertEqual({k: v for k, v in info.items() if k not in ("pitch", "formant")}, ref_info)
            self.assertEqual("pitch" in info, "formant" in info)
            if "pitch" in info:
                perturbed += 1
                self.assertEqual(y.size, ref.size)
                self.assertFalse(np.allclose(y, ref))
            else:
                np.testing.assert_array_equal(y, ref)
        self.assertTrue(0 < perturbed < 12, perturbed)
        # at 8 kHz the copy goes through the telephone channel as aug1 does
        y, info = extract.audio_for(self.Clips(), 0, "augvt1", 8000)
        self.assertIn(info["law"], ("mu", "a"))

    def test_only_its_own_banks_depend_on_voice_py(self):
        self.assertEqual(extract._code_hash("ravdess", "aug1"), extract._code_hash("ravdess", "clean"))
        self.assertNotEqual(extract._code_hash("ravdess", "augvt1"), extract._code_hash("ravdess", "aug1"))


if __name__ == "__main__":
    unittest.main()
