# SPDX-License-Identifier: MPL-2.0
"""Features of every clip under every condition, from the project's own extractor, cached.

The features the models see must be bit for bit those the element computes,
so nothing here computes features: the audio (degraded as a condition says)
is piped through `emotiondetect-features --pitch` (16 kHz set) or
`emotiondetect-features --narrowband --pitch --remove-dc` (8 kHz set; each
rate's options are its recipe's, `train.front_end`), always with `--speech`.
Protocol of the binary: request u32 LE n_samples + n_samples f32 LE; reply
u32 LE n_frames, u32 LE n_features, the frames (f32 LE, frame-major), then
one byte per frame: 1 where the element's voice-activity detector judges it
speech (the frames speaker adaptation learns from, adapt.py).
`EMOTIONDETECT_FEATURES` points at the binary.

A `Bank` holds the features of one group of clips (ravdess, emodb,
ns-train, ns-val, ns-test) under one condition at one rate, their speech
flags, plus the element
windows of each clip (windows.py) with their RMS. Banks are cached in
models/.cache/bank-*.npz, keyed by the extractor's hash and parameters, the
clip list and the source of the audio code (channel.py, nonspeech.py, and
impulses.py and alerts.py for the non-speech groups; not this file: see `audio_for`).

Conditions (`audio_for`):
  clean           16 kHz: the clip; 8 kHz: the deterministic telephone channel
                  (G.711 mu-law for even clip index, A-law for odd)
  aug1..aug3      training copies: channel.augment (speed, reverb, noise incl.
                  babble of other speakers, EQ, band, gain); at 8 kHz then the
                  telephone channel with a random law and 3 % packet loss
  augbab1, augmix1  ablations, not in the recipe (`audio_for`): more babble,
                  on top of the copy's noise or in place of some of it
  augvt1          an ablation: aug1 after a voice perturbation (voice.py:
                  pitch and spectral envelope moved independently)
  augimp1..3      an ablation: augN with impulsive sounds on top (impulses.py:
                  typing, clicks, knocks, tapping, percussion; p 0.5)
  white/babble{20,10,5}, reverb   test conditions (independent seeds)
  tel16           (16 kHz only) the telephone signal upsampled back to 16 kHz

    python3 -m training.extract --rate 16000      # build every bank (minutes, cached)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import struct
import subprocess
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from . import adapt, alerts, channel, common, impulses, nonspeech, voice, windows

CACHE_FORMAT = 7
# the extractor's `--speech` byte per frame (core/src/bin/emotiondetect-features.rs): the detector's verdict
# (core/src/vad.rs Frame)
QUIET, SPEECH, NOISY, STEADY, TONAL, OUT_OF_BAND, STEADY_NOISE = 0, 1, 2, 3, 4, 5, 6
AUG_SEED = 1616
K_AUG = 3
TRAIN_CONDITIONS = ["clean"] + [f"aug{v}" for v in range(1, K_AUG + 1)]
TEST_CONDITIONS = ["white20", "white10", "white5", "babble20", "babble10", "babble5", "reverb"]
NS_SECONDS = {"ns-train": 5.0, "ns-val": 5.0, "ns-test": 8.0}
NS_COUNT = {"ns-train": 480, "ns-val": 96, "ns-test": 120}
# real-score clips (nonspeech.score_clip) after the generated ones: indices NS_COUNT.. of the group
NS_SCORES = {"ns-train": 240, "ns-val": 48, "ns-test": 0}
# impulsive clips (impulses.py: typing, clicks, knocks, percussion) after the real scores: indices
# NS_COUNT + NS_SCORES.. of the group
NS_IMPULSES = {"ns-train": 120, "ns-val": 24, "ns-test": 40}
# ringing and alert clips (alerts.py: ringers, ring tones, chimes, alarms, buzzers) after the impulsive ones
NS_ALERTS = {"ns-train": 120, "ns-val": 24, "ns-test": 40}
GROUPS = ("ravdess", "emodb", "ns-train", "ns-val", "ns-test")
# The MFCC and chroma the extractor computes at both rates; a run may train on fewer (`subset`).
N_MFCC, N_CHROMA = 34, 12
CORPUS_ID = {"ravdess": 1, "emodb": 2, "ns-train": 3, "ns-val": 4, "ns-test": 5}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_exact(stream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = stream.read(n - len(buf))
        if not chunk:
            raise EOFError(f"extractor closed its output after {len(buf)} of {n} bytes")
        buf.extend(chunk)
    return bytes(buf)


class Extractor:
    """Client of `emotiondetect-features` at 16 kHz or (`rate=8000`) `--narrowband`, with `--pitch` and
    `--remove-dc` unless `pitch=False` or `remove_dc=False` (the features of earlier models, for ablations)."""

    def __init__(self, rate: int = 16000, path: Path | str = common.EXTRACTOR, pitch: bool = True,
                 remove_dc: bool = True, n_mfcc: int = N_MFCC, n_chroma: int = N_CHROMA):
        if is_subset(n_mfcc, n_chroma):
            raise ValueError(f"emotiondetect-features computes {N_MFCC} MFCC and {N_CHROMA} chroma: features "
                             f"with {n_mfcc} and {n_chroma} exist only as training banks (extract.subset), so "
                             "a run on them cannot be exported or run through the element from here")
        self.path, self.rate = Path(path), rate
        self.args = ((["--narrowband"] if rate == 8000 else []) + (["--pitch"] if pitch else [])
                     + (["--remove-dc"] if remove_dc else []) + ["--speech"])
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} not found: set EMOTIONDETECT_FEATURES or "
                                    "`cargo build --release -p emotiondetect-core --features features-cli --bin emotiondetect-features`")
        self.proc = None

    def params_json(self) -> str:
        out = subprocess.run([str(self.path), *self.args[:-1], "--print-params"], check=True, capture_output=True,
                             text=True).stdout.strip()
        if int(json.loads(out)["sample_rate"]) != self.rate:
            raise ValueError(f"extractor sample_rate is not {self.rate}: {out}")
        return out

    def __enter__(self) -> "Extractor":
        self.proc = subprocess.Popen([str(self.path), *self.args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     bufsize=0)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            rc = self.proc.wait(timeout=60)
            self.proc.stdout.close()
            self.proc = None
            if rc != 0:
                raise RuntimeError(f"extractor exited with status {rc}")

    def compute(self, samples: np.ndarray) -> np.ndarray:
        return self.compute_with_speech(samples)[0]

    def compute_with_speech(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames [n, n_features] and their speech flags [n] (bool)."""
        f, kinds = self.compute_with_kinds(samples)
        return f, kinds == SPEECH

    def compute_with_kinds(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Frames [n, n_features] and the detector's verdict on each [n] (uint8: QUIET, SPEECH, ...)."""
        x = np.ascontiguousarray(samples, dtype="<f4").reshape(-1)
        self.proc.stdin.write(struct.pack("<I", x.size) + x.tobytes())
        self.proc.stdin.flush()
        n_frames, n_feat = struct.unpack("<II", _read_exact(self.proc.stdout, 8))
        data = _read_exact(self.proc.stdout, 4 * n_frames * n_feat)
        kinds = np.frombuffer(_read_exact(self.proc.stdout, n_frames), dtype=np.uint8)
        return np.frombuffer(data, dtype="<f4").reshape(n_frames, n_feat).astype(np.float32), kinds.copy()


@dataclass
class Bank:
    group: str
    condition: str
    rate: int
    names: np.ndarray
    offsets: np.ndarray
    feats: np.ndarray
    kinds: np.ndarray  # [frames] uint8: the element's VAD verdict per frame (QUIET, SPEECH, ...)
    n_samples: np.ndarray
    win_clip: np.ndarray
    win_start: np.ndarray
    win_len: np.ndarray
    win_db: np.ndarray
    params_json: str
    extractor_sha256: str
    info: list = field(default_factory=list)
    path: Path | None = None
    _speech_stats: list | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.names)

    def clip(self, i: int) -> np.ndarray:
        return self.feats[self.offsets[i]:self.offsets[i + 1]]

    def clip_kinds(self, i: int) -> np.ndarray:
        return self.kinds[self.offsets[i]:self.offsets[i + 1]]

    def clip_speech(self, i: int) -> np.ndarray:
        """Clip i's speech flags (the frames speaker adaptation learns from)."""
        return self.clip_kinds(i) == SPEECH

    def speech_stats(self) -> list:
        """Each clip's speech statistics (adapt.Stats), computed once."""
        if self._speech_stats is None:
            self._speech_stats = [adapt.Stats.of(self.clip(i), self.clip_speech(i)) for i in range(len(self))]
        return self._speech_stats

    def n_frames(self, i: int) -> int:
        return int(self.offsets[i + 1] - self.offsets[i])

    def windows(self, i: int) -> list[tuple[int, int, int, int, float]]:
        """(start, length, j0, j1, rms dBFS) of clip i's element windows."""
        p = json.loads(self.params_json)
        hop, n_fft = int(p["hop_length"]), int(p["n_fft"])
        lo, hi = np.searchsorted(self.win_clip, [i, i + 1])
        out = []
        for w in range(lo, hi):
            s, n = int(self.win_start[w]), int(self.win_len[w])
            j0, j1 = windows.window_frames(s, n, hop, n_fft)
            out.append((s, n, j0, min(j1, self.n_frames(i)), float(self.win_db[w])))
        return out

    @property
    def feats_sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.feats, dtype="<f4").tobytes()).hexdigest()


# ---------------------------------------------------------------------------
# clips of each group


def ns_earlier(group: str) -> range:
    """The earlier clips of a non-speech group (generated and real scores), which every non-speech figure before
    the impulsive clips was measured on; the impulsive clips (NS_IMPULSES, `ns_impulses`) follow them and are
    counted apart."""
    return range(NS_COUNT[group] + NS_SCORES[group])


def ns_impulses(group: str) -> range:
    """The impulsive clips of a non-speech group (impulses.py)."""
    n = ns_earlier(group).stop
    return range(n, n + NS_IMPULSES[group])


def ns_alerts(group: str) -> range:
    """The ringing and alert clips of a non-speech group (alerts.py), after the impulsive ones."""
    n = ns_impulses(group).stop
    return range(n, n + NS_ALERTS[group])


def clips_of(group: str) -> list[common.Clip]:
    if group == "ravdess":
        return common.list_ravdess()
    if group == "emodb":
        return common.list_emodb()
    n = ns_alerts(group).stop
    return [common.Clip(Path(f"{group}/{i:04d}"), "nonspeech", 0, common.NON_SPEECH, -1) for i in range(n)]


_NS_CACHE: dict[str, tuple[list[np.ndarray], list[dict]]] = {}


def _save_npz(path: Path, **arrays) -> None:
    """Writes a cache file whole or not at all: through a temporary file of this process (two runs may build one
    file at once), renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def nonspeech_audio(group: str) -> tuple[list[np.ndarray], list[dict]]:
    """Generated non-speech clips of a group (cached in models/.cache/nonspeech-<group>-<hash>.npz)."""
    if group in _NS_CACHE:
        return _NS_CACHE[group]
    h = hashlib.sha256(_source(nonspeech) + _source(channel) + _source(impulses) + _source(alerts))
    h.update(f"{group} {NS_COUNT[group]} {NS_SCORES[group]} {NS_IMPULSES[group]} {NS_ALERTS[group]} "
             f"{NS_SECONDS[group]}".encode())
    path = common.CACHE_DIR / f"nonspeech-{group}-{h.hexdigest()[:16]}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        off, audio = z["offsets"], z["audio"]  # z[...] decompresses on every access: read once
        clips = [audio[off[i]:off[i + 1]].astype(np.float64) for i in range(len(off) - 1)]
        info = json.loads(str(z["info"]))
    else:
        from tqdm import tqdm

        clips, info = [], []
        split = group.split("-")[1]
        earlier, impulsive = ns_earlier(group).stop, ns_impulses(group).stop
        for i in tqdm(range(ns_alerts(group).stop), desc=f"generate {group}"):
            if i >= impulsive:
                x, d = alerts.clip(split, i - impulsive, NS_SECONDS[group])
            elif i >= earlier:
                x, d = impulses.clip(split, i - earlier, NS_SECONDS[group])
            elif split == "test":
                x, d = nonspeech.test_clip(i, NS_SECONDS[group])
            elif i < NS_COUNT[group]:
                x, d = nonspeech.generate(split, i, NS_SECONDS[group])
            else:
                x, d = nonspeech.score_clip(split, i - NS_COUNT[group], NS_SECONDS[group])
            clips.append(x)
            info.append(d)
        off = np.concatenate([[0], np.cumsum([c.size for c in clips])])
        _save_npz(path, audio=np.concatenate(clips).astype(np.float32), offsets=off, info=np.array(json.dumps(info)))
    _NS_CACHE[group] = (clips, info)
    return clips, info


class Audio:
    """The 16 kHz audio of a group's clips, loaded on demand and kept."""

    def __init__(self, group: str):
        self.group, self.clips = group, clips_of(group)
        self._cache: dict[int, np.ndarray] = {}
        if group.startswith("ns-"):
            audio, _ = nonspeech_audio(group)
            self._cache = dict(enumerate(audio))

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self._cache:
            x, sr = sf.read(str(self.clips[i].path), dtype="float64", always_2d=True)
            if sr != 16000:
                raise ValueError(f"{self.clips[i].path}: {sr} Hz, expected 16000")
            self._cache[i] = x.mean(axis=1)
        return self._cache[i]

    def babble_talkers(self, i: int, rng: np.random.Generator, k: int = 4) -> list[np.ndarray]:
        """k utterances of OTHER speakers of clip i's group (the speakers its CV fold tests with it).

        Those speakers are never training speakers in a fold where clip i is
        not, so babble never brings a test speaker's voice into training.
        """
        c = self.clips[i]
        if c.corpus == "nonspeech":
            return []
        pool = [j for j, o in enumerate(self.clips) if o.group == c.group and o.speaker != c.speaker]
        return [self[int(j)] for j in rng.choice(pool, size=min(k, len(pool)), replace=False)]


def audio_for(audio: Audio, i: int, condition: str, rate: int) -> tuple[np.ndarray, dict]:
    """Clip i of a group under a condition, at the model's rate."""
    x = audio[i]
    cid = CORPUS_ID[audio.group]
    law = "mu" if i % 2 == 0 else "a"
    if condition == "clean":
        if rate == 8000:
            return channel.telephone(x, law), {"law": law}
        return x, {}
    if condition.startswith("aug"):
        # augbabN, an ablation (not in the shipped recipe): an augmented copy drawn like augN with its own seed,
        # then with p 0.5 babble of four other speakers of the clip's group on top, at 0-20 dB SNR re the copy.
        # The bank cache key (_code_hash) covers channel.py and nonspeech.py (and voice.py for augvtN, impulses.py
        # for augimpN and the non-speech groups), not this file: change this branch and the aug banks in .cache
        # must be deleted by hand
        # augmixN, an ablation too: augN with every draw the same, but babble for 2/3 of the noise instead of
        # 1/3 (channel.augment's more_babble)
        # augvtN, an ablation too: augN with every draw the same, after a voice perturbation drawn from a
        # generator of its own (voice.py), so the copy differs from augN by it alone
        # augimpN, an ablation too: augN with every draw the same, then with p 0.5 an impulsive track
        # (impulses.py: typing, clicks, knocks, tapping, percussion; a generator of its own) on top at 5-30 dB
        # SNR re the copy, so the model hears clicks under speech as well as alone (the non-speech clips)
        prefix = next(p for p in ("augbab", "augmix", "augvt", "augimp", "aug") if condition.startswith(p))
        babble_on_top, more_babble, voiced = prefix == "augbab", prefix == "augmix", prefix == "augvt"
        v = int(condition[len(prefix):])
        rng = np.random.default_rng([AUG_SEED, 77, cid, i, v] if babble_on_top else [AUG_SEED, cid, i, v])
        factors = voice.draw(np.random.default_rng([AUG_SEED, 55, cid, i, v])) if voiced else None
        if factors is not None:
            x = voice.perturb(x, *factors)
        y, info = channel.augment(x, rng, audio.babble_talkers(i, rng), more_babble=more_babble)
        if factors is not None:
            info = {"pitch": round(factors[0], 3), "formant": round(factors[1], 3), **info}
        if prefix == "augimp":
            irng = np.random.default_rng([AUG_SEED, 88, cid, i, v])
            if irng.random() < 0.5:
                kind = impulses.KINDS[int(irng.choice(len(impulses.KINDS), p=impulses.KIND_WEIGHTS))]
                track, _ = impulses.GENERATORS[kind](y.size, irng)
                snr = float(irng.uniform(5.0, 30.0))
                # add_noise takes noise of unit power; the louder sum is limited, not clipped
                y = channel.apply_gain(channel.add_noise(y, nonspeech._level(track, 0.0), snr), 0.0)
                info.update(impulses=kind, impulses_snr_db=round(snr, 2))
        if babble_on_top:
            talkers = audio.babble_talkers(i, rng)
            if rng.random() < 0.5 and talkers:
                snr = float(rng.uniform(0.0, 20.0))
                y = channel.add_noise(y, channel.babble(y.size, talkers, rng), snr)
                info["extra_babble_snr_db"] = round(snr, 2)
        if rate == 8000:
            law = "mu" if rng.random() < 0.5 else "a"
            y = channel.telephone(y, law, rng)
            info["law"] = law
        return y, info
    rng = np.random.default_rng([AUG_SEED, 99, cid, i, TEST_CONDITIONS.index(condition) if condition in
                                 TEST_CONDITIONS else 50])
    if condition == "tel16":
        return channel.upsample_16k(channel.telephone(x, law)), {"law": law}
    if condition == "reverb":
        rt60 = float(rng.uniform(0.3, 0.8))
        y = channel.reverberate(x, channel.synthetic_rir(rt60, rng, drr_db=float(rng.uniform(0, 6))))
        info = {"rt60": round(rt60, 3)}
    elif condition.startswith("white") or condition.startswith("babble"):
        kind = "white" if condition.startswith("white") else "babble"
        snr = float(condition[len(kind):])
        noise = (channel.babble(x.size, audio.babble_talkers(i, rng), rng) if kind == "babble"
                 else channel.coloured_noise(x.size, "white", rng))
        y, info = channel.add_noise(x, noise, snr), {"noise": kind, "snr_db": snr}
    else:
        raise ValueError(condition)
    if rate == 8000:
        y = channel.telephone(y, law)
    return y, info


def _source(module) -> bytes:
    """A module's source without its licence header line (the header does not change what the code does)."""
    return re.sub(rb"^# SPDX-License-Identifier: [^\n]*\n", b"", Path(module.__file__).read_bytes())


def _code_hash(group: str, condition: str = "") -> str:
    """The source the audio of a bank comes from (voice.py, impulses.py and alerts.py only for the groups and
    conditions that use them, so the keys of the other banks stay as they were)."""
    h = hashlib.sha256()
    ns = group.startswith("ns-")
    uses_impulses = ns or condition.startswith("augimp")
    modules = (channel, nonspeech) + ((voice,) if condition.startswith("augvt") else ()) + \
        ((impulses,) if uses_impulses else ()) + ((alerts,) if ns else ())
    for m in modules:
        h.update(_source(m))
    h.update(repr((CACHE_FORMAT, AUG_SEED, K_AUG, NS_COUNT, NS_SCORES, NS_SECONDS)).encode())
    if ns:
        h.update(repr(NS_IMPULSES).encode())
        h.update(repr(NS_ALERTS).encode())
    return h.hexdigest()


_LOADED: dict[tuple, Bank] = {}


def is_subset(n_mfcc: int, n_chroma: int) -> bool:
    """Whether features with these numbers are fewer than the extractor's (`subset`)."""
    return (n_mfcc, n_chroma) != (N_MFCC, N_CHROMA)


def load_options(pitch: bool, remove_dc: bool, n_mfcc: int = N_MFCC, n_chroma: int = N_CHROMA) -> dict:
    """`load`'s options for these features: `n_mfcc` and `n_chroma` only when they are a subset, so the
    options of the extractor's own features also suit `Extractor`."""
    out = {"pitch": pitch, "remove_dc": remove_dc}
    if is_subset(n_mfcc, n_chroma):
        out.update(n_mfcc=n_mfcc, n_chroma=n_chroma)
    return out


def front_end(params_json: str | dict) -> dict:
    """The `load` options that give the features a run or model was trained on (its feature parameters)."""
    p = json.loads(params_json) if isinstance(params_json, str) else params_json
    return load_options("pitch" in p, bool(p.get("remove_dc", False)), p.get("n_mfcc", N_MFCC),
                        p.get("n_chroma", N_CHROMA))


def load(group: str, condition: str, rate: int = 16000, progress: bool = True, pitch: bool = True,
         remove_dc: bool = True, n_mfcc: int = N_MFCC, n_chroma: int = N_CHROMA) -> Bank:
    """The bank of a group under a condition at a rate, with or without the pitch features and the frame
    mean removal (built once, then cached on disk, and kept in this process: the extractor, the code and
    the clips do not change while it runs); with fewer MFCC or chroma, `subset` of it."""
    key = (group, condition, rate, pitch, remove_dc, n_mfcc, n_chroma)
    if key not in _LOADED:
        if is_subset(n_mfcc, n_chroma):
            _LOADED[key] = subset(load(group, condition, rate, progress, pitch, remove_dc), n_mfcc, n_chroma)
        else:
            _LOADED[key] = _load(group, condition, rate, progress, pitch, remove_dc)
    return _LOADED[key]


def subset(bank: Bank, n_mfcc: int, n_chroma: int) -> Bank:
    """The bank with the first `n_mfcc` MFCC and `n_chroma` (all or none) chroma of each frame, pitch and
    voicing as they are. Each MFCC is one row of the DCT and chroma do not depend on the MFCC, so these are
    the values an extractor asked for that many would compute. For ablations only: the feature CLI has no
    option for fewer, so `export` refuses such runs (the element's own extractor could take fewer MFCC from
    a model's metadata, but not zero chroma)."""
    p = json.loads(bank.params_json)
    if is_subset(p["n_mfcc"], p["n_chroma"]):
        raise ValueError(f"{bank.group}: a subset needs the extractor's {N_MFCC} MFCC and {N_CHROMA} chroma")
    if not 0 < n_mfcc <= N_MFCC or n_chroma not in (0, N_CHROMA):
        raise ValueError(f"n_mfcc must be within 1..={N_MFCC} and n_chroma 0 or {N_CHROMA}")
    cols = list(range(n_mfcc)) + list(range(N_MFCC, N_MFCC + n_chroma)) + \
        list(range(N_MFCC + N_CHROMA, bank.feats.shape[1]))
    p.update(n_mfcc=n_mfcc, n_chroma=n_chroma, n_features=len(cols))
    return dataclasses.replace(bank, feats=np.ascontiguousarray(bank.feats[:, cols]),
                               params_json=json.dumps(p, separators=(",", ":")))


def _load(group: str, condition: str, rate: int, progress: bool, pitch: bool, remove_dc: bool) -> Bank:
    ex = Extractor(rate, pitch=pitch, remove_dc=remove_dc)
    params_json = ex.params_json()
    ex_sha = sha256_file(ex.path)
    clips = clips_of(group)
    h = hashlib.sha256(f"{group} {condition} {rate}\n{params_json}\n{ex_sha}\n{_code_hash(group, condition)}\n".encode())
    for c in clips:
        h.update(f"{c.path.name} {c.path.stat().st_size if c.path.exists() else 0}\n".encode())
    path = common.CACHE_DIR / f"bank-{group}-{condition}-{rate}-{h.hexdigest()[:16]}.npz"
    keys = ["names", "offsets", "feats", "kinds", "n_samples", "win_clip", "win_start", "win_len", "win_db"]
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return Bank(group, condition, rate, **{k: z[k] for k in keys}, params_json=str(z["params_json"]),
                    extractor_sha256=str(z["extractor_sha256"]), info=json.loads(str(z["info"])), path=path)
    from tqdm import tqdm

    audio = Audio(group)
    feats, kinds, n_samples, info = [], [], [], []
    wc, ws, wl, wd = [], [], [], []
    with ex:
        for i in tqdm(range(len(clips)), desc=f"{group} {condition} {rate}", disable=not progress):
            y, d = audio_for(audio, i, condition, rate)
            f, k = ex.compute_with_kinds(y)
            if not np.all(np.isfinite(f)):
                raise ValueError(f"{clips[i].path.name} ({condition}): non-finite features")
            feats.append(f)
            kinds.append(k)
            n_samples.append(y.size)
            info.append(d)
            for s, n, db in windows.windows_of(y, rate):
                wc.append(i), ws.append(s), wl.append(n), wd.append(db)
    arrays = {
        "names": np.array([c.path.name for c in clips]),
        "offsets": np.concatenate([[0], np.cumsum([f.shape[0] for f in feats])]).astype(np.int64),
        "feats": np.concatenate(feats).astype(np.float32), "kinds": np.concatenate(kinds).astype(np.uint8),
        "n_samples": np.array(n_samples, dtype=np.int64),
        "win_clip": np.array(wc, dtype=np.int64), "win_start": np.array(ws, dtype=np.int64),
        "win_len": np.array(wl, dtype=np.int64), "win_db": np.array(wd, dtype=np.float64),
    }
    _save_npz(path, **arrays, params_json=np.array(params_json), extractor_sha256=np.array(ex_sha),
              info=np.array(json.dumps(info)))
    return Bank(group, condition, rate, **arrays, params_json=params_json, extractor_sha256=ex_sha, info=info,
                path=path)


def check_windows(rate: int, opts: dict, n_clips: int = 8) -> float:
    """Max |sliced - direct|: window features sliced from whole-clip features against the extractor on the
    window (`opts`: the `load` options of the banks checked)."""
    bank = load("ravdess", "clean", rate, **opts)
    audio = Audio("ravdess")
    worst = 0.0
    with Extractor(rate, **opts) as ex:
        for i in np.random.default_rng(0).choice(len(bank), size=n_clips, replace=False):
            y, _ = audio_for(audio, int(i), "clean", rate)
            for s, n, j0, j1, _ in bank.windows(int(i)):
                direct, sliced = ex.compute(y[s:s + n]), bank.clip(int(i))[j0:j1]
                if direct.shape != sliced.shape:
                    raise AssertionError(f"window shapes {direct.shape} vs {sliced.shape}")
                worst = max(worst, float(np.abs(direct - sliced).max()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--check", action="store_true", help="verify the window slicing against the extractor")
    ap.add_argument("--dc", choices=("recipe", "keep", "remove"), default="recipe",
                    help="the frame mean removal of the rate's recipe (config.json), or without / with it (ablations)")
    args = ap.parse_args()
    from . import train  # train imports this module

    opts = train.front_end(args.rate)
    if args.dc != "recipe":
        opts["remove_dc"] = args.dc == "remove"
    for g in GROUPS:
        for c in (TRAIN_CONDITIONS if g not in ("ns-test",) else ["clean"]):
            if g in ("ns-val",) and c != "clean":
                continue
            b = load(g, c, args.rate, **opts)
            print(f"{g:9s} {c:8s} {len(b)} clips, {b.feats.shape[0]} frames, {len(b.win_clip)} windows")
    for c in TEST_CONDITIONS + (["tel16"] if args.rate == 16000 else []):
        b = load("ravdess", c, args.rate, **opts)
        print(f"ravdess   {c:8s} {len(b)} clips, {len(b.win_clip)} windows")
    if args.check:
        print(f"window features: max |sliced - direct| = {check_windows(args.rate, opts):.3g}")


if __name__ == "__main__":
    main()
