"""ResLSTM-SA for 8 kHz narrowband (telephone) speech: simulation, CV, final model, export.

The 8 kHz model has the architecture, training loop, metrics and export
contract of the 16 kHz one; this script only adds what differs: RAVDESS
(16 kHz) is degraded to telephone audio, features come from the Rust
extractor's narrowband set (`emotiondetect-features --narrowband`: 8 kHz,
80 ms frames every 40 ms, 34 MFCC + 12 chroma, mel bands up to 4 kHz), and
the training clips are augmented. It imports common, model, evaluation,
features, train and export instead of repeating them.

Commands (from the repository root; run training under `nice -n 15`, torch
uses one thread):

    python3 models/training/narrowband.py check      # G.711 round trip, window slicing
    python3 models/training/narrowband.py features   # simulate + extract every condition (cached)
    python3 models/training/narrowband.py cv --seeds 0 1 2
    python3 models/training/narrowband.py final      # trains, then exports (below)
    python3 models/training/narrowband.py export     # models/reslstm-sa-8k.onnx + parity fixture
    python3 models/training/narrowband.py evaluate [--wait-wideband 1800]

Telephone channel (all at float64, input = the 16 kHz FLAC as float32):
  1. resample 16 -> 8 kHz: scipy.signal.resample_poly(x, 1, 2)
  2. (augmentation only) gain: uniform in [-6, +6] dB
  3. (augmentation only) additive noise, white or pink (1/f power) with
     probability 1/2 each, at an SNR uniform in [10, 30] dB relative to the
     active speech level (mean power of the 20 ms blocks within 30 dB of the
     loudest block)
  4. band-pass 300-3400 Hz: Butterworth, scipy.signal.butter(4, [300, 3400],
     btype="bandpass", fs=8000, output="sos") (8 poles), applied causally
     with sosfilt
  5. G.711 8-bit companding, encode + decode (segmented mu-law or A-law,
     computed arithmetically, see mulaw_encode / alaw_encode); input clipped
     to [-1, 1) at 16-bit resolution first
  6. (augmentation only) packet loss: each 20 ms block (160 samples, grid
     from sample 0) replaced with zeros with probability 0.03
Evaluation and validation clips ("tel"): steps 1, 4, 5 only, mu-law for even
clip index (position in the sorted list of the 1440 clips), A-law for odd.
Training: the "tel" version of each training clip plus K=3 augmented versions
("aug1".."aug3": random law, gain, noise, loss; seeded per clip and version),
all extracted once; every time the training loop takes a training clip it
draws one of its 4 versions uniformly (seeded by the run's seed), so an epoch
has as many steps as at 16 kHz and the 16 kHz hyperparameters transfer.

Outputs: models/results/narrowband/{cv/fold<F>_seed<S>.json, cv/summary.json,
final.json, export.json, evaluation.json}, models/checkpoints/narrowband/
{cv/fold<F>_seed<S>.pt, final.pt}, models/reslstm-sa-8k.onnx,
tests/fixtures/model_parity_8k.json. Feature caches: models/.cache/nb-*.npz.
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from scipy import signal
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import evaluation  # noqa: E402
import export as export16  # noqa: E402
import features  # noqa: E402
import train  # noqa: E402
from model import ResLSTMSA, count_parameters  # noqa: E402

SR = 8000
WINDOW_SECONDS, STEP_SECONDS = 3, 1
# The element's default silence threshold (src/emotiondetect/imp.rs,
# DEFAULT_SILENCE_THRESHOLD): element-window figures here skip windows below it.
ELEMENT_SILENCE_DBFS = -60.0

NB_RESULTS = common.RESULTS_DIR / "narrowband"
NB_CHECKPOINTS = common.CHECKPOINT_DIR / "narrowband"
CV_TAG = "narrowband/cv"  # relative to RESULTS_DIR / CHECKPOINT_DIR
ONNX_8K = common.MODELS_DIR / "reslstm-sa-8k.onnx"
PARITY_8K = common.REPO_DIR / "tests" / "fixtures" / "model_parity_8k.json"
WIDEBAND_TAG = "cv-main"

K_AUG = 3
AUG_SEED = 8000  # root of every simulation random stream
BAND_HZ = (300.0, 3400.0)
BP_ORDER = 4
GAIN_DB = 6.0
SNR_DB = (10.0, 30.0)
LOSS_PROB = 0.03
BLOCK = SR // 50  # 20 ms
ACTIVE_RANGE_DB = 30.0
CACHE_FORMAT = 1

# ---------------------------------------------------------------------------
# G.711 (ITU-T G.711 segment laws, 8-bit codes), numpy, no tables

MU_BIAS, MU_CLIP = 0x84, 32635


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int64)


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """Float samples (full scale 1.0) -> 8-bit mu-law codes (uint8, bits inverted as transmitted)."""
    s = _to_int16(x)
    neg = s < 0
    mag = np.minimum(np.abs(s), MU_CLIP) + MU_BIAS  # 132 .. 32767
    exp = np.clip(np.floor(np.log2(mag)).astype(np.int64) - 7, 0, 7)
    mant = (mag >> (exp + 3)) & 0x0F
    return (~((neg.astype(np.int64) << 7) | (exp << 4) | mant) & 0xFF).astype(np.uint8)


def mulaw_decode(code: np.ndarray) -> np.ndarray:
    c = ~np.asarray(code, dtype=np.int64) & 0xFF
    exp, mant = (c >> 4) & 0x07, c & 0x0F
    mag = (((mant << 3) + MU_BIAS) << exp) - MU_BIAS  # middle of the quantisation interval
    return np.where(c & 0x80, -mag, mag).astype(np.float64) / 32768.0


def alaw_encode(x: np.ndarray) -> np.ndarray:
    """Float samples -> 8-bit A-law codes (uint8, even bits inverted as transmitted)."""
    s = _to_int16(x)
    pos = s >= 0
    mag = np.where(pos, s, -s - 1) >> 3  # 13-bit magnitude, 0 .. 4095
    exp = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int64) - 4)
    mant = np.where(exp == 0, mag >> 1, (mag >> np.maximum(exp, 0)) & 0x0F)
    return (((pos.astype(np.int64) << 7) | (exp << 4) | mant) ^ 0x55).astype(np.uint8)


def alaw_decode(code: np.ndarray) -> np.ndarray:
    c = np.asarray(code, dtype=np.int64) ^ 0x55
    exp, mant = (c >> 4) & 0x07, c & 0x0F
    t = np.where(exp == 0, (mant << 4) + 8, ((mant << 4) + 0x108) << np.maximum(exp - 1, 0))
    return np.where(c & 0x80, t, -t).astype(np.float64) / 32768.0


def g711(x: np.ndarray, law: str) -> np.ndarray:
    if law == "mu":
        return mulaw_decode(mulaw_encode(x))
    if law == "a":
        return alaw_decode(alaw_encode(x))
    raise ValueError(law)


# ---------------------------------------------------------------------------
# telephone channel

BP_SOS = signal.butter(BP_ORDER, list(BAND_HZ), btype="bandpass", fs=SR, output="sos")


def resample_to_8k(x16: np.ndarray) -> np.ndarray:
    return signal.resample_poly(np.asarray(x16, dtype=np.float64), 1, 2)


def bandpass(x: np.ndarray) -> np.ndarray:
    return signal.sosfilt(BP_SOS, x)


def active_power(x: np.ndarray) -> float:
    """Mean power of the 20 ms blocks within ACTIVE_RANGE_DB of the loudest block."""
    n = (x.size // BLOCK) * BLOCK
    if n == 0:
        return float(np.mean(x**2)) if x.size else 0.0
    p = np.mean(x[:n].reshape(-1, BLOCK) ** 2, axis=1)
    top = p.max()
    if top <= 0:
        return 0.0
    return float(p[p >= top * 10 ** (-ACTIVE_RANGE_DB / 10)].mean())


def make_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power white or pink (power proportional to 1/f, no DC) Gaussian noise."""
    w = rng.standard_normal(n)
    if colour == "pink":
        spec = np.fft.rfft(w)
        f = np.fft.rfftfreq(n, d=1.0 / SR)
        scale = np.zeros_like(f)
        scale[1:] = 1.0 / np.sqrt(f[1:])
        w = np.fft.irfft(spec * scale, n=n)
    return w / max(np.sqrt(np.mean(w**2)), 1e-12)


def telephone(x16: np.ndarray, law: str) -> np.ndarray:
    """Deterministic telephone channel: 8 kHz, 300-3400 Hz band-pass, G.711 (`law` 'mu' or 'a')."""
    return g711(bandpass(resample_to_8k(x16)), law).astype(np.float32)


def telephone_augmented(x16: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Training augmentation: random gain, noise, law and packet loss around the channel."""
    x = resample_to_8k(x16)
    law = "mu" if rng.random() < 0.5 else "a"
    gain_db = float(rng.uniform(-GAIN_DB, GAIN_DB))
    colour = "white" if rng.random() < 0.5 else "pink"
    snr_db = float(rng.uniform(*SNR_DB))
    x = x * 10 ** (gain_db / 20)
    p = active_power(x)
    x = x + np.sqrt(p * 10 ** (-snr_db / 10)) * make_noise(x.size, colour, rng)
    y = g711(bandpass(x), law)
    n_blocks = -(-y.size // BLOCK)
    lost = np.flatnonzero(rng.random(n_blocks) < LOSS_PROB)
    for b in lost:
        y[b * BLOCK : (b + 1) * BLOCK] = 0.0
    info = {"law": law, "gain_db": gain_db, "noise": colour, "snr_db": snr_db,
            "lost_blocks": int(lost.size), "blocks": int(n_blocks)}
    return y.astype(np.float32), info


def law_of(clip_index: int) -> str:
    return "mu" if clip_index % 2 == 0 else "a"


# Conditions: name -> (sample rate of the features, description). Every
# condition covers all 1440 clips in the order of common.list_clips().
CONDITIONS = {
    "tel": (SR, "telephone, deterministic: 8 kHz, 300-3400 Hz, G.711 mu-law (even clip index) / A-law (odd)"),
    **{f"aug{v}": (SR, f"training augmentation version {v}: random gain, noise, law, packet loss")
       for v in range(1, K_AUG + 1)},
    "telnoisy": (SR, "noisy telephone, test-only random stream: same random chain as the augmentation"),
    "clean8": (SR, "resampled to 8 kHz only (no band-pass, no codec)"),
    "tel16": (16000, "the deterministic telephone signal upsampled back to 16 kHz (resample_poly(x, 2, 1))"),
    "clean8up16": (16000, "resampled to 8 kHz only, upsampled back to 16 kHz (band limit 4 kHz, no telephone)"),
}


def degrade(cond: str, x16: np.ndarray, i: int) -> tuple[np.ndarray, dict]:
    if cond == "tel":
        return telephone(x16, law_of(i)), {"law": law_of(i)}
    if cond.startswith("aug"):
        v = int(cond[3:])
        return telephone_augmented(x16, np.random.default_rng([AUG_SEED, 1, i, v]))
    if cond == "telnoisy":
        return telephone_augmented(x16, np.random.default_rng([AUG_SEED, 2, i]))
    if cond == "clean8":
        return resample_to_8k(x16).astype(np.float32), {}
    if cond == "tel16":
        y = signal.resample_poly(telephone(x16, law_of(i)).astype(np.float64), 2, 1)
        return y.astype(np.float32), {"law": law_of(i)}
    if cond == "clean8up16":
        return signal.resample_poly(resample_to_8k(x16), 2, 1).astype(np.float32), {}
    raise ValueError(cond)


def simulation_hash() -> str:
    """Hash of the simulation code and constants (part of the feature-cache key)."""
    h = hashlib.sha256()
    for fn in (_to_int16, mulaw_encode, mulaw_decode, alaw_encode, alaw_decode, g711, resample_to_8k,
               bandpass, active_power, make_noise, telephone, telephone_augmented, law_of, degrade):
        h.update(inspect.getsource(fn).encode())
    h.update(repr((AUG_SEED, BAND_HZ, BP_ORDER, GAIN_DB, SNR_DB, LOSS_PROB, BLOCK, ACTIVE_RANGE_DB,
                   K_AUG, BP_SOS.tobytes())).encode())
    return h.hexdigest()


# ---------------------------------------------------------------------------
# features


class NarrowbandExtractor(features.Extractor):
    """`emotiondetect-features --narrowband` (same protocol, 8 kHz parameter set)."""

    ARGS = ["--narrowband"]

    def params_json(self) -> str:
        import subprocess

        out = subprocess.run([str(self.path), *self.ARGS, "--print-params"], check=True,
                             capture_output=True, text=True).stdout.strip()
        json.loads(out)
        return out

    def __enter__(self) -> "NarrowbandExtractor":
        import subprocess

        self.proc = subprocess.Popen([str(self.path), *self.ARGS], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0)
        return self


def extractor_for(sr: int) -> features.Extractor:
    ex = NarrowbandExtractor() if sr == SR else features.Extractor()
    got = int(json.loads(ex.params_json())["sample_rate"])
    if got != sr:
        raise SystemExit(f"extractor sample_rate {got}, expected {sr}")
    return ex


def window_starts(n_samples: int, sr: int) -> list[tuple[int, int]]:
    """The element's windows at rate sr: 3 s every 1 s while they fit; whole clip if shorter than 3 s."""
    win, step = WINDOW_SECONDS * sr, STEP_SECONDS * sr
    if n_samples < win:
        return [(0, n_samples)]
    return [(s, win) for s in range(0, n_samples - win + 1, step)]


_FIELDS = ["names", "actor", "emotion", "intensity", "n_samples", "offsets", "feats", "win_clip",
           "win_start", "win_len", "win_rms_db"]


def load_condition(cond: str, progress: bool = True) -> features.FeatureSet:
    """FeatureSet of every clip under condition `cond` (built once, cached in models/.cache)."""
    sr, _ = CONDITIONS[cond]
    ex = extractor_for(sr)
    params_json = ex.params_json()
    ex_sha = features.sha256_file(ex.path)
    clips = common.list_clips()
    h = hashlib.sha256(f"nb-cache {CACHE_FORMAT} {cond}\n{simulation_hash()}\n".encode())
    h.update(features.cache_key(params_json, ex_sha, clips).encode())
    path = common.CACHE_DIR / f"nb-{cond}-{h.hexdigest()[:16]}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        fs = features.FeatureSet(**{k: z[k] for k in _FIELDS}, params_json=str(z["params_json"]),
                                 extractor_sha256=str(z["extractor_sha256"]), cache_path=path)
        fs.sim_info = json.loads(str(z["sim_info"]))
        return fs
    cols = {k: [] for k in _FIELDS if k not in ("offsets", "feats")}
    feats, infos = [], []
    with ex:
        for i, c in enumerate(tqdm(clips, desc=f"features {cond}", disable=not progress)):
            meta = common.parse_name(c.name)
            y, info = degrade(cond, features.load_audio(c), i)
            f = ex.compute(y)
            if not np.all(np.isfinite(f)):
                raise SystemExit(f"{c.name} ({cond}): non-finite features")
            cols["names"].append(c.name)
            for k in ("actor", "emotion", "intensity"):
                cols[k].append(meta[k])
            cols["n_samples"].append(y.size)
            feats.append(f)
            infos.append(info)
            for s, n in window_starts(y.size, sr):
                cols["win_clip"].append(i)
                cols["win_start"].append(s)
                cols["win_len"].append(n)
                cols["win_rms_db"].append(features.rms_dbfs(y[s : s + n]))
    arrays = {k: np.array(v, dtype=np.float64 if k == "win_rms_db" else None) for k, v in cols.items()}
    arrays["names"] = np.array(cols["names"])
    arrays["offsets"] = np.concatenate([[0], np.cumsum([f.shape[0] for f in feats])]).astype(np.int64)
    arrays["feats"] = np.concatenate(feats).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays, params_json=np.array(params_json), extractor_sha256=np.array(ex_sha),
                        sim_info=np.array(json.dumps(infos)))
    tmp.replace(path)
    return load_condition(cond, progress)


class TrainingView:
    """A FeatureSet whose training clips come in K_AUG + 1 versions.

    clip(i) of a clip in `augmented` returns one of its versions (the
    deterministic telephone one or aug1..augK) drawn uniformly from a seeded
    generator; every other clip (validation, test) is always the deterministic
    telephone version. All versions of a clip have the same number of frames
    (the degradations keep the length), so train.make_batch's crops are valid.
    Everything else is the base FeatureSet's.
    """

    def __init__(self, base: features.FeatureSet, versions: list[features.FeatureSet], augmented, seed: int):
        for v in versions:
            assert np.array_equal(v.offsets, base.offsets) and np.array_equal(v.names, base.names)
        self.base, self.versions = base, versions
        self.augmented = {int(i) for i in augmented}
        self.rng = np.random.default_rng([seed, 8000])

    def __getattr__(self, name):
        return getattr(self.base, name)

    def __len__(self) -> int:
        return len(self.base)

    def clip(self, i: int) -> np.ndarray:
        i = int(i)
        if i in self.augmented:
            v = int(self.rng.integers(0, len(self.versions) + 1))
            if v:
                return self.versions[v - 1].clip(i)
        return self.base.clip(i)


def feats_hash(sets: list[features.FeatureSet]) -> str:
    h = hashlib.sha256()
    for fs in sets:
        h.update(fs.feats_sha256.encode())
    return h.hexdigest()


def augmentation_stats(augs: list[features.FeatureSet]) -> dict:
    info = [d for a in augs for d in a.sim_info]
    snr = np.array([d["snr_db"] for d in info])
    gain = np.array([d["gain_db"] for d in info])
    return {
        "versions": len(augs), "clips": len(info),
        "mu_law_fraction": round(float(np.mean([d["law"] == "mu" for d in info])), 4),
        "pink_fraction": round(float(np.mean([d["noise"] == "pink" for d in info])), 4),
        "snr_db_min_mean_max": [round(float(snr.min()), 2), round(float(snr.mean()), 2), round(float(snr.max()), 2)],
        "gain_db_min_mean_max": [round(float(gain.min()), 2), round(float(gain.mean()), 2), round(float(gain.max()), 2)],
        "lost_block_fraction": round(sum(d["lost_blocks"] for d in info) / sum(d["blocks"] for d in info), 5),
    }


# ---------------------------------------------------------------------------
# training


def resolve_config(overrides: list[str]) -> tuple[train.Config, str]:
    """The 16 kHz model's hyperparameters (chosen on validation actors only)."""
    cv = common.RESULTS_DIR / WIDEBAND_TAG / "summary.json"
    if cv.exists():
        base, src = train.Config(**json.loads(cv.read_text())["config"]), str(cv.relative_to(common.REPO_DIR))
    elif train.DEFAULT_CONFIG_PATH.exists():
        base, src = train.default_config(), str(train.DEFAULT_CONFIG_PATH.relative_to(common.REPO_DIR))
    else:
        # tune.py's criterion: mean validation UAR over the last 10% of epochs,
        # among candidates screened on all five folds
        best = None
        for p in sorted((common.RESULTS_DIR / "tune").glob("*.json")):
            d = json.loads(p.read_text())
            if len({r["fold"] for r in d["runs"]}) < len(common.FOLDS):
                continue
            score = float(np.mean([r["val_uar_last"] for r in d["runs"]]))
            if best is None or score > best[0]:
                best = (score, p, d["config"])
        if best is None:
            raise SystemExit("no hyperparameters: models/results/cv-main, training/config.json or tune/ needed")
        base = train.Config(**best[2])
        src = f"{best[1].relative_to(common.REPO_DIR)} (best validation UAR, last 10% of epochs: {best[0]:.4f})"
    cfg = train.Config.from_overrides(overrides, base)
    if overrides:
        src += " + " + " ".join(overrides)
    return cfg, src


def setup_torch() -> None:
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    common.SILENCE_DBFS = ELEMENT_SILENCE_DBFS  # element-window figures use the element's default


def load_training_sets(progress: bool = True):
    tel = load_condition("tel", progress)
    augs = [load_condition(f"aug{v}", progress) for v in range(1, K_AUG + 1)]
    return tel, augs


def simulation_summary() -> dict:
    return {
        "train": f"'tel' + {K_AUG} augmented versions per training clip, one drawn uniformly per use",
        "eval": CONDITIONS["tel"][1],
        "resample": "scipy.signal.resample_poly(x, 1, 2)",
        "bandpass": f"butter({BP_ORDER}, {list(BAND_HZ)}, bandpass, fs={SR}, sos), sosfilt",
        "codec": "G.711 8-bit segmented mu-law / A-law, encode+decode",
        "augmentation": f"gain U(-{GAIN_DB},{GAIN_DB}) dB; white|pink noise at SNR U{SNR_DB} dB re active level; "
        f"{BLOCK}-sample blocks zeroed with p={LOSS_PROB}; law mu|a at random",
        "simulation_sha256": simulation_hash(),
    }


def cmd_cv(args) -> None:
    setup_torch()
    cfg, src = resolve_config(args.set)
    tel, augs = load_training_sets()
    aug_sha = feats_hash(augs)
    res_dir, ck_dir = common.RESULTS_DIR / CV_TAG, common.CHECKPOINT_DIR / CV_TAG
    res_dir.mkdir(parents=True, exist_ok=True)
    ck_dir.mkdir(parents=True, exist_ok=True)
    print(f"config ({src}): {json.dumps(asdict(cfg))}")
    print(f"parameters: {count_parameters(ResLSTMSA(tel.n_features, cfg.hidden, dropout=cfg.dropout))}")
    t0 = time.time()
    runs = []
    for seed in args.seeds:
        for fold in args.folds:
            tr, va, te = common.fold_split(fold)
            out, ck = res_dir / f"fold{fold}_seed{seed}.json", ck_dir / f"fold{fold}_seed{seed}.pt"
            if out.exists() and ck.exists() and not args.force:
                r = json.loads(out.read_text())
                if r["config"] == asdict(cfg) and r["features_sha256"] == tel.feats_sha256 \
                        and r.get("aug_features_sha256") == aug_sha and "temperature" in r:
                    print(f"fold {fold} seed {seed}: cached ({out.relative_to(common.REPO_DIR)})")
                    runs.append(r)
                    continue
            view = TrainingView(tel, augs, tel.indices(tr), seed)
            r, state = train.train_run(view, tr, va, te, cfg, seed, desc=f"8k fold {fold} seed {seed}")
            r.update({"fold": fold, "tag": CV_TAG, "config_source": src, "aug_features_sha256": aug_sha,
                      "silence_dbfs": ELEMENT_SILENCE_DBFS})
            torch.save(state, ck)
            out.write_text(json.dumps(r, separators=(",", ":")))
            print(f"fold {fold} seed {seed}: best epoch {r['best_epoch']} val UAR {r['val_uar']:.4f} | test UAR "
                  f"clip {r['test_clip']['uar']:.4f} element {r['test_element']['uar']:.4f} "
                  f"({r['train_seconds']:.0f} s)", flush=True)
            runs.append(r)
    summary = {
        "tag": CV_TAG, "config": asdict(cfg), "config_source": src,
        "n_parameters": runs[0]["n_parameters"],
        "features_params": tel.params, "simulation": simulation_summary(),
        "augmentation_stats": augmentation_stats(augs),
        "element_silence_dbfs": ELEMENT_SILENCE_DBFS,
        "val_uar_mean": float(np.mean([r["val_uar"] for r in runs])),
        "val_uar_std": float(np.std([r["val_uar"] for r in runs], ddof=1)) if len(runs) > 1 else 0.0,
        "best_epochs": [r["best_epoch"] for r in runs],
        "train_seconds_mean": float(np.mean([r["train_seconds"] for r in runs])),
        "wall_seconds": round(time.time() - t0, 1),
        "clip": evaluation.summarise(runs, "clip"),
        "element": evaluation.summarise(runs, "element"),
        "element_decided": evaluation.summarise(runs, "element", only_decided=True),
    }
    (res_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"validation UAR {summary['val_uar_mean']:.4f} ± {summary['val_uar_std']:.4f} over {len(runs)} runs")
    for k in ("clip", "element", "element_decided"):
        s = summary[k]
        print(f"test UAR ({k}): {s['uar_mean']:.4f} ± {s['uar_std']:.4f} (runs); pooled "
              f"{s['pooled_uar_mean']:.4f}; coverage {s['coverage']:.3f}")


def cmd_final(args) -> None:
    setup_torch()
    cv = common.RESULTS_DIR / CV_TAG / "summary.json"
    if cv.exists() and not args.set:
        s = json.loads(cv.read_text())
        cfg, src = train.Config(**s["config"]), s["config_source"] + f" (via {CV_TAG}/summary.json)"
    else:
        cfg, src = resolve_config(args.set)
    tel, augs = load_training_sets()
    tr, va = common.final_split()
    print(f"config ({src}): {json.dumps(asdict(cfg))}")
    print(f"train actors {tr}, validation actors {va}")
    view = TrainingView(tel, augs, tel.indices(tr), args.seed)
    r, state = train.train_run(view, tr, va, [], cfg, args.seed, desc="8k final", val_only=True)
    r.update({"fold": None, "tag": "narrowband/final", "config_source": src,
              "aug_features_sha256": feats_hash(augs)})
    NB_CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    NB_RESULTS.mkdir(parents=True, exist_ok=True)
    torch.save(state, NB_CHECKPOINTS / "final.pt")
    (NB_RESULTS / "final.json").write_text(json.dumps(r, separators=(",", ":")))
    print(f"final: best epoch {r['best_epoch']} val UAR {r['val_uar']:.4f} ({r['train_seconds']:.0f} s)")
    export_8k()


# ---------------------------------------------------------------------------
# export


def evaluation_metadata(info: dict) -> str:
    ev = json.loads(export16.evaluation_json(CV_TAG, info))
    ev["audio"] = ("RAVDESS 16 kHz degraded to telephone speech: 8 kHz, 300-3400 Hz band-pass, G.711 "
                   "mu-law/A-law; training adds gain, white/pink noise 10-30 dB SNR and 3% packet loss")
    ev["element_silence_dbfs"] = ELEMENT_SILENCE_DBFS
    ev_path = NB_RESULTS / "evaluation.json"
    if ev_path.exists():
        e = json.loads(ev_path.read_text())
        for key, name in (("nb_telnoisy", "noisy_telephone"), ("wb_tel16", "model_16k_on_telephone")):
            if key in e.get("conditions", {}):
                c = e["conditions"][key]
                ev[name] = {"per_clip_uar": round(c["clip"]["uar_mean"], 4),
                            "element_uar": round(c["element"]["uar_mean"], 4)}
    return json.dumps(ev, separators=(",", ":"))


def export_8k() -> dict:
    torch.set_num_threads(1)
    info = json.loads((NB_RESULTS / "final.json").read_text())
    cfg = info["config"]
    model = ResLSTMSA(46, cfg["hidden"], common.N_CLASSES, cfg["dropout"])
    model.load_state_dict(torch.load(NB_CHECKPOINTS / "final.pt", weights_only=True))
    model.eval()
    tel = load_condition("tel", progress=False)
    if tel.feats_sha256 != info["features_sha256"]:
        raise SystemExit("the extractor or the simulation changed since training: retrain (narrowband.py final)")
    params_json = NarrowbandExtractor().params_json()  # verbatim --narrowband --print-params
    if json.loads(params_json) != info["features_params"]:
        raise SystemExit("feature parameters changed since training: retrain (narrowband.py final)")
    dummy = torch.from_numpy(tel.clip(0)[:75].copy())[None]
    meta = {
        "emotiondetect.format": "1",
        "emotiondetect.labels": ",".join(common.LABELS),
        "emotiondetect.features": params_json,
        "emotiondetect.evaluation": evaluation_metadata(info),
        "emotiondetect.licence": export16.LICENCE,
    }
    doc = (
        f"ResLSTM-SA (hidden {model.hidden}, {count_parameters(model)} parameters) speech emotion recognition "
        "for 8 kHz narrowband (telephone) audio, for the emotiondetect GStreamer element. Input 'features' "
        "[batch, time, 46]: raw per-frame features of `emotiondetect-features --narrowband` (34 MFCC + 12 "
        "chroma, 8 kHz, 80 ms frames, 40 ms hop, mel bands to 4 kHz; normalisation is inside the graph). "
        "Outputs 'probabilities' [batch, 8] (softmax over "
        f"{','.join(common.LABELS)}) and 'attention' [batch, time]. Trained on RAVDESS speech degraded to "
        f"telephone audio (G.711, 300-3400 Hz, noise, packet loss); licence {export16.LICENCE}, "
        "non-commercial. See models/MODEL_CARD.md."
    )
    export16.write_onnx(model, dummy, ONNX_8K, meta, doc, "emotiondetect models/training/narrowband.py")
    saved = common.PARITY_PATH
    common.PARITY_PATH = PARITY_8K  # export16.write_parity writes to common.PARITY_PATH
    try:
        parity = export16.write_parity(model, tel)
    finally:
        common.PARITY_PATH = saved
    v = export16.verify(ONNX_8K, model, tel)
    v.update({"onnx": str(ONNX_8K.relative_to(common.REPO_DIR)), "onnx_bytes": ONNX_8K.stat().st_size,
              "parity": str(PARITY_8K.relative_to(common.REPO_DIR)), "parity_bytes": PARITY_8K.stat().st_size,
              "parity_frames": [p["frames"] for p in parity], "opset": export16.OPSET,
              "n_parameters": count_parameters(model), "features_params": json.loads(params_json)})
    (NB_RESULTS / "export.json").write_text(json.dumps(v, indent=1))
    print(json.dumps(v, indent=1))
    return v


def cmd_export(args) -> None:
    setup_torch()
    export_8k()


# ---------------------------------------------------------------------------
# evaluation


def load_model(state_path: Path, cfg: dict) -> ResLSTMSA:
    model = ResLSTMSA(46, cfg["hidden"], common.N_CLASSES, cfg["dropout"])
    state = torch.load(state_path, weights_only=True)
    if "temperature" in model.state_dict() and "temperature" not in state:
        state["temperature"] = torch.ones(())  # checkpoint from before temperature scaling
    model.load_state_dict(state)
    return model.eval()


def score(model, fs, te, rec: dict) -> dict:
    p_clip = evaluation.predict_clips(model, fs, te)
    p_elem, wstats = evaluation.predict_element(model, fs, te)
    return {"fold": rec["fold"], "seed": rec["seed"], "y": fs.emotion[te].tolist(),
            "probs_clip": p_clip, "probs_element": p_elem, "element_windows": wstats}


def summarise_condition(runs: list[dict], desc: str) -> dict:
    out = {"description": desc,
           "clip": evaluation.summarise(runs, "clip"),
           "element": evaluation.summarise(runs, "element"),
           "element_decided": evaluation.summarise(runs, "element", only_decided=True),
           "element_windows": {k: int(sum(r["element_windows"][k] for r in runs))
                               for k in ("windows", "skipped_silent", "clips_all_silent")}}
    return out


def wait_for_wideband(timeout: float) -> bool:
    res = common.RESULTS_DIR / WIDEBAND_TAG / "summary.json"
    t0 = time.time()
    while True:
        recs = sorted((common.RESULTS_DIR / WIDEBAND_TAG).glob("fold*_seed*.json"))
        if res.exists() and recs and all((common.CHECKPOINT_DIR / WIDEBAND_TAG / (f.stem + ".pt")).exists()
                                         for f in recs):
            return True
        if time.time() - t0 >= timeout:
            return False
        print(f"waiting for {WIDEBAND_TAG} checkpoints ({time.time() - t0:.0f} s)...", flush=True)
        time.sleep(60)


def fmt(s: dict) -> str:
    rec = " ".join(f"{l[:4]} {r:.2f}" for l, r in zip(common.LABELS, s["recall_pooled_all"]))
    return (f"UAR {s['uar_mean']:.4f} ± {s['uar_std']:.4f} (runs; folds {s['uar_std_over_folds']:.4f}, "
            f"seeds {s['uar_std_over_seeds']:.4f}) pooled {s['pooled_uar_mean']:.4f}; acc "
            f"{s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}; coverage {s['coverage']:.3f}\n      recall {rec}")


def cmd_evaluate(args) -> None:
    setup_torch()
    out: dict = {"element_silence_dbfs": ELEMENT_SILENCE_DBFS, "conditions": {}}
    # (1) the 8 kHz CV models
    res_dir, ck_dir = common.RESULTS_DIR / CV_TAG, common.CHECKPOINT_DIR / CV_TAG
    files = sorted(res_dir.glob("fold*_seed*.json"))
    if not files:
        raise SystemExit(f"no runs in {res_dir}; `narrowband.py cv` trains them")
    conds = {c: load_condition(c) for c in ("tel", "telnoisy", "clean8")}
    runs = {c: [] for c in conds}
    worst = 0.0
    for f in tqdm(files, desc="8 kHz CV models"):
        rec = json.loads(f.read_text())
        ck = ck_dir / (f.stem + ".pt")
        if not ck.exists():
            raise SystemExit(f"{ck} missing; `narrowband.py cv --force` retrains it")
        if rec["features_sha256"] != conds["tel"].feats_sha256:
            print(f"WARNING: {f.name} was trained on different features", file=sys.stderr)
        model = load_model(ck, rec["config"])
        for c, fs in conds.items():
            te = fs.indices(rec["test_actors"])
            assert [str(n) for n in fs.names[te]] == rec["test_names"]
            r = score(model, fs, te, rec)
            if c == "tel":
                worst = max(worst, float(np.abs(r["probs_clip"] - np.asarray(rec["probs_clip"])).max()),
                            float(np.abs(r["probs_element"] - np.asarray(rec["probs_element"])).max()))
            runs[c].append(r)
    out["max_abs_diff_vs_training_record"] = worst
    for c in conds:
        out["conditions"][f"nb_{c}"] = summarise_condition(runs[c], f"8 kHz model, test audio: {CONDITIONS[c][1]}")
    # (2) the 16 kHz CV models on telephone audio (and on clean audio, same silence threshold)
    if wait_for_wideband(args.wait_wideband):
        wb_res, wb_ck = common.RESULTS_DIR / WIDEBAND_TAG, common.CHECKPOINT_DIR / WIDEBAND_TAG
        tel16, up16 = load_condition("tel16"), load_condition("clean8up16")
        clean16 = features.build_or_load(progress=False)
        assert np.array_equal(tel16.names, clean16.names) and np.array_equal(up16.names, clean16.names)
        wconds = {"wb_tel16": tel16, "wb_clean8up16": up16, "wb_clean16": clean16}
        wruns = {c: [] for c in wconds}
        for f in tqdm(sorted(wb_res.glob("fold*_seed*.json")), desc="16 kHz CV models"):
            rec = json.loads(f.read_text())
            if rec["features_sha256"] != clean16.feats_sha256:
                print(f"WARNING: {WIDEBAND_TAG}/{f.name} was trained on different 16 kHz features than the "
                      "extractor now computes", file=sys.stderr)
            model = load_model(wb_ck / (f.stem + ".pt"), rec["config"])
            for c, fs in wconds.items():
                te = fs.indices(rec["test_actors"])
                assert [str(n) for n in fs.names[te]] == rec["test_names"]
                wruns[c].append(score(model, fs, te, rec))
        out["conditions"]["wb_tel16"] = summarise_condition(
            wruns["wb_tel16"], f"16 kHz model ({WIDEBAND_TAG}), test audio: {CONDITIONS['tel16'][1]}")
        out["conditions"]["wb_clean8up16"] = summarise_condition(
            wruns["wb_clean8up16"], f"16 kHz model ({WIDEBAND_TAG}), test audio: {CONDITIONS['clean8up16'][1]}")
        out["conditions"]["wb_clean16"] = summarise_condition(
            wruns["wb_clean16"], f"16 kHz model ({WIDEBAND_TAG}), test audio: the original 16 kHz clips")
        out["wideband_config"] = json.loads(f.read_text())["config"]
    else:
        out["wideband_skipped"] = f"no complete {WIDEBAND_TAG} checkpoints after {args.wait_wideband:.0f} s"
        print(out["wideband_skipped"])
    NB_RESULTS.mkdir(parents=True, exist_ok=True)
    path = NB_RESULTS / "evaluation.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"8 kHz CV: {len(files)} runs; max |p - recorded| = {worst:.2g}; silence threshold "
          f"{ELEMENT_SILENCE_DBFS} dBFS")
    for name, c in out["conditions"].items():
        print(f"[{name}] {c['description']}")
        print("   per clip: " + fmt(c["clip"]))
        print("   element:  " + fmt(c["element"]))
    print(f"wrote {path.relative_to(common.REPO_DIR)}")


# ---------------------------------------------------------------------------
# self-checks


def cmd_check(args) -> None:
    codes = np.arange(256, dtype=np.uint8)
    mu_ok = codes[codes != 0x7F]  # 0x7F is mu-law's "negative zero", decoded to 0 and re-encoded as 0xFF
    assert np.array_equal(mulaw_encode(mulaw_decode(mu_ok)), mu_ok), "mu-law round trip"
    assert np.array_equal(alaw_encode(alaw_decode(codes)), codes), "A-law round trip"
    lv = np.sort(np.unique(mulaw_decode(codes)))
    la = np.sort(np.unique(alaw_decode(codes)))
    print(f"G.711 round trip ok: mu-law {lv.size} levels, max {lv.max() * 32768:.0f}/32768; "
          f"A-law {la.size} levels, max {la.max() * 32768:.0f}/32768")
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    for law in ("mu", "a"):
        for amp_db in (-6, -20, -40):
            x = 10 ** (amp_db / 20) * np.sin(2 * np.pi * 1004 * t + rng.uniform(0, 6))
            e = g711(x, law) - x
            print(f"  {law:2s}-law 1004 Hz sine at {amp_db:3d} dBFS: SNR {10 * np.log10(np.mean(x**2) / np.mean(e**2)):.1f} dB")
    w, h = signal.sosfreqz(BP_SOS, worN=[100, 300, 1000, 3400, 3800], fs=SR)
    print("band-pass gain (dB) at " + ", ".join(f"{f:.0f} Hz {20 * np.log10(abs(g)):.1f}" for f, g in zip(w, h)))
    x16 = features.load_audio(common.list_clips()[0])
    y, info = telephone_augmented(x16, np.random.default_rng([AUG_SEED, 1, 0, 1]))
    print(f"augmented clip 0: {info}")
    # window features sliced from whole-clip features == extractor output on the window's samples
    fs = load_condition("tel")
    picks = np.random.default_rng(0).choice(len(fs), size=12, replace=False)
    worst, n_win = 0.0, 0
    clips = common.list_clips()
    with NarrowbandExtractor() as ex:
        for i in picks:
            y = telephone(features.load_audio(clips[i]), law_of(int(i)))
            assert y.size == fs.n_samples[i]
            for s, n, j0, j1, _ in fs.windows(int(i)):
                direct, sliced = ex.compute(y[s : s + n]), fs.clip(int(i))[j0:j1]
                assert direct.shape == sliced.shape, (direct.shape, sliced.shape)
                worst = max(worst, float(np.abs(direct - sliced).max()) if direct.size else 0.0)
                n_win += 1
    print(f"8 kHz window features: {n_win} windows, max |sliced - direct| = {worst:.3g}")


def cmd_features(args) -> None:
    for c in CONDITIONS:
        fs = load_condition(c)
        lens = np.diff(fs.offsets)
        print(f"{c:9s} {fs.cache_path.name}: {len(fs)} clips, {fs.feats.shape[0]} frames, frames/clip "
              f"{lens.min()}..{lens.max()}, {len(fs.win_clip)} windows, "
              f"{int(np.sum(fs.win_rms_db < ELEMENT_SILENCE_DBFS))} below {ELEMENT_SILENCE_DBFS} dBFS")
    print(json.dumps(augmentation_stats([load_condition(f"aug{v}") for v in range(1, K_AUG + 1)])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="self-checks of the simulation and of window slicing")
    sub.add_parser("features", help="simulate and extract every condition (cached)")
    cv = sub.add_parser("cv", help="5-fold speaker-independent CV of the 8 kHz model")
    cv.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    cv.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    cv.add_argument("--force", action="store_true")
    cv.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    fi = sub.add_parser("final", help="train the shipped 8 kHz model and export it")
    fi.add_argument("--seed", type=int, default=0)
    fi.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    sub.add_parser("export", help="export models/reslstm-sa-8k.onnx and the parity fixture")
    ev = sub.add_parser("evaluate", help="recompute the figures from the checkpoints")
    ev.add_argument("--wait-wideband", type=float, default=0.0, metavar="SECONDS",
                    help=f"wait up to this long for the {WIDEBAND_TAG} checkpoints (polling every 60 s)")
    args = ap.parse_args()
    {"check": cmd_check, "features": cmd_features, "cv": cmd_cv, "final": cmd_final, "export": cmd_export,
     "evaluate": cmd_evaluate}[args.cmd](args)


if __name__ == "__main__":
    main()
