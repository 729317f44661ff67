# SPDX-License-Identifier: MPL-2.0
"""Impulsive non-speech for the `non-speech` class: typing, mouse clicks, knocks, tapping, percussion.

The sounds of an office or a home between a caller's words. Before this
module the non-speech material had none (noises, hum, tones and music are
steady or tonal); through the element the shipped models label most windows
of the held-out typing and some of the held-out percussion (MODEL_CARD.md).

- training and validation: synthetic keyboards, mice, knocks and pen taps
  (resonators excited by short noise bursts, in the rhythms of typing and
  clicking), and recorded percussion of the FluidR3 soundfont on the General
  MIDI keys TRAIN_KEYS and the drum kits TRAIN_KITS;
- the test (`test_clip`): recorded percussion on TEST_KEYS in the standard
  kit, which training never plays, and synthetic typing from the test's seeds.

Seeds: (nonspeech.SEED_ROOT, split, 8, index), apart from nonspeech.py's.
Clips are 16 kHz mono float64 like nonspeech.py's.
"""
from __future__ import annotations

import sys

import numpy as np

from . import channel, nonspeech

SR = nonspeech.SR
STREAM = 8
# General MIDI percussion keys (channel 10). The test's: side stick, hand clap, closed hi-hat, tambourine,
# cabasa, maracas, claves, high and low wood block.
TEST_KEYS = [37, 39, 42, 54, 69, 70, 75, 76, 77]
# kick, snare, toms, pedal and open hi-hat, crash, ride, cowbell, bongos, congas, timbales, agogo, guiro,
# cuica, triangle
TRAIN_KEYS = [35, 36, 38, 40, 41, 43, 44, 45, 46, 47, 48, 49, 50, 51, 56, 57, 59, 60, 61, 62, 63, 64, 65,
              66, 67, 68, 73, 74, 78, 79, 80, 81]
# drum kits (program on channel 10): the test plays the standard kit (0), training the room, power,
# electronic, TR-808, jazz, brush and orchestra kits
TEST_KIT = 0
TRAIN_KITS = [8, 16, 24, 25, 32, 40, 48]
KINDS = ("typing", "mouse", "knock", "tapping", "percussion")
KIND_WEIGHTS = (0.35, 0.15, 0.15, 0.1, 0.25)


def transient(rng: np.random.Generator, f_lo: float, f_hi: float, n_res: int, tau_lo: float, tau_hi: float,
              seconds: float = 0.08) -> np.ndarray:
    """One click or knock: a noise burst of 0.3-3 ms through n_res damped resonators in [f_lo, f_hi] Hz
    (decay times tau_lo..tau_hi s), plus some of the burst itself; peak 1."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    burst = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.0003, 0.003))
    y = burst * rng.uniform(0.1, 0.8)
    for _ in range(n_res):
        f, tau = rng.uniform(f_lo, f_hi), rng.uniform(tau_lo, tau_hi)
        y += rng.uniform(0.3, 1.0) * np.convolve(burst, np.exp(-t / tau) * np.sin(2 * np.pi * f * t))[:n] / (f * tau)
    return y / max(float(np.max(np.abs(y))), 1e-12)


def _place(out: np.ndarray, x: np.ndarray, at: float, gain: float) -> None:
    i = int(at * SR)
    if 0 <= i < out.size:
        m = min(x.size, out.size - i)
        out[i:i + m] += gain * x[:m]


def typing(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A keyboard: 3-6 kinds of key (each a press and a softer release 40-150 ms later) and a lower space
    bar, typed in words of 2-9 keys with pauses."""
    keys = [(transient(rng, 1500, 7000, 3, 0.002, 0.02), transient(rng, 2000, 7500, 2, 0.001, 0.01))
            for _ in range(int(rng.integers(3, 7)))]
    space = (transient(rng, 300, 3000, 3, 0.005, 0.04), transient(rng, 500, 4000, 2, 0.002, 0.02))
    out = np.zeros(n)
    t, keystrokes = float(rng.uniform(0, 0.5)), 0
    speed = rng.uniform(0.6, 1.6)  # a slow or a fast typist
    while t < n / SR:
        for k in range(int(rng.integers(2, 10)) + 1):
            press, release = space if k == 0 else keys[int(rng.integers(len(keys)))]
            g = 10 ** (rng.uniform(-6, 0) / 20)
            _place(out, press, t, g)
            _place(out, release, t + rng.uniform(0.04, 0.15), g * rng.uniform(0.2, 0.7))
            t += rng.lognormal(np.log(0.14), 0.35) / speed
            keystrokes += 1
        if rng.random() < 0.15:
            t += rng.uniform(0.5, 2.5)
    return out, {"keystrokes": keystrokes}


def mouse(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Mouse clicks (press and release 50-120 ms apart), sometimes double, every 0.2-3 s."""
    press, release = transient(rng, 2000, 7500, 2, 0.001, 0.008), transient(rng, 2500, 7500, 2, 0.001, 0.006)
    out, t, clicks = np.zeros(n), float(rng.uniform(0, 1.0)), 0
    while t < n / SR:
        for _ in range(2 if rng.random() < 0.25 else 1):
            _place(out, press, t, 1.0)
            _place(out, release, t + rng.uniform(0.05, 0.12), rng.uniform(0.4, 0.9))
            t += rng.uniform(0.15, 0.25)
            clicks += 1
        t += rng.uniform(0.2, 3.0)
    return out, {"clicks": clicks}


def knock(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Knocks on a door or a desk: groups of 2-5, 0.12-0.3 s apart, groups 0.5-3 s apart."""
    out, t, knocks = np.zeros(n), float(rng.uniform(0, 1.0)), 0
    while t < n / SR:
        for _ in range(int(rng.integers(2, 6))):
            _place(out, transient(rng, 80, 900, 3, 0.01, 0.06, seconds=0.25), t, 10 ** (rng.uniform(-4, 0) / 20))
            t += rng.uniform(0.12, 0.3)
            knocks += 1
        t += rng.uniform(0.5, 3.0)
    return out, {"knocks": knocks}


def tapping(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A pen tapped on a desk: nearly regular, 0.12-0.6 s apart, in runs with pauses."""
    tap = transient(rng, 800, 5000, 3, 0.003, 0.03)
    period = rng.uniform(0.12, 0.6)
    out, t, taps = np.zeros(n), float(rng.uniform(0, period)), 0
    while t < n / SR:
        _place(out, tap, t, 10 ** (rng.uniform(-3, 0) / 20))
        t += period * rng.uniform(0.9, 1.1)
        taps += 1
        if rng.random() < 0.08:
            t += rng.uniform(0.5, 2.0)
    return out, {"taps": taps}


def percussion(n: int, rng: np.random.Generator, keys=TRAIN_KEYS, kits=TRAIN_KITS) -> tuple[np.ndarray, dict]:
    """Recorded percussion (fluidsynth, FluidR3): single hits of one to three keys at irregular times, or a
    steady beat, 0.08-0.6 s apart, with pauses."""
    kit = int(rng.choice(kits))
    chosen = [int(k) for k in rng.choice(keys, size=int(rng.integers(1, 4)), replace=False)]
    steady = rng.random() < 0.3
    step = rng.uniform(0.15, 0.5)
    notes, t = [], float(rng.uniform(0, 0.5))
    while t < n / SR:
        notes.append((t, 0.05, 9, chosen[int(rng.integers(len(chosen)))], int(rng.integers(30, 120))))
        t += step if steady else rng.uniform(0.08, 0.6)
        if rng.random() < 0.06:
            t += rng.uniform(0.5, 2.5)
    # one beat a second: the note times above are seconds
    x = nonspeech.render_midi(nonspeech.midi_bytes(notes, {9: kit}, 60.0), n / SR)
    if np.max(np.abs(x)) < 1e-4 and len(kits) > 1:
        # a kit without samples on these keys (FluidR3's TR-808 has none on 65 and 66): the next kit plays them
        kit = int(kits[(list(kits).index(kit) + 1) % len(kits)])
        x = nonspeech.render_midi(nonspeech.midi_bytes(notes, {9: kit}, 60.0), n / SR)
    x = np.pad(x, (0, max(0, n - x.size)))[:n]  # n / SR * SR can round below n
    return x, {"kit": kit, "keys": chosen, "steady": bool(steady), "hits": len(notes)}


GENERATORS = {"typing": typing, "mouse": mouse, "knock": knock, "tapping": tapping, "percussion": percussion}


def _finish(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A room's noise under the impulses (p 0.8; pink, brown or white, 10-40 dB below them), then a level
    of -45..-15 dBFS RMS, peaks kept under 0.99."""
    info: dict = {}
    if rng.random() < 0.8:
        colour = ["pink", "brown", "white"][int(rng.integers(3))]
        snr = float(rng.uniform(10, 40))
        x = channel.add_noise(x, channel.coloured_noise(x.size, colour, rng), snr)
        info.update(room_noise=colour, snr_db=round(snr, 1))
    level = float(rng.uniform(-45, -15))
    x = channel.apply_gain(nonspeech._level(x, level), 0.0)
    return x, {**info, "dbfs": round(level, 1)}


def seeded_clip(module, split: str, index: int, seconds: float, finish, name: str) -> tuple[np.ndarray, dict]:
    """Clip `index` of a training or validation split from a module's GENERATORS (a kind drawn by its
    KIND_WEIGHTS from the seed (SEED_ROOT, split, module.STREAM, index)), then `finish`ed; shared by this
    module and alerts.py."""
    rng = np.random.default_rng([nonspeech.SEED_ROOT, nonspeech.SPLIT_ID[split], module.STREAM, index])
    kind = module.KINDS[int(rng.choice(len(module.KINDS), p=module.KIND_WEIGHTS))]
    x, info = module.GENERATORS[kind](int(seconds * SR), rng)
    if np.max(np.abs(x)) < 1e-4:
        raise RuntimeError(f"silent {name} clip {split} {index}: {info}")
    x, more = finish(x, rng)
    return x, {"kind": f"{name} ({kind})", **info, **more}


def clip(split: str, index: int, seconds: float) -> tuple[np.ndarray, dict]:
    """Impulsive clip `index` of a split (the test's: `test_clip`)."""
    if split == "test":
        return test_clip(index, seconds)
    return seeded_clip(sys.modules[__name__], split, index, seconds, _finish, "impulses")


def test_clip(index: int, seconds: float) -> tuple[np.ndarray, dict]:
    """Held-out impulsive clip: even indices recorded percussion on TEST_KEYS in the standard kit, odd ones
    synthetic typing from the test's seeds."""
    rng = np.random.default_rng([nonspeech.SEED_ROOT, nonspeech.SPLIT_ID["test"], STREAM, index])
    n = int(seconds * SR)
    if index % 2 == 0:
        x, info = percussion(n, rng, keys=TEST_KEYS, kits=[TEST_KIT])
        kind = "percussion"
    else:
        x, info = typing(n, rng)
        kind = "typing"
    if np.max(np.abs(x)) < 1e-4:
        raise RuntimeError(f"silent impulsive test clip {index}: {info}")
    x, more = _finish(x, rng)
    return x, {"kind": f"impulses ({kind})", **info, **more}
