"""Feature extraction for training, using the element's own Rust extractor.

The features the model is trained on must be bit-for-bit the ones the
GStreamer element computes, so this module never computes features itself: it
decodes the FLAC clips with soundfile and pipes the samples through the
`emotiondetect-features` binary built from this crate:

    cargo build --release --bin emotiondetect-features

Protocol of the binary (one process serves all clips):
  request : u32 LE n_samples, then n_samples f32 LE samples (16 kHz mono)
  reply   : u32 LE n_frames, u32 LE n_features, n_frames*n_features f32 LE
            (frame-major), frames not centred: frame j covers samples
            [j*hop, j*hop + n_fft)
`--print-params` prints the feature parameters as JSON.

The result is cached in models/.cache/features-<key>.npz, where <key> hashes
the params JSON, the binary's content and the list of clips, so rebuilding the
extractor with different code invalidates the cache.

Usage:
    python3 models/training/features.py            # build / load the cache
    python3 models/training/features.py --check    # also verify that window
        # features sliced from whole-clip features equal the extractor's
        # output on the window's samples (the element-window evaluation relies
        # on this)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CACHE_FORMAT = 1


def _read_exact(stream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            raise EOFError(f"extractor closed its output after {len(buf)} of {n} bytes")
        buf.extend(chunk)
    return bytes(buf)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Extractor:
    """Client of the `emotiondetect-features` binary."""

    def __init__(self, path: Path | str = common.EXTRACTOR):
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"{self.path} not found; build it with "
                "`cargo build --release --bin emotiondetect-features`"
            )
        self.proc: subprocess.Popen | None = None

    def params_json(self) -> str:
        """The exact text printed by `--print-params` (stripped)."""
        out = subprocess.run(
            [str(self.path), "--print-params"], check=True, capture_output=True, text=True
        ).stdout.strip()
        json.loads(out)  # must be valid JSON
        return out

    def params(self) -> dict:
        return json.loads(self.params_json())

    def __enter__(self) -> "Extractor":
        self.proc = subprocess.Popen(
            [str(self.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            rc = self.proc.wait(timeout=60)
            self.proc.stdout.close()
            self.proc = None
            if rc != 0:
                raise RuntimeError(f"extractor exited with status {rc}")

    def compute(self, samples: np.ndarray) -> np.ndarray:
        """Features [n_frames, n_features] (float32) of mono 16 kHz samples."""
        assert self.proc is not None, "use `with Extractor() as ex:`"
        x = np.ascontiguousarray(samples, dtype="<f4").reshape(-1)
        self.proc.stdin.write(struct.pack("<I", x.size) + x.tobytes())
        self.proc.stdin.flush()
        n_frames, n_feat = struct.unpack("<II", _read_exact(self.proc.stdout, 8))
        data = _read_exact(self.proc.stdout, 4 * n_frames * n_feat)
        return np.frombuffer(data, dtype="<f4").reshape(n_frames, n_feat).astype(np.float32)


def load_audio(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != common.SAMPLE_RATE:
        raise ValueError(f"{path}: sample rate {sr}, expected {common.SAMPLE_RATE}")
    return x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]


def window_starts(n_samples: int) -> list[tuple[int, int]]:
    """(start, length) of the element's analysis windows over a clip.

    3 s windows every 1 s while start + 3 s <= n_samples; a clip shorter than
    3 s is a single window covering the whole clip.
    """
    if n_samples < common.WINDOW_SAMPLES:
        return [(0, n_samples)]
    out = []
    s = 0
    while s + common.WINDOW_SAMPLES <= n_samples:
        out.append((s, common.WINDOW_SAMPLES))
        s += common.WINDOW_STEP
    return out


def window_frames(start: int, length: int, hop: int, n_fft: int) -> tuple[int, int]:
    """Half-open frame range [j0, j1) of frames lying inside [start, start+length).

    Frame j covers samples [j*hop, j*hop + n_fft) (frames are not centred).
    """
    j0 = -(-start // hop)  # ceil
    last = (start + length - n_fft) // hop  # floor, may be < j0
    return j0, max(j0, last + 1)


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to amplitude 1.0 (-inf for digital silence)."""
    ms = float(np.mean(np.square(x.astype(np.float64)))) if x.size else 0.0
    return 10.0 * np.log10(ms) if ms > 0 else float("-inf")


@dataclass
class FeatureSet:
    names: np.ndarray  # [n_clips] str
    actor: np.ndarray  # [n_clips] int
    emotion: np.ndarray  # [n_clips] int, index into common.LABELS
    intensity: np.ndarray  # [n_clips] int
    n_samples: np.ndarray  # [n_clips] int
    offsets: np.ndarray  # [n_clips + 1] int, frame offsets into feats
    feats: np.ndarray  # [total_frames, n_features] float32
    win_clip: np.ndarray  # [n_windows] clip index
    win_start: np.ndarray  # [n_windows] start sample
    win_len: np.ndarray  # [n_windows] length in samples
    win_rms_db: np.ndarray  # [n_windows] RMS of the raw samples, dBFS
    params_json: str
    extractor_sha256: str
    cache_path: Path | None = None

    @property
    def feats_sha256(self) -> str:
        """Hash of the feature values (identical features from a rebuilt extractor hash the same)."""
        return hashlib.sha256(np.ascontiguousarray(self.feats, dtype="<f4").tobytes()).hexdigest()

    @property
    def params(self) -> dict:
        return json.loads(self.params_json)

    @property
    def n_features(self) -> int:
        return int(self.feats.shape[1])

    def __len__(self) -> int:
        return len(self.names)

    def clip(self, i: int) -> np.ndarray:
        return self.feats[self.offsets[i] : self.offsets[i + 1]]

    def n_frames(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def indices(self, actors) -> np.ndarray:
        return np.flatnonzero(np.isin(self.actor, list(actors)))

    def windows(self, i: int) -> list[tuple[int, int, int, int, float]]:
        """Element windows of clip i: (start, length, j0, j1, rms_db)."""
        p = self.params
        hop, n_fft = int(p["hop_length"]), int(p["n_fft"])
        out = []
        for w in np.flatnonzero(self.win_clip == i):
            s, n = int(self.win_start[w]), int(self.win_len[w])
            j0, j1 = window_frames(s, n, hop, n_fft)
            j1 = min(j1, self.n_frames(i))
            out.append((s, n, j0, j1, float(self.win_rms_db[w])))
        return out


def cache_key(params_json: str, extractor_sha: str, clips: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(f"cache-format {CACHE_FORMAT}\n".encode())
    h.update(params_json.encode())
    h.update(extractor_sha.encode())
    for c in clips:
        h.update(f"{c.name} {c.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


def build_or_load(
    extractor_path: Path | str = common.EXTRACTOR,
    data_dir: Path = common.DATA_DIR,
    cache_dir: Path = common.CACHE_DIR,
    progress: bool = True,
) -> FeatureSet:
    ex = Extractor(extractor_path)
    params_json = ex.params_json()
    params = json.loads(params_json)
    if int(params["sample_rate"]) != common.SAMPLE_RATE:
        raise ValueError(f"extractor sample_rate {params['sample_rate']} != {common.SAMPLE_RATE}")
    ex_sha = sha256_file(ex.path)
    clips = common.list_clips(data_dir)
    key = cache_key(params_json, ex_sha, clips)
    path = Path(cache_dir) / f"features-{key}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return FeatureSet(
            names=z["names"], actor=z["actor"], emotion=z["emotion"], intensity=z["intensity"],
            n_samples=z["n_samples"], offsets=z["offsets"], feats=z["feats"],
            win_clip=z["win_clip"], win_start=z["win_start"], win_len=z["win_len"],
            win_rms_db=z["win_rms_db"], params_json=str(z["params_json"]),
            extractor_sha256=str(z["extractor_sha256"]), cache_path=path,
        )

    from tqdm import tqdm

    names, actor, emotion, intensity, n_samples, feats = [], [], [], [], [], []
    win_clip, win_start, win_len, win_rms = [], [], [], []
    n_feat_expected = int(params.get("n_features", 0)) or None
    with ex:
        for i, c in enumerate(tqdm(clips, desc="features", disable=not progress)):
            meta = common.parse_name(c.name)
            x = load_audio(c)
            f = ex.compute(x)
            if n_feat_expected is not None and f.shape[1] != n_feat_expected:
                raise ValueError(f"{c.name}: {f.shape[1]} features, params say {n_feat_expected}")
            names.append(c.name)
            actor.append(meta["actor"])
            emotion.append(meta["emotion"])
            intensity.append(meta["intensity"])
            n_samples.append(x.size)
            feats.append(f)
            for s, n in window_starts(x.size):
                win_clip.append(i)
                win_start.append(s)
                win_len.append(n)
                win_rms.append(rms_dbfs(x[s : s + n]))
    offsets = np.concatenate([[0], np.cumsum([f.shape[0] for f in feats])]).astype(np.int64)
    fs = FeatureSet(
        names=np.array(names), actor=np.array(actor, dtype=np.int64),
        emotion=np.array(emotion, dtype=np.int64), intensity=np.array(intensity, dtype=np.int64),
        n_samples=np.array(n_samples, dtype=np.int64), offsets=offsets,
        feats=np.concatenate(feats).astype(np.float32),
        win_clip=np.array(win_clip, dtype=np.int64), win_start=np.array(win_start, dtype=np.int64),
        win_len=np.array(win_len, dtype=np.int64), win_rms_db=np.array(win_rms, dtype=np.float64),
        params_json=params_json, extractor_sha256=ex_sha, cache_path=path,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")  # unique per process
    np.savez_compressed(
        tmp, names=fs.names, actor=fs.actor, emotion=fs.emotion, intensity=fs.intensity,
        n_samples=fs.n_samples, offsets=fs.offsets, feats=fs.feats, win_clip=fs.win_clip,
        win_start=fs.win_start, win_len=fs.win_len, win_rms_db=fs.win_rms_db,
        params_json=np.array(params_json), extractor_sha256=np.array(ex_sha),
    )
    tmp.replace(path)
    return fs


def check_windows(fs: FeatureSet, extractor_path, data_dir: Path, n_clips: int = 12) -> float:
    """Max abs difference between sliced and directly-computed window features."""
    rng = np.random.default_rng(0)
    picks = rng.choice(len(fs), size=min(n_clips, len(fs)), replace=False)
    worst = 0.0
    with Extractor(extractor_path) as ex:
        for i in picks:
            name = str(fs.names[i])
            x = load_audio(Path(data_dir) / f"Actor_{int(fs.actor[i]):02d}" / name)
            assert x.size == fs.n_samples[i]
            for s, n, j0, j1, _ in fs.windows(int(i)):
                direct = ex.compute(x[s : s + n])
                sliced = fs.clip(int(i))[j0:j1]
                if direct.shape != sliced.shape:
                    raise AssertionError(f"{name} window {s}: {direct.shape} vs {sliced.shape}")
                worst = max(worst, float(np.max(np.abs(direct - sliced))) if direct.size else 0.0)
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extractor", default=str(common.EXTRACTOR))
    ap.add_argument("--data", default=str(common.DATA_DIR))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    fs = build_or_load(args.extractor, Path(args.data))
    lens = np.diff(fs.offsets)
    print(f"cache: {fs.cache_path}")
    print(f"params: {fs.params_json}")
    print(
        f"{len(fs)} clips, {fs.feats.shape[0]} frames x {fs.n_features} features; "
        f"frames per clip min {lens.min()} median {int(np.median(lens))} max {lens.max()}; "
        f"{len(fs.win_clip)} element windows, {int(np.sum(fs.win_rms_db < common.SILENCE_DBFS))} "
        f"below {common.SILENCE_DBFS} dBFS"
    )
    if not np.all(np.isfinite(fs.feats)):
        raise SystemExit("non-finite features!")
    if args.check:
        d = check_windows(fs, args.extractor, Path(args.data))
        print(f"window features: max |sliced - direct| = {d:.3g}")


if __name__ == "__main__":
    main()
