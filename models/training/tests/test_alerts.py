# SPDX-License-Identifier: MPL-2.0
"""Ringing and alert non-speech (alerts.py) and where it enters the data (extract.py, data.Data); no rendering:
fluidsynth is replaced by noise of the asked length."""
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from training import alerts, common, extract, impulses, nonspeech

from .test_impulses import bank_keys, check_seeded_clips, fake_render

SR = nonspeech.SR
SYNTHETIC = ("bell ringer", "electronic ringer", "ring tone", "chime", "alarm", "buzzer")


def envelope_db(x: np.ndarray, n: int = 160) -> np.ndarray:
    f = x[: x.size // n * n].reshape(-1, n)
    return 10 * np.log10(np.mean(f**2, axis=1) + 1e-20)


class Generators(unittest.TestCase):
    def test_synthetic_kinds_are_finite_sound_of_the_length_asked(self):
        for kind in SYNTHETIC:
            for seed in range(4):
                x, info = alerts.GENERATORS[kind](3 * SR, np.random.default_rng(seed))
                self.assertEqual(x.size, 3 * SR, (kind, info))
                self.assertTrue(np.all(np.isfinite(x)), (kind, info))
                self.assertGreater(np.max(np.abs(x)), 1e-3, (kind, info))

    def test_cadence_gate_follows_on_and_off_times(self):
        gate = alerts._gate(12 * SR, [2.0, 4.0], np.random.default_rng(0))
        self.assertAlmostEqual(float(np.mean(gate)), 1 / 3, delta=0.02)
        on = gate > 0.5
        starts = np.flatnonzero(on[1:] & ~on[:-1])
        self.assertTrue(np.allclose(np.diff(starts), 6 * SR, atol=2), starts)

    def test_a_ringer_rings_only_in_its_cadence(self):
        # a cadence ringer: loud bursts and quiet gaps (a continuous one: no gap); the bell decays in the gaps
        for seed in range(12):
            rng = np.random.default_rng(seed)
            x, info = alerts.bell_ringer(12 * SR, rng)
            db = envelope_db(x)
            spread = np.percentile(db, 95) - np.percentile(db, 10)
            if info["continuous"]:
                self.assertLess(spread, 20, info)
            else:
                self.assertGreater(spread, 30, info)

    def test_electronic_ringer_switches_pitch_at_its_rate(self):
        x, info = alerts.electronic_ringer(6 * SR, np.random.default_rng(5))
        # the pitch (zero crossings per 1 ms) changes rate x len(freqs) times a second while it rings
        f, t, z = __import__("scipy.signal", fromlist=["stft"]).stft(x, SR, nperseg=128, noverlap=96)
        loud = np.abs(z).max(axis=0) > 0.05
        pitch = np.argmax(np.abs(z), axis=0)
        changes = np.sum((pitch[1:] != pitch[:-1]) & loud[1:] & loud[:-1])
        seconds = loud.sum() * 32 / SR
        want = info["rate_hz"] * len(info["freqs"])
        self.assertGreater(changes / seconds, 0.5 * want, info)
        self.assertLess(changes / seconds, 2.0 * want, info)
        on = x[np.abs(x) > 0]
        self.assertGreater(on.size, SR // 2)
        f, t, z = __import__("scipy.signal", fromlist=["stft"]).stft(x, SR, nperseg=256)
        peaks = f[np.argmax(np.abs(z), axis=0)][np.abs(z).max(axis=0) > 0.05]
        # the strongest bins are the ringer's pitches (or their harmonics), at least two of them
        fund = np.asarray(info["freqs"])
        near = [np.min(np.abs(p / fund - np.round(p / fund))) < 0.08 for p in peaks]
        self.assertGreater(np.mean(near), 0.8)
        self.assertGreaterEqual(len({int(np.argmin(np.abs(p - fund))) for p in peaks if p < fund.max() * 1.05}), 2)

    def test_recorded_ringer_plays_training_programs_only(self):
        seen, midi_bytes = set(), nonspeech.midi_bytes

        def record(notes, programs, bpm):
            seen.update(programs.values())
            return midi_bytes(notes, programs, bpm)

        with mock.patch.object(nonspeech, "midi_bytes", record), \
                mock.patch.object(nonspeech, "render_midi", lambda d, s, *a, **k: fake_render(d, s)[:-3]):
            for seed in range(20):
                x, info = alerts.recorded_ringer(2 * SR + 1, np.random.default_rng(seed))
                self.assertEqual(x.size, 2 * SR + 1)  # a rendering a few samples short is padded
                self.assertIn(info["program"], alerts.TRAIN_RING_PROGRAMS)
        self.assertTrue(seen <= set(alerts.TRAIN_RING_PROGRAMS), seen)
        self.assertGreater(len(seen), 3)


class Splits(unittest.TestCase):
    def setUp(self):
        patcher = mock.patch.object(nonspeech, "render_midi", fake_render)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_test_programs_never_in_training(self):
        train_music = set(nonspeech.TRAIN_PROGRAMS) | set(alerts.TRAIN_RING_PROGRAMS)
        self.assertNotIn(alerts.TEST_RING_PROGRAM, train_music)
        self.assertNotIn(alerts.TEST_BELL_PROGRAM, train_music)
        kinds = {}
        for i in range(8):
            _, info = alerts.test_clip(i, 6.0)
            kinds[i] = info["kind"]
            if i % 2 == 0:
                self.assertEqual(info["program"], alerts.TEST_RING_PROGRAM if i % 4 == 0 else alerts.TEST_BELL_PROGRAM)
        self.assertEqual(kinds[0], "alerts (telephone ring)")
        self.assertEqual(kinds[2], "alerts (tinkle bell)")
        self.assertTrue(all(kinds[i] in [f"alerts ({k})" for k in SYNTHETIC] for i in (1, 3, 5, 7)), kinds)
        # all 40: the held-out programs on even clips; on odd ones 2 recorded ringers on training programs
        recorded = [i for i in range(1, 40, 2) if alerts.test_clip(i, 6.0)[1]["kind"] == "alerts (recorded ringer)"]
        self.assertEqual(recorded, [23, 35])
        self.assertEqual(alerts.clip("test", 3, 6.0)[1], alerts.test_clip(3, 6.0)[1])

    def test_clips_are_seeded_split_apart_and_levelled(self):
        # a seed stream of its own: not impulses.py's clip of the same index
        clips = check_seeded_clips(self, alerts, "alerts", 16, 6.0, 3,
                                   others=[lambda i: impulses.clip("train", i, 6.0)[0]])
        for a, ia in clips:
            self.assertLessEqual(float(np.max(np.abs(a))), 0.99)
            self.assertLess(ia["dbfs"], -14.9)
            self.assertGreaterEqual(ia["dbfs"], -45.0)


class Data(unittest.TestCase):
    def test_ranges_follow_the_impulsive_clips(self):
        for g in ("ns-train", "ns-val", "ns-test"):
            imp, al = extract.ns_impulses(g), extract.ns_alerts(g)
            self.assertEqual(al.start, imp.stop)
            self.assertEqual(al.stop, len(extract.clips_of(g)))
            self.assertEqual(len(al), extract.NS_ALERTS[g])

    def test_training_and_validation_items_with_alerts(self):
        from training import data

        speech = {c: [common.Clip(Path(f"{c}/{i}"), c, s, 0, 0) for i, s in enumerate([1, 1, 2, 2])]
                  for c in ("ravdess", "emodb")}
        real = extract.clips_of
        bank = mock.Mock(params_json="{}", extractor_sha256="x")
        split = {"ravdess": {"train": [1], "val": [2]}, "emodb": {"train": [1], "val": [2]}}
        with mock.patch.object(data.extract, "clips_of", lambda g: speech[g] if g in speech else real(g)), \
                mock.patch.object(data.extract, "load", lambda *a, **k: bank):
            for imp, al, want_train, want_val in (
                    (False, False, range(720), range(144)),
                    (True, False, range(840), range(168)),
                    (True, True, range(960), range(192)),
                    (False, True, list(range(720)) + list(range(840, 960)), list(range(144)) + list(range(168, 192)))):
                d = data.Data(16000, ["clean"], impulses=imp, alerts=al)
                self.assertEqual([i for g, i in d.items(split, "train") if g == "ns-train"], list(want_train))
                self.assertEqual([i for g, i in d.items(split, "val") if g == "ns-val"], list(want_val))


class BankKeys(unittest.TestCase):
    def test_only_the_non_speech_banks_depend_on_alerts_py(self):
        before, after = bank_keys(alerts, False), bank_keys(alerts, True)
        for (g, c), k in before.items():
            self.assertEqual(k != after[(g, c)], g.startswith("ns-"), (g, c))


if __name__ == "__main__":
    unittest.main()
