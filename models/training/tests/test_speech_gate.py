# SPDX-License-Identifier: MPL-2.0
"""The element's speech-ratio rule replayed in Python (speech_gate.py)."""
import re
import unittest

import numpy as np

from training import common, extract, speech_gate


class FakeBank:
    """One clip of 10 frames: flags and the windows' frame ranges, as extract.Bank gives them."""

    def __init__(self, flags, spans):
        self.flags, self.spans = np.asarray(flags, dtype=bool), spans

    def clip_speech(self, i):
        return self.flags

    def windows(self, i):
        return [(0, 0, j0, j1, -20.0) for j0, j1 in self.spans]


def probs(label):
    p = np.full(common.N_LABELS, 0.01)
    p[label] = 1.0
    return p / p.sum()


class SpeechRatio(unittest.TestCase):
    def test_ratio_is_the_share_of_the_windows_frames_flagged(self):
        bank = FakeBank([1, 1, 0, 0, 0, 0, 0, 0, 1, 0], [(0, 4), (2, 10), (5, 5)])
        ratio, framed = speech_gate.speech_ratios(bank, 0)
        np.testing.assert_allclose(ratio, [0.5, 1 / 8, 0.0])
        self.assertEqual(framed.tolist(), [True, True, False])

    def test_a_window_needs_the_ratio_loudness_and_a_speech_label(self):
        angry = common.LABELS.index("angry")
        clip = {"win": np.stack([probs(angry), probs(angry), probs(common.NON_SPEECH), probs(angry), probs(angry)]),
                "db": np.array([-20.0, -20.0, -20.0, -70.0, -20.0]),
                "ratio": np.array([0.3, 0.05, 0.9, 0.9, 0.0]),
                "framed": np.array([True, True, True, True, False])}
        self.assertEqual(speech_gate.classified(clip, 0.2).tolist(), [True, False, False, False, False])
        # no ratio: still loud, speech, and at least one frame
        self.assertEqual(speech_gate.classified(clip, 0.0).tolist(), [True, True, False, False, False])


class Choice(unittest.TestCase):
    @staticmethod
    def val(nonspeech, angry, clean_uar):
        return {str(r): {"nonspeech": {"classified_share": nonspeech.get(r, 0.0)},
                         "neutral_calm_angry_share": angry.get(r, 0.0),
                         "sets": {"ravdess clean": {"window_uar": clean_uar.get(r, 0.5)},
                                  "emodb clean": {"window_uar": clean_uar.get(r, 0.5)}}}
                for r in speech_gate.RATIOS}

    def test_the_smallest_ratio_that_passes_every_check(self):
        self.assertEqual(speech_gate.choose(self.val({}, {}, {}))["chosen"], 0.0)
        self.assertEqual(speech_gate.choose(self.val({0.0: 0.02}, {}, {}))["chosen"], 0.05)
        self.assertEqual(speech_gate.choose(self.val({}, {0.0: 0.03, 0.05: 0.03}, {}))["chosen"], 0.1)
        self.assertEqual(speech_gate.choose(self.val({}, {}, {0.0: 0.47, 0.05: 0.47, 0.1: 0.47}))["chosen"], 0.2)

    def test_nothing_passing_keeps_the_previous_default(self):
        self.assertEqual(speech_gate.choose(self.val({r: 0.05 for r in speech_gate.RATIOS}, {}, {}))["chosen"], 0.2)


class SoundGates(unittest.TestCase):
    @staticmethod
    def val(**gates):
        """Validation figures of the previous gate (0.05) and the candidates, each a dict overriding defaults."""
        def one(ns=0.004, angry=0.02, clean=0.58, noisy=0.46, white5=0.5):
            sets = {"ravdess clean": {"window_uar": clean}, "emodb clean": {"window_uar": clean}}
            sets.update({k: {"clip_uar": noisy, "classified_share": white5} for k in speech_gate.NOISE_SETS})
            return {"nonspeech": {"classified_share": ns}, "neutral_calm_angry_share": angry, "sets": sets}
        return {"0.05": one(), speech_gate.CHANGING_GATE: one(**gates.get("changing", {})),
                speech_gate.SOUND_GATE: one(**gates.get("sound", {}))}

    def test_the_changing_gate_must_match_the_previous_one_everywhere(self):
        self.assertTrue(speech_gate.choose_changing(self.val())["adopted"])
        for bad in ({"ns": 0.0065}, {"angry": 0.0255}, {"clean": 0.574}, {"noisy": 0.459}):
            self.assertFalse(speech_gate.choose_changing(self.val(changing=bad))["adopted"], bad)
        # within the margins
        self.assertTrue(speech_gate.choose_changing(self.val(changing={"ns": 0.006, "clean": 0.576}))["adopted"])

    def test_the_sound_gate_needs_more_white_5_db_windows_at_16_khz(self):
        val = self.val(sound={"white5": 0.65})
        self.assertTrue(speech_gate.choose_sound(val, 16000)["figures_pass"])
        self.assertFalse(speech_gate.choose_sound(self.val(sound={"white5": 0.55}), 16000)["figures_pass"])
        self.assertTrue(speech_gate.choose_sound(self.val(sound={"white5": 0.5}), 8000)["figures_pass"])
        # it failed the element's tests: never adopted, whatever the figures
        self.assertFalse(speech_gate.choose_sound(val, 16000)["adopted"])


class Shipped(unittest.TestCase):
    def test_the_recorded_gate_is_the_elements(self):
        # speech_gate records what ships; the element's code decides it
        root = common.MODELS_DIR.parent
        src = (root / "core/src/analysis.rs").read_text()
        m = re.search(r"pub const AUTO_MIN_SPEECH_RATIO_WITH_GATE: f64 = ([0-9.]+);", src)
        self.assertIsNotNone(m)
        self.assertEqual(float(m.group(1)), speech_gate.SOUND_GATE_RATIO)
        self.assertIn("share(Frame::is_changing_sound)", src)
        self.assertEqual(speech_gate.SHIPPED, speech_gate.CHANGING_GATE)
        vad = (root / "core/src/vad.rs").read_text()
        body = vad[vad.index("pub fn is_changing_sound"):]
        self.assertIn("matches!(self, Frame::Speech | Frame::Noisy)", body[:body.index("}")])
        self.assertEqual(set(speech_gate.SOUND_GATES[speech_gate.SHIPPED]), {extract.SPEECH, extract.NOISY})
        # the extractor's byte per frame is the Python's code for the same verdict
        cli = (root / "core/src/bin/emotiondetect-features.rs").read_text()
        for name in ("QUIET", "SPEECH", "NOISY", "STEADY", "TONAL"):
            self.assertIn(f"Frame::{name.title()} => {getattr(extract, name)},", cli)


if __name__ == "__main__":
    unittest.main()
