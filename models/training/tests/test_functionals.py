# SPDX-License-Identifier: MPL-2.0
"""The functional baseline's statistics and its fusion with a model's probabilities (functionals.py)."""
import unittest

import numpy as np

from training import common, functionals


class FunctionalsTest(unittest.TestCase):
    def test_five_statistics_per_feature(self):
        z = np.array([[0.0, 10.0], [1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]])
        f = functionals.functionals(z).reshape(5, 2)
        np.testing.assert_allclose(f[:, 0], [2.0, np.sqrt(2.0), 0.4, 3.6, 1.0])
        np.testing.assert_allclose(f[:, 1], [10.0, 0.0, 10.0, 10.0, 0.0])

    def test_uar_is_the_mean_recall_of_the_classes_present(self):
        y = np.array([0, 0, 0, 0, 3, 3])
        self.assertAlmostEqual(functionals.uar(y, np.array([0, 0, 0, 3, 3, 0])), (0.75 + 0.5) / 2)


class FuseTest(unittest.TestCase):
    def probs(self, rows):
        p = np.zeros((len(rows), common.N_LABELS))
        for k, row in enumerate(rows):
            for label, v in row.items():
                p[k, common.LABELS.index(label)] = v
        return p

    def test_normalised_geometric_mean_without_non_speech(self):
        a = self.probs([{"happy": 0.8, "sad": 0.2}])
        b = self.probs([{"happy": 0.2, "sad": 0.8, "non-speech": 0.0}])
        q = functionals.fuse(a, b)
        self.assertAlmostEqual(q.sum(), 1.0)
        self.assertEqual(q[0, common.NON_SPEECH], 0.0)
        self.assertAlmostEqual(q[0, common.LABELS.index("happy")], q[0, common.LABELS.index("sad")], places=6)

    def test_one_confident_member_decides_against_an_unsure_one(self):
        a = self.probs([{"angry": 0.9, "neutral": 0.1}])
        b = self.probs([{"angry": 0.45, "neutral": 0.55}])
        q = functionals.fuse(a, b)
        self.assertEqual(common.LABELS[int(q[0].argmax())], "angry")

    def test_a_label_one_member_rules_out_stays_out(self):
        a = self.probs([{"calm": 0.5, "neutral": 0.5}])
        b = self.probs([{"calm": 0.0, "neutral": 1.0}])
        q = functionals.fuse(a, b)
        self.assertLess(q[0, common.LABELS.index("calm")], 1e-5)


if __name__ == "__main__":
    unittest.main()
