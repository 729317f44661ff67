# SPDX-License-Identifier: MPL-2.0
"""training.examples reads the example's results as the card counts them (no binary run here)."""

import json
import unittest

import numpy as np

from training import examples


def line(kind: str, t: float, emotion: str = "calm", confidence: float = 0.5) -> str:
    return json.dumps({"type": kind, "timestamp": int(t * 1e9), "emotion": emotion, "confidence": confidence})


class ClassifiedWindows(unittest.TestCase):
    def test_only_emotion_messages_are_windows(self):
        out = "\n".join([line("emotion", 0, "sad", 0.41234), line("emotion-segment", 0), "",
                         line("emotion-summary", 0), line("emotion", 2, "angry", 0.7)])
        self.assertEqual(examples.classified_windows(out), [
            {"t": 0.0, "emotion": "sad", "confidence": 0.412},
            {"t": 2.0, "emotion": "angry", "confidence": 0.7},
        ])


class ChangedLabels(unittest.TestCase):
    def test_a_window_counts_only_when_classified_both_times_with_another_emotion(self):
        before = [{"t": 0.0, "emotion": "sad"}, {"t": 1.0, "emotion": "calm"}, {"t": 2.0, "emotion": "angry"}]
        after = [{"t": 0.0, "emotion": "sad"}, {"t": 1.0, "emotion": "happy"}, {"t": 3.0, "emotion": "fearful"}]
        self.assertEqual(examples.changed_labels(before, after), 1)  # 1 s changed; 2 s gated, 3 s new: not changes


class WithOffset(unittest.TestCase):
    def test_the_offset_is_added_and_full_scale_kept(self):
        x = np.array([-1.0, 0.0, 0.97, 1.0])
        np.testing.assert_allclose(examples.with_offset(x), [-0.95, 0.05, 1.0, 1.0])


if __name__ == "__main__":
    unittest.main()
