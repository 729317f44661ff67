# SPDX-License-Identifier: MPL-2.0
"""Non-speech generators and the MIDI writer (nonspeech.py); no rendering (fluidsynth is not needed)."""
import struct
import unittest

import numpy as np

from training import nonspeech


class Midi(unittest.TestCase):
    def test_file_structure(self):
        data = nonspeech.midi_bytes([(0.0, 1.0, 0, 60, 100), (1.0, 0.5, 1, 64, 90)], {0: 0, 1: 24}, 120.0)
        self.assertEqual(data[:4], b"MThd")
        self.assertEqual(struct.unpack(">IHHH", data[4:14]), (6, 0, 1, nonspeech.TPQ))
        self.assertEqual(data[14:18], b"MTrk")
        (length,) = struct.unpack(">I", data[18:22])
        self.assertEqual(len(data), 22 + length)
        self.assertTrue(data.endswith(b"\x00\xff\x2f\x00"))
        self.assertIn(bytes([0xC1, 24]), data)  # program change of channel 1

    def test_varlen(self):
        self.assertEqual(nonspeech._varlen(0), b"\x00")
        self.assertEqual(nonspeech._varlen(0x80), b"\x81\x00")
        self.assertEqual(nonspeech._varlen(0x0FFFFFFF), b"\xff\xff\xff\x7f")

    def test_random_music_uses_training_programs(self):
        for seed in range(20):
            _, info = nonspeech.random_music(4.0, np.random.default_rng(seed))
            self.assertTrue(set(info["programs"]) <= set(nonspeech.TRAIN_PROGRAMS))

    def test_programs_disjoint(self):
        self.assertFalse(set(nonspeech.TEST_PROGRAMS) & set(nonspeech.TRAIN_PROGRAMS))

    def test_score_collections_apart_from_the_test_and_each_other(self):
        train, val = (set(nonspeech.SCORE_COMPOSERS[s]) for s in ("train", "val"))
        self.assertFalse(train & val)
        self.assertNotIn("bach", train | val)  # the test's chorales
        self.assertNotIn("test", nonspeech.SCORE_COMPOSERS)


class Generators(unittest.TestCase):
    def test_seeded_and_split_apart(self):
        for kind in ("noise", "hum", "tone", "dtmf", "callprogress"):
            gen = nonspeech.GENERATORS[kind]
            a, _ = gen(8000, np.random.default_rng([1, 2]))
            b, _ = gen(8000, np.random.default_rng([1, 2]))
            c, _ = gen(8000, np.random.default_rng([1, 3]))
            np.testing.assert_array_equal(a, b)
            self.assertFalse(np.array_equal(a, c), kind)
            self.assertEqual(a.size, 8000)
            self.assertTrue(np.all(np.isfinite(a)))

    def test_dtmf_frequencies(self):
        x, _ = nonspeech.dtmf(16000, np.random.default_rng(0))
        spec = np.abs(np.fft.rfft(x))
        f = np.fft.rfftfreq(x.size, 1 / 16000)
        peaks = f[np.argsort(spec)[-40:]]
        allowed = np.array(nonspeech.DTMF_ROWS + nonspeech.DTMF_COLS)
        self.assertTrue(all(np.min(np.abs(allowed - p)) < 15 for p in peaks))


if __name__ == "__main__":
    unittest.main()
