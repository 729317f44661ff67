# SPDX-License-Identifier: MPL-2.0
"""Impulsive non-speech (impulses.py): the synthetic generators; no rendering (fluidsynth is not needed)."""
import unittest

import numpy as np

from training import impulses, nonspeech

SYNTHETIC = ("typing", "mouse", "knock", "tapping")


def frame_db(x: np.ndarray, n: int = 320) -> np.ndarray:
    f = x[: x.size // n * n].reshape(-1, n)
    return 10 * np.log10(np.mean(f**2, axis=1) + 1e-20)


class Impulses(unittest.TestCase):
    def test_percussion_of_the_test_never_in_training(self):
        self.assertFalse(set(impulses.TEST_KEYS) & set(impulses.TRAIN_KEYS))
        self.assertNotIn(impulses.TEST_KIT, impulses.TRAIN_KITS)
        self.assertTrue(set(impulses.TEST_KEYS + impulses.TRAIN_KEYS) <= set(range(35, 82)))

    def test_seeds_apart_from_the_other_generators(self):
        self.assertNotIn(impulses.STREAM, (7,))  # nonspeech.score_clip's stream
        self.assertAlmostEqual(sum(impulses.KIND_WEIGHTS), 1.0)
        self.assertEqual(len(impulses.KINDS), len(impulses.KIND_WEIGHTS))

    def test_transient_decays(self):
        x = impulses.transient(np.random.default_rng(1), 1500, 7000, 3, 0.002, 0.02)
        self.assertAlmostEqual(float(np.max(np.abs(x))), 1.0)
        head, tail = np.abs(x[:160]).max(), np.abs(x[-160:]).max()
        self.assertGreater(head, 100 * tail)

    def test_synthetic_kinds_are_impulsive_and_not_silent(self):
        n = 5 * nonspeech.SR
        for kind in SYNTHETIC:
            for seed in range(3):
                x, _ = impulses.GENERATORS[kind](n, np.random.default_rng(seed))
                self.assertEqual(x.size, n)
                db = frame_db(x)
                loud = db > db.max() - 20
                # impulses: a few loud frames, most of the clip far below them (steady noise is neither)
                self.assertTrue(0 < np.mean(loud) < 0.5, (kind, seed, np.mean(loud)))
                self.assertGreater(np.max(np.abs(x)) / np.sqrt(np.mean(x**2)), 5, (kind, seed))

    def test_typing_keeps_its_rhythm(self):
        x, info = impulses.typing(10 * nonspeech.SR, np.random.default_rng(3))
        # a press every 0.14 s at the median speed: tens of keystrokes in 10 s, not hundreds, not one
        self.assertTrue(15 <= info["keystrokes"] <= 250, info)

    def test_finish_sets_the_level_and_keeps_peaks(self):
        x, _ = impulses.mouse(5 * nonspeech.SR, np.random.default_rng(4))
        for seed in range(5):
            y, info = impulses._finish(x, np.random.default_rng(seed))
            self.assertLess(np.max(np.abs(y)), 0.99 + 1e-9)
            rms_db = 20 * np.log10(np.sqrt(np.mean(y**2)))
            self.assertLessEqual(rms_db, info["dbfs"] + 1e-6)
            self.assertTrue(-45 <= info["dbfs"] <= -15)

    def test_clips_are_seeded_and_split_apart(self):
        kinds = {}
        for split in ("train", "val"):
            for i in range(40):
                rng = np.random.default_rng([nonspeech.SEED_ROOT, nonspeech.SPLIT_ID[split], impulses.STREAM, i])
                kinds.setdefault(split, []).append(int(rng.choice(len(impulses.KINDS), p=impulses.KIND_WEIGHTS)))
        self.assertNotEqual(kinds["train"], kinds["val"])
        # a synthetic clip of the training split comes out the same twice
        i = next(k for k, v in enumerate(kinds["train"]) if impulses.KINDS[v] != "percussion")
        a, ia = impulses.clip("train", i, 2.0)
        b, ib = impulses.clip("train", i, 2.0)
        self.assertTrue(np.array_equal(a, b))
        self.assertEqual(ia, ib)
        self.assertTrue(ia["kind"].startswith("impulses ("))


class BankKeys(unittest.TestCase):
    def test_only_the_non_speech_banks_depend_on_impulses_py(self):
        from unittest import mock

        from training import extract

        with mock.patch.object(extract, "_source", lambda m: b"changed" if m is impulses else b"same"):
            changed = {g: extract._code_hash(g, "clean") for g in extract.GROUPS}
        with mock.patch.object(extract, "_source", lambda m: b"same"):
            same = {g: extract._code_hash(g, "clean") for g in extract.GROUPS}
        for g in extract.GROUPS:
            if g.startswith("ns-"):
                self.assertNotEqual(changed[g], same[g], g)
            else:
                self.assertEqual(changed[g], same[g], g)


if __name__ == "__main__":
    unittest.main()
