# SPDX-License-Identifier: MPL-2.0
"""Ringing and alert sounds for the `non-speech` class: phone ringers, ring tones, chimes, alarms, buzzers.

What rings near a caller or on the line: the phone on the next desk, a
notification, an alarm clock, a vibrating mobile. The earlier non-speech
material (nonspeech.py) has steady sines and call-progress tones but nothing
that rings: through the element the shipped models label windows of Debian's
desktop sounds (a ringing phone `angry` 0.94-0.98 at 8 kHz) and of General
MIDI telephone rings (MODEL_CARD.md).

- training and validation: synthetic sounds from first principles (bells as
  struck inharmonic resonators, recorded bells of the FluidR3 soundfont struck
  as ringers, electronic ringers as warbling two-tone
  signals, ring tones as short motifs on synthetic timbres, chimes, beeping and
  sweeping alarms, buzzers and vibrating phones), in the ring cadences of
  several national plans, sometimes in a room;
- the test (`test_clip`): recorded sounds of the FluidR3 soundfont that no
  training plays (General MIDI program 124, Telephone Ring, in ring cadences,
  and 112, Tinkle Bell, in chime motifs) and the training families from the
  test's seeds (among the 40 test clips, 2 recorded ringers on training
  programs: clips 23 and 35).

Seeds: (nonspeech.SEED_ROOT, split, STREAM, index). numpy pads a seed with
zeros, so clip 0 of a split draws what nonspeech.py's generated clip 9 of that
split draws (its index is STREAM) and impulses.py's clip 0 what its clip 8
draws; every other clip has a stream of its own.
Clips are 16 kHz mono float64 like theirs.
"""
from __future__ import annotations

import sys

import numpy as np
from scipy import signal

from . import channel, impulses, nonspeech

SR = nonspeech.SR
STREAM = 9
# ring cadences (on, off, ... seconds) of several national plans; a clip scales one by 0.85-1.15
CADENCES = [[2.0, 4.0], [0.4, 0.2, 0.4, 2.0], [1.0, 4.0], [1.5, 3.5], [1.0, 2.0], [0.8, 0.4, 0.8, 3.0],
            [1.2, 3.0], [0.25, 0.25, 0.25, 2.5]]
# General MIDI programs of the test (training plays neither: nonspeech.TRAIN_PROGRAMS stops below 112)
TEST_RING_PROGRAM, TEST_BELL_PROGRAM = 124, 112
# recorded bells, bars and chirps training strikes as ringers: celesta, glockenspiel, music box, vibraphone,
# marimba, xylophone, tubular bells, agogo, steel drums, bird tweet
TRAIN_RING_PROGRAMS = [8, 9, 10, 11, 12, 13, 14, 113, 114, 123]
KINDS = ("bell ringer", "recorded ringer", "electronic ringer", "ring tone", "chime", "alarm", "buzzer")
KIND_WEIGHTS = (0.15, 0.2, 0.15, 0.15, 0.15, 0.1, 0.1)


def _gate(n: int, cadence: list[float], rng: np.random.Generator, ramp: float = 0.005) -> np.ndarray:
    """0/1 envelope of a cadence (on, off, on, off, ...) starting at a random phase, edges ramped."""
    period = sum(cadence)
    t = (np.arange(n) / SR + rng.uniform(0, period)) % period
    env, start = np.zeros(n), 0.0
    for k, d in enumerate(cadence):
        if k % 2 == 0:
            env[(t >= start) & (t < start + d)] = 1.0
        start += d
    k = max(1, int(ramp * SR))
    return np.convolve(env, np.ones(k) / k, mode="same")


def _cadence(rng: np.random.Generator) -> list[float]:
    s = rng.uniform(0.85, 1.15)
    return [d * s for d in CADENCES[int(rng.integers(len(CADENCES)))]]


def bell(rng: np.random.Generator, f0: float, seconds: float) -> np.ndarray:
    """The impulse response of a struck bell or gong: 3-6 inharmonic partials above f0, decaying 0.03-1.2 s."""
    t = np.arange(int(seconds * SR)) / SR
    ratios = np.concatenate([[1.0], np.sort(rng.uniform(1.3, 6.5, size=int(rng.integers(2, 6))))])
    y = np.zeros(t.size)
    for k, r in enumerate(ratios):
        f = f0 * r
        if f >= 0.45 * SR:
            continue
        tau = rng.uniform(0.03, 1.2) / (1 + 0.5 * k)
        y += rng.uniform(0.2, 1.0) / (1 + k) * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return y / max(float(np.max(np.abs(y))), 1e-12)


def bell_ringer(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """An electromechanical ringer: a hammer striking one or two bells 14-30 times a second during the
    cadence's on-times (an old desk phone, an alarm-clock bell when continuous)."""
    rate = rng.uniform(14, 30)
    bells = [bell(rng, rng.uniform(500, 3000), 0.6) for _ in range(int(rng.integers(1, 3)))]
    strikes = np.zeros(n)
    times = np.arange(rng.uniform(0, 1 / rate), n / SR, 1 / rate)
    continuous = rng.random() < 0.2
    gate = np.ones(n) if continuous else _gate(n, _cadence(rng), rng)
    out = np.zeros(n)
    for b in range(len(bells)):
        strikes[:] = 0.0
        idx = (times[b::len(bells)] * SR).astype(int)
        idx = idx[idx < n]
        strikes[idx] = gate[idx] * rng.uniform(0.6, 1.0, size=idx.size)
        out += signal.fftconvolve(strikes, bells[b])[:n]
    return out, {"rate_hz": round(rate, 1), "bells": len(bells), "continuous": bool(continuous)}


def recorded_ringer(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A ringer from recorded bells (the soundfont's TRAIN_RING_PROGRAMS): one or two pitches struck 10-25
    times a second during the cadence's on-times, or a motif of 3-8 notes repeated through them."""
    program = int(rng.choice(TRAIN_RING_PROGRAMS))
    gate = _gate(n, _cadence(rng), rng)
    trill = rng.random() < 0.6
    if trill:
        pitches, step = [int(p) for p in rng.integers(60, 97, size=int(rng.integers(1, 3)))], 1 / rng.uniform(10, 25)
    else:
        pitches = [int(round(69 + 12 * np.log2(f / 440))) for f in _motif(rng, int(rng.integers(3, 9)))]
        step = rng.uniform(0.08, 0.25)
    notes = [(t, step, 0, pitches[k % len(pitches)], int(rng.integers(60, 120)))
             for k, t in enumerate(np.arange(0, n / SR, step)) if gate[min(int(t * SR), n - 1)] > 0.5]
    if not notes:
        notes = [(0.0, step, 0, pitches[0], 100)]
    x = nonspeech.render_midi(nonspeech.midi_bytes(notes, {0: program}, 60.0), n / SR)
    return np.pad(x, (0, max(0, n - x.size)))[:n], {"program": program, "trill": bool(trill),
                                                       "notes": len(notes)}


def _wave(phase: np.ndarray, shape: str) -> np.ndarray:
    if shape == "sine":
        return np.sin(phase)
    if shape == "square":
        return np.sign(np.sin(phase)) * 0.7
    if shape == "triangle":
        return 2 / np.pi * np.arcsin(np.sin(phase))
    return (((phase / (2 * np.pi)) % 1.0) * 2 - 1) * 0.6  # saw


SHAPES = ("sine", "square", "triangle", "saw")


def electronic_ringer(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """An electronic ringer: a tone cycling through two or three pitches 8-30 times a second (a trill) in the
    cadence, on a sine, square, triangle or saw wave."""
    f1 = rng.uniform(400, 2200)
    freqs = [f1 * r for r in [1.0] + list(rng.uniform(1.1, 1.7, size=int(rng.integers(1, 3))))]
    rate = rng.uniform(8, 30)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    t = np.arange(n) / SR
    f = np.asarray(freqs)[(np.floor(t * rate * len(freqs)) % len(freqs)).astype(int)]
    x = _wave(2 * np.pi * np.cumsum(f) / SR, shape)
    return x * _gate(n, _cadence(rng), rng), {"freqs": [round(v) for v in freqs], "rate_hz": round(rate, 1),
                                              "shape": shape}


def _note(rng: np.random.Generator, f: float, seconds: float, timbre: str) -> np.ndarray:
    """One synthetic note: an FM bell, a marimba-like bar, a decaying sine with harmonics, or a flat beep."""
    t = np.arange(int(seconds * SR)) / SR
    if timbre == "fm bell":
        ratio, index = rng.choice([1.4, 2.0, 3.5, 1.0]), rng.uniform(1, 6)
        env = np.exp(-t / rng.uniform(0.1, 0.8))
        return env * np.sin(2 * np.pi * f * t + index * env * np.sin(2 * np.pi * f * ratio * t))
    if timbre == "marimba":
        env = np.exp(-t / rng.uniform(0.05, 0.3))
        return env * (np.sin(2 * np.pi * f * t) + 0.3 * np.exp(-t / 0.02) * np.sin(2 * np.pi * 3.9 * f * t))
    if timbre == "harmonic":
        env = np.exp(-t / rng.uniform(0.1, 0.6))
        return env * sum(np.sin(2 * np.pi * f * h * t) / h ** rng.uniform(1, 2) for h in range(1, 5) if f * h < 0.45 * SR)
    env = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.004)
    return env * _wave(2 * np.pi * f * t, SHAPES[int(rng.integers(len(SHAPES)))])  # beep


TIMBRES = ("fm bell", "marimba", "harmonic", "beep")
SCALE = [0, 2, 4, 5, 7, 9, 11]


def _motif(rng: np.random.Generator, notes: int) -> list[float]:
    base = rng.uniform(60, 88)  # MIDI pitch
    degrees = np.cumsum(rng.integers(-3, 4, size=notes)) + int(rng.integers(0, 7))
    # within MIDI's 0..127 (the recorded ringers play these as notes)
    return [440 * 2 ** ((np.clip(base + 12 * (d // 7) + SCALE[d % 7], 0, 127) - 69) / 12) for d in degrees]


def ring_tone(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A mobile ring tone: a motif of 4-12 short notes on one synthetic timbre, repeated after 0.2-1.5 s."""
    timbre = TIMBRES[int(rng.integers(len(TIMBRES)))]
    motif = _motif(rng, int(rng.integers(4, 13)))
    step = rng.uniform(0.08, 0.3)
    out, t = np.zeros(n), float(rng.uniform(0, 0.5))
    while t < n / SR:
        for f in motif:
            impulses._place(out, _note(rng, f, step * rng.uniform(1.0, 3.0), timbre), t, 1.0)
            t += step
        t += rng.uniform(0.2, 1.5)
    return out, {"timbre": timbre, "notes": len(motif)}


def chime(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Notification and door chimes: 1-4 notes 0.1-0.6 s apart, each ringing 0.3-1.5 s, every 0.8-4 s."""
    timbre = TIMBRES[int(rng.integers(3))]
    motif = _motif(rng, int(rng.integers(1, 5)))
    gap = rng.uniform(0.1, 0.6)
    out, t, chimes = np.zeros(n), float(rng.uniform(0, 1.0)), 0
    while t < n / SR:
        for k, f in enumerate(motif):
            impulses._place(out, _note(rng, f, rng.uniform(0.3, 1.5), timbre), t + k * gap, 1.0)
        chimes += 1
        t += len(motif) * gap + rng.uniform(0.8, 4.0)
    return out, {"timbre": timbre, "notes": len(motif), "chimes": chimes}


def alarm(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Alarms: groups of 1-4 beeps at 0.5-4 kHz (an alarm clock, a smoke alarm, a reversing truck) or a tone
    sweeping up and down (a siren) or up in repeated chirps."""
    t = np.arange(n) / SR
    style = ["beeps", "siren", "chirps"][int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    if style == "beeps":
        f, on, off = rng.uniform(500, 4000), rng.uniform(0.04, 0.5), rng.uniform(0.04, 0.3)
        group = int(rng.integers(1, 5))
        cadence = [on, off] * (group - 1) + [on, rng.uniform(0.2, 1.5)]
        x = _wave(2 * np.pi * f * t, SHAPES[int(rng.integers(2))]) * _gate(n, cadence, rng)
        return x, {"style": style, "freq": round(f), "group": group}
    lo = rng.uniform(400, 1200)
    hi = lo * rng.uniform(1.3, 2.5)
    rate = rng.uniform(0.2, 3.0) if style == "siren" else rng.uniform(1.0, 6.0)
    phase = (t * rate + rng.uniform(0, 1)) % 1.0
    sweep = 0.5 - 0.5 * np.cos(2 * np.pi * phase) if style == "siren" else phase
    x = _wave(2 * np.pi * np.cumsum(lo + (hi - lo) * sweep) / SR, SHAPES[int(rng.integers(3))])
    return x, {"style": style, "lo": round(lo), "hi": round(hi), "rate_hz": round(rate, 2)}


def buzzer(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A buzzer or a phone vibrating on a desk: a 90-400 Hz buzz rich in harmonics (clipped, rattling) in
    pulses of 0.2-1.2 s."""
    f = rng.uniform(90, 400)
    t = np.arange(n) / SR
    x = np.clip(np.sin(2 * np.pi * f * t * (1 + 0.01 * np.sin(2 * np.pi * rng.uniform(2, 8) * t))) * rng.uniform(1, 4),
                -1, 1)
    x += rng.uniform(0.0, 0.5) * rng.standard_normal(n) * np.abs(x)  # the rattle of the case on the desk
    on = rng.uniform(0.2, 1.2)
    cadence = [on, rng.uniform(0.1, 0.6), on, rng.uniform(0.5, 2.5)] if rng.random() < 0.5 else [on, rng.uniform(0.2, 1.5)]
    return x * _gate(n, cadence, rng, ramp=0.02), {"freq": round(f)}


GENERATORS = {"bell ringer": bell_ringer, "recorded ringer": recorded_ringer, "electronic ringer": electronic_ringer,
              "ring tone": ring_tone, "chime": chime, "alarm": alarm, "buzzer": buzzer}


def _room(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """In a room with p 0.4 (synthetic impulse response, RT60 0.2-0.9 s), then impulses.py's room noise and
    level (-45..-15 dBFS RMS)."""
    info: dict = {}
    if rng.random() < 0.4:
        rt60 = float(rng.uniform(0.2, 0.9))
        x = channel.reverberate(x, channel.synthetic_rir(rt60, rng, drr_db=float(rng.uniform(-3, 10))))
        info["rt60_s"] = round(rt60, 2)
    x, more = impulses._finish(x, rng)
    return x, {**info, **more}


def clip(split: str, index: int, seconds: float) -> tuple[np.ndarray, dict]:
    """Alert clip `index` of a split (the test's: `test_clip`)."""
    if split == "test":
        return test_clip(index, seconds)
    return impulses.seeded_clip(sys.modules[__name__], split, index, seconds, _room, "alerts")


def recorded(n: int, rng: np.random.Generator, program: int) -> tuple[np.ndarray, dict]:
    """Recorded sounds of the soundfont: the telephone ring held through a ring cadence, or the bell playing
    chime motifs."""
    notes = []
    if program == TEST_RING_PROGRAM:
        pitch, cadence = int(rng.integers(60, 85)), _cadence(rng)
        t = float(rng.uniform(0, 1.0))
        while t < n / SR:
            for k in range(0, len(cadence), 2):
                notes.append((t, cadence[k], 0, pitch, int(rng.integers(70, 120))))
                t += cadence[k] + cadence[k + 1]
        info = {"pitch": pitch}
    else:
        motif = [int(round(69 + 12 * np.log2(f / 440))) for f in _motif(rng, int(rng.integers(1, 5)))]
        t = float(rng.uniform(0, 1.0))
        while t < n / SR:
            for k, p in enumerate(motif):
                notes.append((t + 0.3 * k, 0.6, 0, p, int(rng.integers(70, 120))))
            t += 0.3 * len(motif) + rng.uniform(0.8, 3.0)
        info = {"notes": len(motif)}
    x = nonspeech.render_midi(nonspeech.midi_bytes(notes, {0: program}, 60.0), n / SR)
    return np.pad(x, (0, max(0, n - x.size)))[:n], {"program": program, **info}


def test_clip(index: int, seconds: float) -> tuple[np.ndarray, dict]:
    """Held-out alert clip: indices 0, 4, 8, ... the soundfont's telephone ring, 2, 6, ... its tinkle bell,
    odd ones the synthetic families from the test's seeds."""
    rng = np.random.default_rng([nonspeech.SEED_ROOT, nonspeech.SPLIT_ID["test"], STREAM, index])
    n = int(seconds * SR)
    if index % 2 == 0:
        program = TEST_RING_PROGRAM if index % 4 == 0 else TEST_BELL_PROGRAM
        x, info = recorded(n, rng, program)
        kind = "telephone ring" if program == TEST_RING_PROGRAM else "tinkle bell"
    else:
        kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
        x, info = GENERATORS[kind](n, rng)
    if np.max(np.abs(x)) < 1e-4:
        raise RuntimeError(f"silent alert test clip {index}: {info}")
    x, more = _room(x, rng)
    return x, {"kind": f"alerts ({kind})", **info, **more}
