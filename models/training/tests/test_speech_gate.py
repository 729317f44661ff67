# SPDX-License-Identifier: MPL-2.0
"""The element's speech-ratio rule replayed in Python (speech_gate.py)."""
import re
import unittest

import numpy as np

from training import common, extract, speech_gate


class FakeBank:
    """One clip of 10 frames: flags and the windows' frame ranges, as extract.Bank gives them."""

    def __init__(self, flags, spans):
        self.kinds, self.spans = np.asarray(flags, dtype=np.uint8), spans

    def clip_kinds(self, i):
        return self.kinds

    def clip_speech(self, i):
        return self.kinds == extract.SPEECH

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

    def test_each_gate_counts_its_kinds_of_frame(self):
        e = extract
        kinds = [e.SPEECH, e.NOISY, e.STEADY_NOISE, e.STEADY, e.OUT_OF_BAND, e.TONAL, e.QUIET, e.QUIET]
        bank = FakeBank(kinds, [(0, 8)])
        self.assertEqual(speech_gate.speech_ratios(bank, 0)[0].tolist(), [1 / 8])
        for gate, n in ((speech_gate.CHANGING_GATE, 2), (speech_gate.NOISE_GATE, 3), (speech_gate.BAND_GATE, 4),
                        (speech_gate.SOUND_GATE, 5)):
            counted = np.isin(bank.clip_kinds(0), speech_gate.SOUND_GATES[gate])
            self.assertEqual(speech_gate.speech_ratios(bank, 0, counted)[0].tolist(), [n / 8], gate)
        # a window is classified at a gate by that gate's own ratio
        clip = {"win": np.stack([probs(common.LABELS.index("sad"))]), "db": np.array([-20.0]),
                "ratio": np.array([0.0]), "framed": np.array([True]), speech_gate.NOISE_GATE: np.array([0.3])}
        self.assertTrue(speech_gate.classified(clip, speech_gate.NOISE_GATE)[0])
        self.assertFalse(speech_gate.classified(clip, 0.05)[0])

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
                **{g: one(**gates.get(g.split()[0], {})) for g in speech_gate.WIDER_GATES}}

    def test_the_changing_gate_must_match_the_previous_one_everywhere(self):
        self.assertTrue(speech_gate.choose_changing(self.val())["adopted"])
        for bad in ({"ns": 0.0065}, {"angry": 0.0255}, {"clean": 0.574}, {"noisy": 0.459}):
            self.assertFalse(speech_gate.choose_changing(self.val(changing=bad))["adopted"], bad)
        # within the margins
        self.assertTrue(speech_gate.choose_changing(self.val(changing={"ns": 0.006, "clean": 0.576}))["adopted"])

    def test_a_wider_gate_needs_more_white_5_db_windows_at_16_khz(self):
        g = speech_gate.NOISE_GATE
        self.assertTrue(speech_gate.choose_wider(self.val(noise={"white5": 0.65}), 16000, g)["adopted"])
        self.assertFalse(speech_gate.choose_wider(self.val(noise={"white5": 0.55}), 16000, g)["adopted"])
        self.assertFalse(speech_gate.choose_wider(self.val(changing={"ns": 0.0}, noise={"white5": 0.9, "ns": 0.0025}),
                                                  16000, g)["adopted"])
        self.assertTrue(speech_gate.choose_wider(self.val(noise={"white5": 0.5}), 8000, g)["adopted"])
        self.assertFalse(speech_gate.choose_wider(self.val(noise={"white5": 0.49}), 8000, g)["adopted"])

    def test_a_gate_that_failed_an_element_test_is_never_adopted(self):
        for g, key in ((speech_gate.SOUND_GATE, "sound"), (speech_gate.BAND_GATE, "band")):
            got = speech_gate.choose_wider(self.val(**{key: {"white5": 0.9}}), 16000, g)
            self.assertTrue(got["figures_pass"], g)
            self.assertFalse(got["adopted"], g)
            self.assertIn("why_not", got)


class Shipped(unittest.TestCase):
    def test_the_recorded_gate_is_the_elements(self):
        # speech_gate records what ships; the element's code decides it
        root = common.MODELS_DIR.parent
        src = (root / "core/src/analysis.rs").read_text()
        m = re.search(r"pub const AUTO_MIN_SPEECH_RATIO_WITH_GATE: f64 = ([0-9.]+);", src)
        self.assertIsNotNone(m)
        self.assertEqual(float(m.group(1)), speech_gate.SOUND_GATE_RATIO)
        self.assertIn("share(Frame::is_speech_or_noise)", src)
        self.assertEqual(speech_gate.SHIPPED, speech_gate.NOISE_GATE)
        vad = (root / "core/src/vad.rs").read_text()
        body = vad[vad.index("pub fn is_speech_or_noise"):]
        self.assertIn("matches!(self, Frame::Speech | Frame::Noisy | Frame::SteadyNoise)", body[:body.index("}")])
        self.assertEqual(set(speech_gate.SOUND_GATES[speech_gate.SHIPPED]),
                         {extract.SPEECH, extract.NOISY, extract.STEADY_NOISE})
        # the extractor's byte per frame is the Python's code for the same verdict
        cli = (root / "core/src/bin/emotiondetect-features.rs").read_text()
        for name in ("QUIET", "SPEECH", "NOISY", "STEADY", "TONAL", "OUT_OF_BAND", "STEADY_NOISE"):
            self.assertIn(f"Frame::{name.title().replace('_', '')} => {getattr(extract, name)},", cli)


if __name__ == "__main__":
    unittest.main()
