# SPDX-License-Identifier: MPL-2.0
"""Impulsive non-speech (impulses.py) and where it enters the data (extract.py, data.Data); no rendering:
fluidsynth is replaced by noise of the asked length."""
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from training import common, extract, impulses, nonspeech

SYNTHETIC = ("typing", "mouse", "knock", "tapping")


def fake_render(data: bytes, seconds: float, sr: int = nonspeech.SR, **_) -> np.ndarray:
    """Noise standing in for fluidsynth (seeded by the MIDI bytes), the length render_midi gives."""
    return 0.1 * np.random.default_rng(len(data)).standard_normal(int(seconds * sr))


def check_seeded_clips(test: unittest.TestCase, module, name: str, n: int, seconds: float, min_kinds: int,
                       others=()) -> list[tuple[np.ndarray, dict]]:
    """Training clips 0..n-1 of a module (impulses.py, alerts.py): each the same when drawn again, different from
    the validation clip of its index and from every `others(i)`, of one of the module's KINDS, more than
    `min_kinds` kinds in all. Returns the clips for further checks."""
    out, kinds = [], set()
    for i in range(n):
        a, ia = module.clip("train", i, seconds)
        b, ib = module.clip("train", i, seconds)
        test.assertTrue(np.array_equal(a, b))
        test.assertEqual(ia, ib)
        for other in (module.clip("val", i, seconds)[0], *(f(i) for f in others)):
            test.assertFalse(np.array_equal(a, other), i)
        test.assertIn(ia["kind"], [f"{name} ({k})" for k in module.KINDS])
        kinds.add(ia["kind"])
        out.append((a, ia))
    test.assertGreater(len(kinds), min_kinds)
    return out


def bank_keys(module, changed: bool) -> dict:
    """Every bank's cache key (extract._code_hash) by (group, condition), with `module`'s source changed or not."""
    def source(m):
        return b"changed" if (m is module and changed) else b"same"
    with mock.patch.object(extract, "_source", source):
        return {(g, c): extract._code_hash(g, c) for g in extract.GROUPS for c in ("clean", "aug1", "augimp1")}


def frame_db(x: np.ndarray, n: int = 320) -> np.ndarray:
    f = x[: x.size // n * n].reshape(-1, n)
    return 10 * np.log10(np.mean(f**2, axis=1) + 1e-20)


class Generators(unittest.TestCase):
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
        _, info = impulses.typing(10 * nonspeech.SR, np.random.default_rng(3))
        # a press every 0.14 s at the median speed: tens of keystrokes in 10 s, not hundreds, not one
        self.assertTrue(15 <= info["keystrokes"] <= 250, info)

    def test_finish_sets_the_level_and_keeps_peaks(self):
        x, _ = impulses.mouse(5 * nonspeech.SR, np.random.default_rng(4))
        exact = 0
        for seed in range(20):
            y, info = impulses._finish(x, np.random.default_rng(seed))
            self.assertLess(np.max(np.abs(y)), 0.99 + 1e-9)
            self.assertTrue(-45 <= info["dbfs"] <= -15)
            rms_db = 20 * np.log10(np.sqrt(np.mean(y**2)))
            if not np.isclose(np.max(np.abs(y)), 0.99):  # the peak limit did not act: the level is the one drawn
                self.assertAlmostEqual(rms_db, info["dbfs"], delta=0.051)  # info rounds to 0.1 dB
                exact += 1
            else:
                self.assertLess(rms_db, info["dbfs"])
        self.assertGreater(exact, 0)

    def test_a_kit_without_the_keys_falls_back_to_the_next(self):
        def render(data, seconds, *a, **k):  # the TR-808 kit (program 25 on channel 10) plays nothing
            return np.zeros(int(seconds * nonspeech.SR)) if bytes([0xC9, 25]) in data else fake_render(data, seconds)

        # a seed whose first draw (the kit) is the silent one
        seed = next(s for s in range(50) if int(np.random.default_rng(s).choice([25, 8])) == 25)
        with mock.patch.object(nonspeech, "render_midi", render):
            x, info = impulses.percussion(nonspeech.SR, np.random.default_rng(seed), kits=[25, 8])
        self.assertEqual(info["kit"], 8)
        self.assertGreater(np.max(np.abs(x)), 1e-3)

    def test_percussion_keeps_the_length_asked(self):
        with mock.patch.object(nonspeech, "render_midi", lambda d, s, *a, **k: fake_render(d, s)[:-1]):
            for n in (64063, 64064, 80000):
                x, _ = impulses.percussion(n, np.random.default_rng(n))
                self.assertEqual(x.size, n)


class Splits(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.object(nonspeech, "render_midi", fake_render)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_test_percussion_never_in_training(self):
        self.assertFalse(set(impulses.TEST_KEYS) & set(impulses.TRAIN_KEYS))
        self.assertNotIn(impulses.TEST_KIT, impulses.TRAIN_KITS)
        seen = {"train and val": 0, "test": 0}
        for split in ("train", "val"):
            for i in range(40):
                _, info = impulses.clip(split, i, 2.0)
                if info["kind"] == "impulses (percussion)":
                    self.assertIn(info["kit"], impulses.TRAIN_KITS)
                    self.assertTrue(set(info["keys"]) <= set(impulses.TRAIN_KEYS), info)
                    seen["train and val"] += 1
        for i in range(0, 10, 2):
            _, info = impulses.test_clip(i, 2.0)
            self.assertEqual(info["kind"], "impulses (percussion)")
            self.assertEqual(info["kit"], impulses.TEST_KIT)
            self.assertTrue(set(info["keys"]) <= set(impulses.TEST_KEYS), info)
            seen["test"] += 1
        self.assertTrue(seen["train and val"] and seen["test"], seen)
        self.assertEqual(impulses.test_clip(1, 2.0)[1]["kind"], "impulses (typing)")
        # clip() of the test split is test_clip
        self.assertEqual(impulses.clip("test", 3, 2.0)[1], impulses.test_clip(3, 2.0)[1])

    def test_clips_are_seeded_and_split_apart(self):
        check_seeded_clips(self, impulses, "impulses", 12, 2.0, 2, others=[lambda i: impulses.test_clip(i, 2.0)[0]])


class Data(unittest.TestCase):
    def test_ranges_follow_the_earlier_clips(self):
        for g in ("ns-train", "ns-val", "ns-test"):
            earlier, imp = extract.ns_earlier(g), extract.ns_impulses(g)
            self.assertEqual(earlier.start, 0)
            self.assertEqual(earlier.stop, extract.NS_COUNT[g] + extract.NS_SCORES[g])
            self.assertEqual(imp.start, earlier.stop)
            self.assertEqual(imp.stop + extract.NS_ALERTS[g], len(extract.clips_of(g)))  # the alert clips follow
            self.assertEqual(len(imp), extract.NS_IMPULSES[g])

    def test_training_and_validation_items_without_and_with_impulses(self):
        from training import data

        speech = {c: [common.Clip(Path(f"{c}/{i}"), c, s, 0, 0) for i, s in enumerate([1, 1, 2, 2])]
                  for c in ("ravdess", "emodb")}

        real = extract.clips_of

        def clips_of(group):
            return speech[group] if group in speech else real(group)

        bank = mock.Mock(params_json="{}", extractor_sha256="x")
        split = {"ravdess": {"train": [1], "val": [2]}, "emodb": {"train": [1], "val": [2]}}
        with mock.patch.object(data.extract, "clips_of", clips_of), \
                mock.patch.object(data.extract, "load", lambda *a, **k: bank):
            for impulsive, n_train, n_val in ((False, 720, 144), (True, 840, 168)):
                d = data.Data(16000, ["clean"], impulses=impulsive)
                tr = [i for g, i in d.items(split, "train") if g == "ns-train"]
                va = [i for g, i in d.items(split, "val") if g == "ns-val"]
                self.assertEqual(tr, list(range(n_train)))
                self.assertEqual(va, list(range(n_val)))
                self.assertEqual(len(d.items(split, "train")) - len(tr), 4)  # two clips of each corpus
            d = data.Data(16000, ["clean"], score_music=False, impulses=True)
            tr = [i for g, i in d.items(split, "train") if g == "ns-train"]
            self.assertEqual(tr, list(range(480)) + list(range(720, 840)))


class BankKeys(unittest.TestCase):
    def test_only_the_banks_that_use_impulses_py_depend_on_it(self):
        before, after = bank_keys(impulses, False), bank_keys(impulses, True)
        for (g, c), k in before.items():
            if g.startswith("ns-") or c == "augimp1":
                self.assertNotEqual(k, after[(g, c)], (g, c))
            else:
                self.assertEqual(k, after[(g, c)], (g, c))
        self.assertEqual(before[("ravdess", "clean")], before[("ravdess", "aug1")])
        self.assertNotEqual(before[("ravdess", "augimp1")], before[("ravdess", "aug1")])


if __name__ == "__main__":
    unittest.main()
