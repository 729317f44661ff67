"""Self-tests of the training scripts (no real training, seconds to run).

    python3 -m unittest discover -s models/training/tests -v

Uses fake_extractor.py (same protocol as emotiondetect-features, crude
features) and synthetic FLAC files in a temporary directory.
"""
from __future__ import annotations

import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import common  # noqa: E402
import evaluation  # noqa: E402
import features  # noqa: E402
from model import ExportWrapper, ResLSTMSA, count_parameters  # noqa: E402
from train import Config, augment, make_batch, train_run  # noqa: E402

FAKE = HERE / "fake_extractor.py"
torch.set_num_threads(1)


def make_corpus(root: Path, actors=(1, 2, 3, 4), per_actor=8) -> None:
    rng = np.random.default_rng(0)
    for a in actors:
        d = root / f"Actor_{a:02d}"
        d.mkdir(parents=True)
        for k in range(per_actor):
            emo = k % 8 + 1
            n = int(rng.integers(40000, 70000))
            t = np.arange(n) / 16000
            x = 0.1 * np.sin(2 * np.pi * (150 + 40 * emo) * t) + 0.01 * rng.standard_normal(n)
            if k == 0:
                x *= 1e-3  # a quiet clip: all windows below -50 dBFS
            name = f"03-01-{emo:02d}-01-01-{k % 2 + 1:02d}-{a:02d}.flac"
            sf.write(d / name, x.astype(np.float32), 16000, subtype="PCM_16")


class Helpers(unittest.TestCase):
    def test_parse_name(self):
        m = common.parse_name("03-01-08-02-01-02-24.flac")
        self.assertEqual((m["emotion"], m["intensity"], m["actor"]), (7, 2, 24))
        with self.assertRaises(ValueError):
            common.parse_name("03-02-08-02-01-02-24.flac")  # song

    def test_folds_disjoint(self):
        tests = [a for f in range(5) for a in common.fold_split(f)[2]]
        self.assertEqual(sorted(tests), list(range(1, 25)))  # every actor tested once
        for f in range(5):
            tr, va, te = common.fold_split(f)
            self.assertFalse(set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
            self.assertEqual(len(tr) + len(va) + len(te), 24)

    def test_windows(self):
        self.assertEqual(features.window_starts(30000), [(0, 30000)])
        self.assertEqual(features.window_starts(48000), [(0, 48000)])
        self.assertEqual(features.window_starts(80000), [(0, 48000), (16000, 48000), (32000, 48000)])
        # frames j with j*640 >= s and j*640 + 1280 <= s + 48000
        j0, j1 = features.window_frames(16000, 48000, 640, 1280)
        self.assertEqual((j0, j1), (25, 99))
        for j in range(j0, j1):
            self.assertTrue(j * 640 >= 16000 and j * 640 + 1280 <= 64000)
        self.assertFalse((j1 * 640 + 1280) <= 64000)
        self.assertEqual(features.window_frames(0, 1000, 640, 1280), (0, 0))

    def test_metrics(self):
        m = common.metrics([0, 0, 1, 1], [0, 1, 1, 1])
        self.assertAlmostEqual(m["uar"], 0.75)
        self.assertAlmostEqual(m["accuracy"], 0.75)

    def test_rms(self):
        self.assertAlmostEqual(features.rms_dbfs(np.full(100, 0.1)), -20.0, places=6)
        self.assertEqual(features.rms_dbfs(np.zeros(10)), float("-inf"))


class Model(unittest.TestCase):
    def test_param_count(self):
        m = ResLSTMSA()
        self.assertEqual(count_parameters(m), 46772)
        self.assertLessEqual(count_parameters(m), 50000)

    def test_init(self):
        m = ResLSTMSA()
        h = 46
        b = m.lstm1.bias_ih_l0 + m.lstm1.bias_hh_l0
        self.assertTrue(torch.all(b[h : 2 * h] == 1) and torch.all(b[:h] == 0))
        w = m.lstm2.weight_hh_l0[:64]
        self.assertTrue(torch.allclose(w @ w.T, torch.eye(64), atol=1e-4))

    def test_normalisation_inside(self):
        m = ResLSTMSA().eval()
        x = torch.randn(2, 20, 46) * 5 + 3
        m.set_normalisation(torch.full((46,), 3.0), torch.full((46,), 5.0))
        a, _ = m(x)
        b, _ = m.forward_normalised((x - 3) / 5)
        self.assertTrue(torch.allclose(a, b, atol=1e-5))

    def test_attention_and_batch_independence(self):
        m = ResLSTMSA().eval()
        x = torch.randn(3, 17, 46)
        logits, att = m(x)
        self.assertEqual(tuple(att.shape), (3, 17))
        self.assertTrue(torch.allclose(att.sum(1), torch.ones(3), atol=1e-5))
        l1, _ = m(x[1:2])
        self.assertTrue(torch.allclose(logits[1:2], l1, atol=1e-5))

    def test_onnx_roundtrip(self):
        import onnxruntime as ort

        m = ResLSTMSA().eval()
        m.set_normalisation(torch.randn(46), torch.rand(46) + 0.5)
        w = ExportWrapper(m).eval()
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "m.onnx"
            torch.onnx.export(w, (torch.randn(1, 30, 46),), str(p), dynamo=False, opset_version=17,
                              input_names=["features"], output_names=["probabilities", "attention"],
                              dynamic_axes={"features": {0: "batch", 1: "time"}, "probabilities": {0: "batch"},
                                            "attention": {0: "batch", 1: "time"}})
            s = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
            for shape in ((1, 5, 46), (2, 80, 46)):
                x = torch.randn(*shape)
                pt, at = w(x)
                po, ao = s.run(None, {"features": x.numpy()})
                self.assertLess(np.abs(pt.detach().numpy() - po).max(), 1e-5)
                self.assertEqual(ao.shape, shape[:2])


class Pipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        root = Path(cls.tmp.name)
        make_corpus(root / "data")
        cls.fs = features.build_or_load(FAKE, root / "data", root / "cache", progress=False)
        cls.root = root

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_cache_and_protocol(self):
        fs = self.fs
        self.assertEqual(len(fs), 32)
        self.assertEqual(fs.n_features, 46)
        for i in range(len(fs)):
            self.assertEqual(fs.n_frames(i), 1 + (int(fs.n_samples[i]) - 1280) // 640)
        again = features.build_or_load(FAKE, self.root / "data", self.root / "cache", progress=False)
        self.assertEqual(again.cache_path, fs.cache_path)
        self.assertTrue(np.array_equal(again.feats, fs.feats))
        self.assertEqual(features.check_windows(fs, FAKE, self.root / "data", n_clips=6), 0.0)

    def test_quiet_clip_windows(self):
        fs = self.fs
        quiet = [i for i in range(len(fs)) if str(fs.names[i]).split("-")[5] == "01" and
                 all(w[4] < common.SILENCE_DBFS for w in fs.windows(i))]
        self.assertTrue(quiet)

    def test_batch_and_augment(self):
        rng = np.random.default_rng(0)
        x = make_batch(self.fs, np.arange(5), 75, rng)
        self.assertEqual(x.shape[1], 75)
        cfg = Config(time_masks=2, feat_masks=1)
        z = augment(torch.ones_like(x), cfg, rng)
        self.assertTrue(((z == 0) | (z == 1)).all())

    def test_train_and_evaluate(self):
        cfg = Config(epochs=2, batch_size=8, t0=1, time_masks=1, feat_masks=1, mixup_alpha=0.2)
        r1, s1 = train_run(self.fs, [1, 2], [3], [4], cfg, seed=5, progress=False)
        r2, s2 = train_run(self.fs, [1, 2], [3], [4], cfg, seed=5, progress=False)
        self.assertEqual(r1["history"], r2["history"])  # seeded
        for k in s1:
            self.assertTrue(torch.equal(s1[k], s2[k]))
        self.assertEqual(len(r1["y"]), 8)
        self.assertEqual(len(r1["element_windows"]["decided"]), 8)
        runs = [dict(r1, fold=0), dict(r2, fold=1, seed=5)]
        s = evaluation.summarise(runs, "element", only_decided=True)
        self.assertLess(s["coverage"], 1.0)


if __name__ == "__main__":
    unittest.main()
