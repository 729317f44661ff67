# SPDX-License-Identifier: MPL-2.0
"""class_balance=1: each corpus's labels weigh alike in the loss, and a corpus's examples weigh 1 on average."""
import unittest

from training import data as train_data


class FakeData:
    """Items are (corpus, label) pairs."""

    def corpus(self, it):
        return it[0]

    def label(self, it):
        return it[1]


class ClassWeights(unittest.TestCase):
    def test_inverse_label_frequency_within_each_corpus(self):
        items = [("ravdess", 0)] * 2 + [("ravdess", 1)] * 4 + [("emodb", 0)] * 3 + [("nonspeech", 9)] * 7
        w = train_data.class_weights(FakeData(), items)
        # ravdess: 6 examples, 2 labels -> 6 / (2 * 2) and 6 / (2 * 4)
        self.assertAlmostEqual(w[("ravdess", 0)], 1.5)
        self.assertAlmostEqual(w[("ravdess", 1)], 0.75)
        # one label in a corpus (EmoDB here, non-speech always): weight 1
        self.assertAlmostEqual(w[("emodb", 0)], 1.0)
        self.assertAlmostEqual(w[("nonspeech", 9)], 1.0)
        # each label's total weight is the same within a corpus, and the corpus's mean weight is 1
        self.assertAlmostEqual(2 * w[("ravdess", 0)], 4 * w[("ravdess", 1)])
        self.assertAlmostEqual((2 * w[("ravdess", 0)] + 4 * w[("ravdess", 1)]) / 6, 1.0)


if __name__ == "__main__":
    unittest.main()
