# SPDX-License-Identifier: MPL-2.0
"""Training items of both length classes (lengths.py)."""
import unittest

import numpy as np

from training import lengths


class FakeData:
    """Three speakers x two emotions of short clips (corpus "emodb"), long clips ("ravdess"), non-speech."""

    def __init__(self):
        self.info = {}
        for g, n, frames in (("emodb", 24, 49), ("ravdess", 24, 90), ("ns-train", 10, 125)):
            for i in range(n):
                corpus = "nonspeech" if g == "ns-train" else g
                self.info[(g, i)] = (corpus, i % 3, i % 2, frames)
        self.info[("emodb", 99)] = ("emodb", 7, 0, 49)  # the only clip of its speaker and emotion

    def corpus(self, it):
        return self.info[it][0]

    def speaker(self, it):
        return self.info[it][0], self.info[it][1]

    def label(self, it):
        return self.info[it][2]

    def features(self, it, condition):
        n = self.info[it][3]
        return np.full((n, 2), float(it[1])) + (0.5 if condition == "aug1" else 0.0)

    def speech(self, it, condition):
        return np.arange(self.info[it][3]) % 2 == 0


class Lengths(unittest.TestCase):
    def setUp(self):
        self.data = FakeData()
        self.tr = sorted(self.data.info)
        self.long = np.array([self.data.info[it][3] >= 75 for it in self.tr])

    def test_share_zero_keeps_every_clip_in_its_class(self):
        long, short = lengths.length_classes(self.data, self.tr, self.long, 0.0, np.random.default_rng(0))
        self.assertEqual(sorted(long), [it for it, l in zip(self.tr, self.long) if l])
        self.assertEqual(sorted(short), [it for it, l in zip(self.tr, self.long) if not l])

    def test_every_clip_once_partners_of_the_same_speaker_and_emotion(self):
        seen_joined = seen_moved = 0
        for seed in range(20):
            long, short = lengths.length_classes(self.data, self.tr, self.long, 0.5, np.random.default_rng(seed))
            heads = [lengths.first(it) for it in long + short]
            self.assertEqual(sorted(heads), self.tr)  # each clip leads exactly one item
            for it in long:
                if isinstance(it[0], tuple):
                    seen_joined += 1
                    a, b = it
                    self.assertNotEqual(a, b)
                    self.assertEqual(self.data.corpus(a), "emodb")
                    self.assertEqual((self.data.speaker(a), self.data.label(a)), (self.data.speaker(b), self.data.label(b)))
                else:
                    self.assertTrue(self.data.info[it][3] >= 75)
            seen_moved += sum(self.data.info[it][3] >= 75 for it in short)
            # a clip without a partner, and non-speech, are never joined
            self.assertIn(("emodb", 99), short)
        self.assertGreater(seen_joined, 100)
        self.assertGreater(seen_moved, 200)

    def test_a_joined_item_is_its_clips_end_to_end_in_one_condition(self):
        f, sp = lengths.sequence(self.data, (("emodb", 0), ("emodb", 6)), "aug1")
        self.assertEqual(f.shape, (98, 2))
        self.assertTrue(np.all(f[:49] == 0.5) and np.all(f[49:] == 6.5))
        self.assertEqual(sp.shape, (98,))
        self.assertEqual(lengths.first((("emodb", 0), ("emodb", 6))), ("emodb", 0))
        self.assertEqual(lengths.first(("emodb", 0)), ("emodb", 0))


class NonspeechToShort(unittest.TestCase):
    def test_only_long_nonspeech_moves_and_every_item_stays_once(self):
        long = np.array([True] * 6 + [False] * 4 + [True] * 10)
        nonspeech = np.array([False] * 10 + [True] * 10)
        moved = 0
        for seed in range(50):
            lo, sh = lengths.nonspeech_to_short(long, nonspeech, 0.3, np.random.default_rng(seed))
            self.assertEqual(sorted(np.concatenate([lo, sh]).tolist()), list(range(20)))
            self.assertTrue(set(range(6)) <= set(lo.tolist()))  # long speech stays long
            self.assertTrue(set(range(6, 10)) <= set(sh.tolist()))  # short speech stays short
            moved += len(set(sh.tolist()) & set(range(10, 20)))
        self.assertTrue(0.2 < moved / 500 < 0.4, moved / 500)  # about the share asked

    def test_share_zero_and_one(self):
        long, nonspeech = np.array([True, True, False]), np.array([False, True, False])
        lo, sh = lengths.nonspeech_to_short(long, nonspeech, 0.0, np.random.default_rng(0))
        self.assertEqual((lo.tolist(), sh.tolist()), ([0, 1], [2]))
        lo, sh = lengths.nonspeech_to_short(long, nonspeech, 1.0, np.random.default_rng(0))
        self.assertEqual((lo.tolist(), sh.tolist()), ([0], [1, 2]))


if __name__ == "__main__":
    unittest.main()
