# SPDX-License-Identifier: MPL-2.0
"""Non-speech audio for the `non-speech` class: noises, hum, tones, DTMF, call-progress tones, music.

Training and validation material is generated here from seeds; the test
material is kept apart by construction:
- seeds: every clip's generator is seeded by (SEED_ROOT, split, index), and
  the splits `train`, `val`, `test` never share a seed;
- music: training and validation play random melodies, chords and arpeggios
  (random MIDI written here) and real scores of composers other than Bach
  (SCORE_COMPOSERS: Palestrina, Irish fiddle tunes and trecento pieces for
  training; Mozart, Haydn and Schumann string and piano music for
  validation; music21 corpus) on the General MIDI programs in
  TRAIN_PROGRAMS; the test plays Bach chorales (music21 corpus, public
  domain) on TEST_PROGRAMS, which training never uses.
Music is rendered by fluidsynth with the FluidR3 General MIDI soundfont
(Debian packages `fluidsynth`, `fluid-soundfont-gm`).

Clips are 16 kHz mono float64; `make_split` writes them as FLAC under
models/.cache/nonspeech/<split>/ once.
"""
from __future__ import annotations

import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import channel

SR = 16000
SEED_ROOT = 4242
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
# Held out for the test: piano, church organ, nylon guitar, violin, harp, strings, flute.
TEST_PROGRAMS = [0, 19, 24, 40, 46, 48, 73]
TRAIN_PROGRAMS = [p for p in range(0, 120) if p not in TEST_PROGRAMS and not 112 <= p <= 119]
SPLIT_ID = {"train": 1, "val": 2, "test": 3}
KINDS = ("noise", "hum", "tone", "dtmf", "callprogress", "music", "music+noise")
# Share of each kind in a split (music is the most common non-speech input of a call: hold music).
KIND_WEIGHTS = (0.14, 0.08, 0.12, 0.1, 0.1, 0.36, 0.1)
DTMF_ROWS, DTMF_COLS = (697, 770, 852, 941), (1209, 1336, 1477, 1633)


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    return x * 10 ** (dbfs / 20) / max(np.sqrt(np.mean(x**2)), 1e-12)


def _sines(freqs, n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)


def _cadence(n: int, on_off: list[float], rng: np.random.Generator) -> np.ndarray:
    """0/1 envelope repeating the on/off pattern (seconds), from a random phase, 5 ms ramps."""
    period = sum(on_off)
    t = (np.arange(n) / SR + rng.uniform(0, period)) % period
    env = np.zeros(n)
    edge = 0.0
    for k, d in enumerate(on_off):
        if k % 2 == 0:
            env[(t >= edge) & (t < edge + d)] = 1.0
        edge += d
    ramp = int(0.005 * SR)
    return np.convolve(env, np.ones(ramp) / ramp, mode="same")


def noise(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    colour = ["white", "pink", "brown"][int(rng.integers(3))]
    x = channel.coloured_noise(n, colour, rng)
    if rng.random() < 0.3:  # slowly fluctuating (fan, traffic)
        x *= 1 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * np.arange(n) / SR)
    return x, {"colour": colour}


def hum(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    t = np.arange(n) / SR
    x = sum(rng.uniform(0, 1) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6)) for k in range(1, 12))
    x = x + 10 ** (rng.uniform(-40, -15) / 20) * channel.coloured_noise(n, "pink", rng)
    return x, {"f0": f0}


def tone(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    k = int(rng.integers(1, 3))
    freqs = list(rng.uniform(150, 3500, size=k))
    x = _sines(freqs, n, rng)
    beep = rng.random() < 0.5
    if beep:
        x *= _cadence(n, [rng.uniform(0.1, 1.0), rng.uniform(0.1, 1.5)], rng)
    return x, {"freqs": [round(f) for f in freqs], "beep": beep}


def dtmf(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    x = np.zeros(n)
    pos, digits = int(rng.uniform(0, 0.3) * SR), 0
    while pos < n:
        on = int(rng.uniform(0.05, 0.25) * SR)
        f = (DTMF_ROWS[int(rng.integers(4))], DTMF_COLS[int(rng.integers(4))])
        seg = _sines(f, min(on, n - pos), rng)
        x[pos:pos + seg.size] = seg
        pos += on + int(rng.uniform(0.05, 0.4) * SR)
        digits += 1
    return x, {"digits": digits}


# (frequencies Hz, cadence on/off s): ringback and busy tones of several national plans.
CALL_PROGRESS = [
    ([440, 480], [2.0, 4.0]), ([400, 450], [0.4, 0.2, 0.4, 2.0]), ([425], [1.0, 4.0]),
    ([480, 620], [0.5, 0.5]), ([425], [0.5, 0.5]), ([400], [0.375, 0.375]), ([480, 620], [0.25, 0.25]),
    ([350, 440], [1e9, 0.0]),  # dial tone (continuous)
]


def call_progress(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    freqs, cad = CALL_PROGRESS[int(rng.integers(len(CALL_PROGRESS)))]
    detune = rng.uniform(0.97, 1.03)
    x = _sines([f * detune for f in freqs], n, rng)
    if cad[1] > 0:
        x *= _cadence(n, [d * rng.uniform(0.9, 1.1) for d in cad], rng)
    return x, {"freqs": freqs}


# ---------------------------------------------------------------------------
# MIDI, written byte by byte (Standard MIDI File, format 0, 480 ticks per quarter)

TPQ = 480


def _varlen(v: int) -> bytes:
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def midi_bytes(notes: list[tuple[float, float, int, int, int]], programs: dict[int, int], bpm: float) -> bytes:
    """A format-0 MIDI file of notes (start beat, length beats, channel, pitch, velocity)."""
    events = []  # (tick, order, bytes): note-offs before note-ons at the same tick
    for ch, prog in programs.items():
        events.append((0, 0, bytes([0xC0 | ch, prog])))
    for start, length, ch, pitch, vel in notes:
        t0 = int(round(start * TPQ))
        t1 = max(t0 + 1, int(round((start + length) * TPQ)))
        events.append((t0, 2, bytes([0x90 | ch, pitch, vel])))
        events.append((t1, 1, bytes([0x80 | ch, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    tempo = int(round(60e6 / bpm))
    track = bytearray(b"\x00\xff\x51\x03" + tempo.to_bytes(3, "big"))
    now = 0
    for tick, _, data in events:
        track += _varlen(tick - now) + data
        now = tick
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, TPQ) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render_midi(data: bytes, seconds: float, sr: int = SR, soundfont: Path = SOUNDFONT) -> np.ndarray:
    """Render MIDI bytes with fluidsynth to mono float64 at sr, cut or zero-padded to `seconds`."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as d:
        mid, wav = Path(d) / "in.mid", Path(d) / "out.wav"
        mid.write_bytes(data)
        subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", str(sr), "-F", str(wav), str(soundfont),
                        str(mid)], check=True, capture_output=True)
        x, got = sf.read(str(wav), dtype="float64", always_2d=True)
    if got != sr:
        raise RuntimeError(f"fluidsynth wrote {got} Hz, asked for {sr}")
    x = x.mean(axis=1)
    n = int(seconds * sr)
    return np.pad(x, (0, max(0, n - x.size)))[:n]


SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10], "penta": [0, 2, 4, 7, 9],
          "dorian": [0, 2, 3, 5, 7, 9, 10]}


def random_music(seconds: float, rng: np.random.Generator, programs=TRAIN_PROGRAMS) -> tuple[bytes, dict]:
    """Random tonal MIDI: 1-3 parts among melody, block chords, arpeggio and bass, on random programs."""
    bpm = float(rng.uniform(60, 160))
    beats = seconds * bpm / 60 + 1
    root = 48 + int(rng.integers(12))
    scale = list(SCALES)[int(rng.integers(len(SCALES)))]
    steps = SCALES[scale]

    def pitch(degree: int, octave: int) -> int:
        return root + 12 * (octave + degree // len(steps)) + steps[degree % len(steps)]

    parts = list(rng.choice(["melody", "chords", "arpeggio", "bass"], size=int(rng.integers(1, 4)), replace=False))
    notes, progs = [], {}
    chords = [int(rng.integers(7)) for _ in range(int(beats // 2) + 2)]
    for ch, part in enumerate(parts):
        progs[ch] = int(rng.choice(programs))
        vel = int(rng.integers(60, 115))
        if part == "melody":
            t, deg = 0.0, int(rng.integers(7))
            while t < beats:
                d = float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
                deg = int(np.clip(deg + rng.integers(-3, 4), -4, 14))
                if rng.random() > 0.1:
                    notes.append((t, d * 0.95, ch, pitch(deg, 1), vel))
                t += d
        elif part == "chords":
            for k, c in enumerate(chords):
                for deg in (c, c + 2, c + 4):
                    notes.append((2.0 * k, 1.9, ch, pitch(deg, 0), vel))
        elif part == "arpeggio":
            sub = float(rng.choice([0.25, 0.5]))
            for k, c in enumerate(chords):
                pat = [c, c + 2, c + 4, c + 7]
                for j in range(int(2 / sub)):
                    notes.append((2.0 * k + j * sub, sub * 1.5, ch, pitch(pat[j % 4], 0), vel))
        else:
            for k, c in enumerate(chords):
                notes.append((2.0 * k, 1.8, ch, pitch(c, -1), vel))
    return midi_bytes(notes, progs, bpm), {"bpm": round(bpm), "scale": scale, "parts": [str(p) for p in parts],
                                           "programs": list(progs.values())}


def music(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    data, info = random_music(n / SR, rng)
    x = render_midi(data, n / SR)
    if np.max(np.abs(x)) < 1e-4:  # a silent rendering (rare): fall back to pink noise
        x = channel.coloured_noise(n, "pink", rng)
        info["fallback"] = "pink"
    return x, info


GENERATORS = {"noise": noise, "hum": hum, "tone": tone, "dtmf": dtmf, "callprogress": call_progress,
              "music": music}


def generate(split: str, index: int, seconds: float) -> tuple[np.ndarray, dict]:
    """Clip `index` of a split: a random kind, at a random level (-45..-12 dBFS RMS)."""
    rng = np.random.default_rng([SEED_ROOT, SPLIT_ID[split], index])
    kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
    n = int(seconds * SR)
    if kind == "music+noise":
        x, info = music(n, rng)
        x = channel.add_noise(x, channel.coloured_noise(n, "pink", rng), float(rng.uniform(5, 30)))
    else:
        x, info = GENERATORS[kind](n, rng)
    level = float(rng.uniform(-45, -12))
    x = _level(x, level)
    peak = np.max(np.abs(x))
    if peak > 0.99:
        x *= 0.99 / peak
    return x, {"kind": kind, "dbfs": round(level, 1), **info}


# ---------------------------------------------------------------------------
# real scores: other composers for training and validation, Bach for the test

# music21 corpus collections per split; Bach is the test's alone.
SCORE_COMPOSERS = {"train": ("palestrina", "ryansMammoth", "trecento"),
                   "val": ("mozart", "haydn", "schumann_robert")}


def _score_paths(split: str) -> list:
    from music21 import corpus

    return [p for c in SCORE_COMPOSERS[split] for p in sorted(corpus.getComposer(c))]


_PARSED: dict = {}


def _parsed_parts(path) -> list[list[tuple[float, float, int]]]:
    """Notes (start beat, length beats, pitch) of each part of a score (parsed once per process)."""
    if path not in _PARSED:
        from music21 import corpus

        score = corpus.parse(path)
        if hasattr(score, "scores"):  # an opus (abc collections): its first tune
            score = score.scores[0]
        parts = list(score.parts) or [score]
        _PARSED[path] = [sorted((float(n.offset), float(n.quarterLength), int(p.midi))
                                for n in part.flatten().notes for p in n.pitches) for part in parts]
        _PARSED[path] = [p for p in _PARSED[path] if p]
    return _PARSED[path]


def score_clip(split: str, index: int, seconds: float) -> tuple[np.ndarray, dict]:
    """Clip `index` of a split's real scores: an excerpt from a random point of a score of the split's
    composers, on one or several TRAIN_PROGRAMS, as written, in block chords or arpeggiated, sometimes
    over noise, at a random level (-45..-12 dBFS RMS)."""
    rng = np.random.default_rng([SEED_ROOT, SPLIT_ID[split], 7, index])
    paths = _score_paths(split)
    path = paths[int(rng.integers(len(paths)))]
    parts = _parsed_parts(path)
    bpm = float(rng.uniform(60, 150))
    beats = seconds * bpm / 60 + 1
    end = max(n[0] for p in parts for n in p)
    t0 = float(np.floor(rng.uniform(0, max(end - beats, 0.0) + 1e-9)))
    style = ["voices", "voices", "voices", "chords", "arpeggio"][int(rng.integers(5))]
    one = rng.random() < 0.5
    programs = [int(rng.choice(TRAIN_PROGRAMS))] * len(parts) if one else \
        [int(rng.choice(TRAIN_PROGRAMS)) for _ in parts]
    vel = int(rng.integers(60, 115))
    notes = [(s - t0, d, k, p) for k, part in enumerate(parts) for s, d, p in part if t0 <= s < t0 + beats]
    channel_of = [k if k < 9 else k + 1 for k in range(min(len(parts), 15))]  # channel 9 is percussion
    ev = []
    if style == "voices":
        ev = [(s, d * 0.97, channel_of[min(k, 14)], p, vel) for s, d, k, p in notes]
    else:
        by_beat: dict[float, list[int]] = {}
        for s, _, _, p in notes:
            by_beat.setdefault(float(np.floor(s)), []).append(p)
        for b, ps in sorted(by_beat.items()):
            ps = sorted(set(ps))
            step = 1.0 / len(ps) if style == "arpeggio" else 0.0
            ev += [(b + k * step, 0.95 if style == "chords" else 1.0, 0, p, vel) for k, p in enumerate(ps)]
    progs = {ch: programs[k] for k, ch in enumerate(channel_of)}
    x = render_midi(midi_bytes(ev, progs, bpm), seconds)
    info = {"kind": "score", "score": f"{path.parent.name}/{path.name}", "start_beat": t0, "style": style,
            "programs": sorted(set(progs.values())), "bpm": round(bpm)}
    if np.max(np.abs(x)) < 1e-4:  # an excerpt of rests: fall back to random music
        x, more = music(int(seconds * SR), rng)
        info.update(fallback="random music", **more)
    if rng.random() < 0.2:
        snr = float(rng.uniform(5, 30))
        x = channel.add_noise(x, channel.coloured_noise(x.size, "pink", rng), snr)
        info["pink_snr_db"] = round(snr, 1)
    level = float(rng.uniform(-45, -12))
    x = _level(x, level)
    x *= min(1.0, 0.99 / max(np.max(np.abs(x)), 1e-12))
    return x, {**info, "dbfs": round(level, 1)}


def chorale_notes(index: int, max_beats: float = 40.0):
    """Notes (start beat, length beats, pitch) of the first bars of the index-th Bach chorale of music21's corpus."""
    from music21 import corpus

    paths = sorted(corpus.getComposer("bach", fileExtensions=("mxl", "xml", "musicxml")))
    score = corpus.parse(paths[index % len(paths)])
    out = []
    for n in score.flatten().notes:
        start = float(n.offset)
        if start >= max_beats:
            continue
        for p in n.pitches:
            out.append((start, float(n.quarterLength), int(p.midi)))
    return sorted(out), paths[index % len(paths)].name


def score_music(index: int, seconds: float, rng: np.random.Generator, style: str | None = None,
                program: int | None = None) -> tuple[np.ndarray, dict]:
    """A Bach chorale (music21 corpus) on a held-out program: as written, block chords or arpeggiated."""
    notes, name = chorale_notes(index)
    style = style or ["voices", "chords", "arpeggio"][int(rng.integers(3))]
    program = TEST_PROGRAMS[int(rng.integers(len(TEST_PROGRAMS)))] if program is None else program
    bpm = float(rng.uniform(70, 110))
    vel = int(rng.integers(70, 110))
    ev = []
    if style == "voices":
        ev = [(s, d * 0.97, 0, p, vel) for s, d, p in notes]
    else:
        by_beat: dict[float, list[int]] = {}
        for s, _, p in notes:
            by_beat.setdefault(float(np.floor(s)), []).append(p)
        for b, ps in sorted(by_beat.items()):
            ps = sorted(set(ps))
            if style == "chords":
                ev += [(b, 0.95, 0, p, vel) for p in ps]
            else:
                step = 1.0 / max(len(ps), 1)
                ev += [(b + k * step, 1.0, 0, p, vel) for k, p in enumerate(ps)]
    x = render_midi(midi_bytes(ev, {0: program}, bpm), seconds)
    return x, {"kind": "score", "score": name, "style": style, "program": program, "bpm": round(bpm)}


def test_clip(index: int, seconds: float) -> tuple[np.ndarray, dict]:
    """Held-out test clip: half real scores on held-out programs, half independently seeded generators."""
    rng = np.random.default_rng([SEED_ROOT, SPLIT_ID["test"], index])
    if index % 2 == 0:
        x, info = score_music(index // 2, seconds, rng)
        if np.max(np.abs(x)) < 1e-4:
            raise RuntimeError(f"silent rendering of {info}")
        level = float(rng.uniform(-40, -14))
        x = _level(x, level)
        x *= min(1.0, 0.99 / max(np.max(np.abs(x)), 1e-12))
        return x, {**info, "dbfs": round(level, 1)}
    return generate("test", index, seconds)
