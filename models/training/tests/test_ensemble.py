# SPDX-License-Identifier: MPL-2.0
"""The normalisation an ensemble of runs gets: one prior for adapted members, pooled statistics otherwise
(adapt.ensemble_normalisation, which ensemble.normalisation feeds with the members' own; numpy only)."""
import unittest

import numpy as np

from training import adapt


def member(mean, std, prior=None):
    """A member as ensemble.normalisation passes it on: its prior and its own normalisation."""
    return prior, np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)


def normalisation(members, adaptations):
    priors, means, stds = zip(*members)
    return adapt.ensemble_normalisation(list(priors), adaptations, list(means), list(stds))


class Normalisation(unittest.TestCase):
    def test_global_members_get_the_pooled_statistics_of_their_own_and_no_prior(self):
        # two members' frames: means 0 and 2, std 1 each -> together mean 1, variance 1 + 1 = 2
        a, b = member([0.0, 1.0], [1.0, 2.0]), member([2.0, 1.0], [1.0, 2.0])
        prior, mean, std, how = normalisation([a, b], [None, None])
        self.assertIsNone(prior)
        np.testing.assert_allclose(mean, [1.0, 1.0], rtol=1e-6)
        np.testing.assert_allclose(std, [np.sqrt(2.0), 2.0], rtol=1e-6)
        self.assertIn("global", how)

    def test_adapted_members_share_their_prior_or_pool_it(self):
        p = adapt.Prior(np.array([0.0, 1.0]), np.array([1.0, 2.0]), 100.0, 0.1)
        q = adapt.Prior(np.array([2.0, 1.0]), np.array([1.0, 2.0]), 100.0, 0.1)
        same, mean, std, how = normalisation([member([0, 0], [1, 1], p), member([0, 0], [1, 1], p)],
                                                      [p.to_json(), p.to_json()])
        self.assertIs(same, p)
        self.assertEqual(how, "shared by the members")
        pooled, mean, std, _ = normalisation([member([0, 0], [1, 1], p), member([0, 0], [1, 1], q)],
                                                      [p.to_json(), q.to_json()])
        np.testing.assert_allclose(pooled.mean, [1.0, 1.0], rtol=1e-6)
        np.testing.assert_allclose(pooled.std, [np.sqrt(2.0), 2.0], rtol=1e-6)
        np.testing.assert_array_equal(mean, pooled.mean)
        self.assertEqual(pooled.frames, 100.0)

    def test_members_with_and_without_adaptation_or_with_other_priors_are_refused(self):
        p = adapt.Prior(np.zeros(2), np.ones(2), 100.0, 0.1)
        q = adapt.Prior(np.ones(2), np.ones(2), 25.0, 0.1)
        with self.assertRaises(SystemExit):
            normalisation([member([0, 0], [1, 1], p), member([0, 0], [1, 1])], [p.to_json(), None])
        with self.assertRaises(SystemExit):
            normalisation([member([0, 0], [1, 1], p), member([0, 0], [1, 1], q)], [p.to_json(), q.to_json()])


if __name__ == "__main__":
    unittest.main()
