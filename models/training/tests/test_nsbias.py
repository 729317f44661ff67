# SPDX-License-Identifier: MPL-2.0
"""training.nsbias applies the card's rule for the non-speech bias as written (no element run here)."""

import unittest

import numpy as np

from training import nsbias


def row(speech: int, non_speech: int, demo: int = 12) -> dict:
    """Windows classified at both rates: each speech set of 200 windows, non-speech of 900, the demo of 12."""
    out = {}
    for rate in (16000, 8000):
        out[rate] = {f"speech-{c}": (speech, 200) for c in nsbias.SPEECH_CONDITIONS}
        out[rate].update({"non-speech": (non_speech, 900), "demo": (demo, 12)})
    return out


class Choose(unittest.TestCase):
    def test_the_largest_bias_within_every_limit_is_chosen(self):
        rows = {"0.0": row(190, 30), "0.5": row(189, 20), "1.0": row(188, 16), "2.0": row(187, 5)}
        # 2.0 loses 1.5 points of speech: over the limit of 1
        self.assertEqual(nsbias.choose(rows), 1.0)

    def test_one_speech_set_at_one_rate_over_the_limit_refuses_a_bias(self):
        rows = {"0.0": row(190, 30), "0.5": row(190, 10)}
        rows["0.5"][8000]["speech-babble10"] = (187, 200)  # -1.5 points; the pooled loss would be 0.5
        self.assertEqual(nsbias.choose(rows), 0.0)
        rows["0.5"][8000]["speech-babble10"] = (188, 200)  # -1 point: within the limit
        self.assertEqual(nsbias.choose(rows), 0.5)

    def test_a_demo_window_lost_refuses_a_bias(self):
        rows = {"0.0": row(190, 30), "0.5": row(190, 10, demo=11)}
        self.assertEqual(nsbias.choose(rows), 0.0)

    def test_a_bias_must_cut_a_third_of_the_non_speech_windows(self):
        # both rates pooled: 60 at bias 0; 42 is a cut of 30 %, 40 of a third
        self.assertEqual(nsbias.choose({"0.0": row(190, 30), "0.5": row(190, 21)}), 0.0)
        self.assertEqual(nsbias.choose({"0.0": row(190, 30), "0.5": row(190, 20)}), 0.5)


class AtRate(unittest.TestCase):
    def test_16k_is_left_alone_and_8k_goes_through_the_telephone_channel(self):
        x = np.random.default_rng(0).normal(0, 0.1, 16000)
        self.assertIs(nsbias.at_rate(x, 16000, 0), x)
        y = nsbias.at_rate(x, 8000, 1)
        self.assertEqual(y.size, 8000)


if __name__ == "__main__":
    unittest.main()
