# SPDX-License-Identifier: MPL-2.0
"""Voice perturbation: pitch and vocal-tract length changed independently (numpy/scipy only).

`channel.change_speed` moves pitch, formants and tempo together, as a tape played faster.
Speakers differ in pitch and in vocal-tract length independently, so `perturb` moves them
apart: the pitch by a phase-vocoder time stretch followed by resampling (duration kept),
the spectral envelope by warping a cepstrally smoothed envelope along frequency while the
harmonics stay where they are (vocal-tract length perturbation done on the audio, so the
features still come from the project's extractor).

Kept out of `channel` on purpose: the bank cache key covers a module's source, and this
one only enters the keys of the conditions that use it (`extract._code_hash`).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import ndimage, signal

SR = 16000
N_FFT, HOP = 1024, 256
# the envelope: the log spectrum's upper hull over 300 Hz (it bridges the gaps between harmonics up to that
# pitch), floored 80 dB below the frame's peak, then smoothed by a cepstral lifter (quefrencies below 1.5 ms)
HULL_HZ = 300.0
FLOOR_DB = 80.0
LIFTER_S = 0.0015
PITCH_RANGE = (0.8, 1.25)
FORMANT_RANGE = (0.87, 1.15)
P_VOICE = 0.6


def _stft(x: np.ndarray) -> np.ndarray:
    return signal.stft(x, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")[2]


def _istft(z: np.ndarray, n: int) -> np.ndarray:
    y = signal.istft(z, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")[1]
    return np.pad(y, (0, max(0, n - y.size)))[:n]


def time_stretch(x: np.ndarray, rate: float) -> np.ndarray:
    """x played `rate` times as fast, pitch kept (phase vocoder): about x.size / rate samples."""
    z = _stft(x)
    steps = np.arange(0.0, z.shape[1] - 1, rate)
    advance = 2 * np.pi * HOP * np.arange(z.shape[0]) / N_FFT
    phase = np.angle(z[:, 0])
    out = np.empty((z.shape[0], steps.size), dtype=complex)
    for j, s in enumerate(steps):
        i, frac = int(s), s - int(s)
        out[:, j] = ((1 - frac) * np.abs(z[:, i]) + frac * np.abs(z[:, i + 1])) * np.exp(1j * phase)
        d = np.angle(z[:, i + 1]) - np.angle(z[:, i]) - advance
        phase = phase + advance + d - 2 * np.pi * np.round(d / (2 * np.pi))
    return _istft(out, int(round(x.size / rate)))


def shift_pitch(x: np.ndarray, factor: float) -> np.ndarray:
    """Pitch and spectral envelope times `factor`, same length: stretched by the vocoder, then resampled."""
    ratio = Fraction(factor).limit_denominator(200)
    if ratio == 1:
        return x.copy()
    y = signal.resample_poly(time_stretch(x, 1 / factor), ratio.denominator, ratio.numerator)
    return np.pad(y, (0, max(0, x.size - y.size)))[: x.size]


def warp_envelope(x: np.ndarray, factor: float, sr: int = SR) -> np.ndarray:
    """The spectral envelope stretched along frequency by `factor` (a formant at f moves to factor·f), the
    harmonic fine structure and the phase of each frame kept."""
    if factor == 1:
        return x.copy()
    z = _stft(x)
    log_mag = np.log(np.abs(z) + 1e-12)
    log_mag = np.maximum(log_mag, log_mag.max(axis=0) - FLOOR_DB / 20 * np.log(10))
    hull = ndimage.maximum_filter1d(log_mag, size=int(round(HULL_HZ * N_FFT / sr)) | 1, axis=0, mode="nearest")
    cep = np.fft.irfft(hull, n=N_FFT, axis=0)
    q = int(round(LIFTER_S * sr))
    cep[q: N_FFT - q + 1] = 0.0
    env = np.fft.rfft(cep, axis=0).real
    bins = np.arange(z.shape[0], dtype=float)
    warped = np.stack([np.interp(bins / factor, bins, env[:, t]) for t in range(z.shape[1])], axis=1)
    return _istft(z * np.exp(warped - env), x.size)


def perturb(x: np.ndarray, pitch: float, formant: float, sr: int = SR) -> np.ndarray:
    """x with its pitch times `pitch` and its spectral envelope times `formant`, same length and RMS."""
    y = shift_pitch(x, pitch)
    y = warp_envelope(y, formant / pitch, sr)
    return y * np.sqrt(np.mean(x**2) / max(np.mean(y**2), 1e-20))


def draw(rng: np.random.Generator) -> tuple[float, float] | None:
    """(pitch, formant) factors, log-uniform in their ranges, with probability P_VOICE; else None. Always
    three draws, so what follows on the generator does not depend on the outcome."""
    on = rng.random() < P_VOICE
    pitch = float(np.exp(rng.uniform(*np.log(PITCH_RANGE))))
    formant = float(np.exp(rng.uniform(*np.log(FORMANT_RANGE))))
    return (pitch, formant) if on else None
