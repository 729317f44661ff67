# SPDX-License-Identifier: MPL-2.0
"""The extractor client's protocol (extract.py) against a test double of emotiondetect-features."""
import json
import sys
import unittest
from pathlib import Path

import numpy as np

from training import extract, windows

FAKE = Path(__file__).resolve().parent / "fake_extractor.py"


class FakeExtractor(extract.Extractor):
    def __enter__(self):
        import subprocess

        self.proc = subprocess.Popen([sys.executable, str(self.path), *self.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     bufsize=0)
        return self


class FrontEnd(unittest.TestCase):
    def test_options_follow_the_feature_parameters(self):
        before_pitch = {"sample_rate": 16000, "n_mfcc": 34}
        self.assertEqual(extract.front_end(before_pitch), {"pitch": False, "remove_dc": False})
        with_pitch = {**before_pitch, "pitch": {"fmin": 60.0, "fmax": 600.0}}
        self.assertEqual(extract.front_end(with_pitch), {"pitch": True, "remove_dc": False})
        self.assertEqual(extract.front_end(json.dumps({**with_pitch, "remove_dc": True})),
                         {"pitch": True, "remove_dc": True})

    def test_a_subset_of_the_features_is_an_option_only_when_it_is_one(self):
        full = {"sample_rate": 16000, "n_mfcc": 34, "n_chroma": 12, "pitch": {"fmin": 60.0, "fmax": 600.0}}
        self.assertEqual(extract.front_end(full), {"pitch": True, "remove_dc": False})
        self.assertEqual(extract.front_end({**full, "n_mfcc": 13, "n_chroma": 0}),
                         {"pitch": True, "remove_dc": False, "n_mfcc": 13, "n_chroma": 0})
        # the extractor cannot compute a subset: a run on one is neither exported nor run through the element
        with self.assertRaisesRegex(ValueError, "only as training banks"):
            extract.Extractor(16000, FAKE, n_mfcc=13, n_chroma=0)

    def test_the_extractor_is_asked_for_what_the_options_say(self):
        self.assertEqual(extract.Extractor(8000, FAKE).args, ["--narrowband", "--pitch", "--remove-dc", "--speech"])
        self.assertEqual(extract.Extractor(16000, FAKE, pitch=False, remove_dc=False).args, ["--speech"])


class Subset(unittest.TestCase):
    def bank(self, params: dict) -> extract.Bank:
        feats = np.arange(3 * 48, dtype=np.float32).reshape(3, 48)
        z = np.zeros(1)
        return extract.Bank("ravdess", "clean", 16000, np.array(["a"]), np.array([0, 3]), feats,
                            np.ones(3, np.uint8), z, z, z, z, z, json.dumps(params), "sha")

    def test_the_first_mfcc_and_all_or_no_chroma_are_kept_with_pitch_and_voicing(self):
        params = {"n_mfcc": 34, "n_chroma": 12, "pitch": {"fmin": 60.0, "fmax": 600.0}, "n_features": 48}
        bank = self.bank(params)
        cut = extract.subset(bank, 13, 0)
        np.testing.assert_array_equal(cut.feats, bank.feats[:, list(range(13)) + [46, 47]])
        self.assertEqual(json.loads(cut.params_json), {**params, "n_mfcc": 13, "n_chroma": 0, "n_features": 15})
        self.assertEqual(extract.front_end(cut.params_json), {"pitch": True, "remove_dc": False, "n_mfcc": 13,
                                                              "n_chroma": 0})
        np.testing.assert_array_equal(extract.subset(bank, 34, 0).feats, bank.feats[:, list(range(34)) + [46, 47]])
        np.testing.assert_array_equal(extract.subset(bank, 20, 12).feats,
                                      bank.feats[:, list(range(20)) + list(range(34, 48))])
        for n_mfcc, n_chroma in ((0, 12), (35, 12), (13, 6)):
            with self.assertRaises(ValueError):
                extract.subset(bank, n_mfcc, n_chroma)
        with self.assertRaisesRegex(ValueError, "needs the extractor's"):
            extract.subset(cut, 10, 0)

    def test_load_cuts_the_full_bank_and_keeps_both(self):
        params = {"n_mfcc": 34, "n_chroma": 12, "pitch": {"fmin": 60.0, "fmax": 600.0}, "n_features": 48}
        full = self.bank(params)
        key = ("ravdess", "clean", 16000, True, False, extract.N_MFCC, extract.N_CHROMA)
        extract._LOADED[key] = full
        try:
            cut = extract.load("ravdess", "clean", 16000, progress=False, pitch=True, remove_dc=False, n_mfcc=13)
            self.assertEqual(cut.feats.shape, (3, 27))
            self.assertIs(extract.load("ravdess", "clean", 16000, progress=False, pitch=True, remove_dc=False,
                                       n_mfcc=13), cut)
            self.assertIs(extract.load("ravdess", "clean", 16000, progress=False, pitch=True, remove_dc=False), full)
            self.assertEqual(full.feats.shape, (3, 48))
        finally:
            for k in [k for k in extract._LOADED if k[:5] == key[:5]]:
                del extract._LOADED[k]


class Protocol(unittest.TestCase):
    def test_frames_and_window_slicing(self):
        rng = np.random.default_rng(0)
        x = 0.1 * rng.standard_normal(80000).astype(np.float32)
        with FakeExtractor(16000, FAKE) as ex:
            whole = ex.compute(x)
            self.assertEqual(whole.shape, (1 + (80000 - 1280) // 640, 48))
            for s, n in windows.window_starts(x.size, 16000):
                j0, j1 = windows.window_frames(s, n, 640, 1280)
                np.testing.assert_array_equal(ex.compute(x[s:s + n]), whole[j0:j1])
            self.assertEqual(ex.compute(x[:100]).shape, (0, 48))
            # speech flags come after the frames, one per frame, and the stream stays in step
            loud = np.concatenate([np.zeros(16000, np.float32), x[:32000] * 10])
            f, sp = ex.compute_with_speech(loud)
            self.assertEqual(sp.shape, (f.shape[0],))
            self.assertEqual(sp.dtype, bool)
            # only the speech code (1) is speech: the fake calls quiet frames steady noise (6)
            self.assertFalse(sp[:20].any())
            self.assertTrue(sp[-20:].all())
            _, kinds = ex.compute_with_kinds(loud)
            self.assertEqual(set(kinds[:20].tolist()), {6})
            np.testing.assert_array_equal(ex.compute(x[:3000]), whole[:3])


if __name__ == "__main__":
    unittest.main()
