# SPDX-License-Identifier: MPL-2.0
"""Audio-level degradations: augmentation for training, conditions for testing (numpy/scipy only).

Everything works on float64 mono audio at the corpus rate (16 kHz) and is
driven by an explicit numpy Generator, so each augmented copy is reproducible
from its seed. The telephone channel (`telephone`) turns 16 kHz audio into
8 kHz G.711 audio for the narrowband model.
"""
from __future__ import annotations

import numpy as np
from scipy import signal

SR = 16000
ACTIVE_RANGE_DB = 30.0

# ---------------------------------------------------------------------------
# levels and noises


def active_power(x: np.ndarray, sr: int = SR) -> float:
    """Mean power of the 20 ms blocks within 30 dB of the loudest block (the speech level)."""
    block = sr // 50
    n = (x.size // block) * block
    if n == 0:
        return float(np.mean(x**2)) if x.size else 0.0
    p = np.mean(x[:n].reshape(-1, block) ** 2, axis=1)
    top = p.max()
    if top <= 0:
        return 0.0
    return float(p[p >= top * 10 ** (-ACTIVE_RANGE_DB / 10)].mean())


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power Gaussian noise with power spectrum f^0 (white), 1/f (pink) or 1/f^2 (brown), no DC."""
    w = rng.standard_normal(max(n, 2))
    if colour != "white":
        expo = {"pink": 0.5, "brown": 1.0}[colour]
        spec = np.fft.rfft(w)
        f = np.fft.rfftfreq(w.size)
        scale = np.zeros_like(f)
        scale[1:] = f[1:] ** -expo
        w = np.fft.irfft(spec * scale, n=w.size)
    w = w[:n]
    return w / max(np.sqrt(np.mean(w**2)), 1e-12)


def babble(n: int, talkers: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Unit-power babble: the given utterances (other speakers), each looped from a random offset, summed."""
    out = np.zeros(n)
    for t in talkers:
        t = np.asarray(t, dtype=np.float64)
        t = t / max(np.sqrt(np.mean(t**2)), 1e-12)
        reps = -(-(n + t.size) // t.size)
        tiled = np.tile(t, reps)
        off = int(rng.integers(0, t.size))
        out += tiled[off:off + n]
    return out / max(np.sqrt(np.mean(out**2)), 1e-12)


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float, sr: int = SR) -> np.ndarray:
    """x plus noise scaled to snr_db below x's active level."""
    p = active_power(x, sr)
    return x + np.sqrt(p * 10 ** (-snr_db / 10)) * noise[: x.size]


# ---------------------------------------------------------------------------
# room, speed, spectrum


def synthetic_rir(rt60: float, rng: np.random.Generator, sr: int = SR, drr_db: float = 0.0) -> np.ndarray:
    """Room impulse response: a direct impulse plus exponentially decaying Gaussian noise.

    The tail decays by 60 dB in rt60 seconds, starts 2.5 ms after the direct
    sound and carries drr_db less energy than it (direct-to-reverberant ratio).
    """
    n = int(1.2 * rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: -60 dB at rt60
    tail[: int(0.0025 * sr)] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / max(np.sum(tail**2), 1e-12))
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """x convolved with rir, cut to x's length, scaled back to x's RMS."""
    y = signal.fftconvolve(x, rir)[: x.size]
    return y * np.sqrt(np.mean(x**2) / max(np.mean(y**2), 1e-20))


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Speed perturbation (tempo and pitch by `factor`, as a tape played faster), resampling by 100/round(100·factor)."""
    down = int(round(100 * factor))
    if down == 100:
        return x.copy()
    return signal.resample_poly(x, 100, down)


def eq_tilt(x: np.ndarray, db_per_octave: float, sr: int = SR) -> np.ndarray:
    """Zero-phase spectral tilt around 1 kHz, limited to ±18 dB."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(x.size, 1.0 / sr)
    gain_db = np.clip(db_per_octave * np.log2(np.maximum(f, 50.0) / 1000.0), -18.0, 18.0)
    return np.fft.irfft(spec * 10 ** (gain_db / 20), n=x.size)


def band_limit(x: np.ndarray, low_hz: float, high_hz: float, sr: int = SR) -> np.ndarray:
    """Zero-phase Butterworth band-pass (order 4 per edge)."""
    sos = signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x)


def apply_gain(x: np.ndarray, gain_db: float, peak: float = 0.99) -> np.ndarray:
    """x scaled by gain_db, but never above `peak` (a louder copy is limited, not clipped)."""
    g = 10 ** (gain_db / 20)
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top * g > peak:
        g = peak / max(top, 1e-12)
    return x * g


# ---------------------------------------------------------------------------
# G.711 (segment laws, 8-bit codes) and the telephone channel

MU_BIAS, MU_CLIP = 0x84, 32635
TEL_SR = 8000
TEL_BAND = (300.0, 3400.0)
TEL_SOS = signal.butter(4, list(TEL_BAND), btype="bandpass", fs=TEL_SR, output="sos")
LOSS_PROB = 0.03


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int64)


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """Float samples (full scale 1.0) -> 8-bit mu-law codes (bits inverted as transmitted)."""
    s = _to_int16(x)
    neg = s < 0
    mag = np.minimum(np.abs(s), MU_CLIP) + MU_BIAS
    exp = np.clip(np.floor(np.log2(mag)).astype(np.int64) - 7, 0, 7)
    mant = (mag >> (exp + 3)) & 0x0F
    return (~((neg.astype(np.int64) << 7) | (exp << 4) | mant) & 0xFF).astype(np.uint8)


def mulaw_decode(code: np.ndarray) -> np.ndarray:
    c = ~np.asarray(code, dtype=np.int64) & 0xFF
    exp, mant = (c >> 4) & 0x07, c & 0x0F
    mag = (((mant << 3) + MU_BIAS) << exp) - MU_BIAS
    return np.where(c & 0x80, -mag, mag).astype(np.float64) / 32768.0


def alaw_encode(x: np.ndarray) -> np.ndarray:
    """Float samples -> 8-bit A-law codes (even bits inverted as transmitted)."""
    s = _to_int16(x)
    pos = s >= 0
    mag = np.where(pos, s, -s - 1) >> 3
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


def telephone_band(x16: np.ndarray) -> np.ndarray:
    """16 kHz audio -> 8 kHz audio in the telephone band: resample, 300-3400 Hz band-pass (causal)."""
    return signal.sosfilt(TEL_SOS, signal.resample_poly(np.asarray(x16, dtype=np.float64), 1, 2))


def telephone(x16: np.ndarray, law: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """16 kHz audio -> 8 kHz telephone audio: resample, 300-3400 Hz band-pass (causal), G.711.

    With rng, 3 % of the 20 ms blocks are lost (zeroed) after the codec.
    """
    y = g711(telephone_band(x16), law)
    if rng is not None:
        block = TEL_SR // 50
        n_blocks = -(-y.size // block)
        for b in np.flatnonzero(rng.random(n_blocks) < LOSS_PROB):
            y[b * block:(b + 1) * block] = 0.0
    return y


def upsample_16k(x8: np.ndarray) -> np.ndarray:
    return signal.resample_poly(np.asarray(x8, dtype=np.float64), 2, 1)


# ---------------------------------------------------------------------------
# the training augmentation chain

# Each family can be switched off (ablation) by leaving it out of `families`.
FAMILIES = ("speed", "reverb", "noise", "gain", "eq", "band")
P = {"speed": 0.6, "reverb": 0.4, "noise": 0.7, "eq": 0.5, "band": 0.25}


def augment(x: np.ndarray, rng: np.random.Generator, babble_talkers=None,
            families=FAMILIES, more_babble: bool = False) -> tuple[np.ndarray, dict]:
    """One random augmented copy of x (16 kHz float64) and what was done to it.

    speed 0.9-1.1 (p 0.6); reverberation, RT60 0.2-0.8 s, DRR -3..+10 dB (p 0.4);
    noise white/pink/babble at 0-30 dB SNR (p 0.7; babble needs `babble_talkers`,
    utterances of other training speakers); EQ tilt ±3 dB/octave (p 0.5);
    band-limiting to [50-300 Hz, 3.4-7 kHz] (p 0.25); gain ±20 dB (always, never
    beyond a 0.99 peak). Every draw is made whether or not the family is on,
    so switching one family off leaves the others' draws unchanged.
    `more_babble` (an ablation): white or pink noise becomes babble when the
    noise seed already drawn is even, so babble is 2/3 of the noise instead of
    1/3 and every draw stays the same; without `babble_talkers` babble falls
    back to pink, as always, so there white noise turns pink instead.
    """
    info = {}
    x = np.asarray(x, dtype=np.float64)
    d = {k: rng.random() for k in ("speed", "reverb", "noise", "eq", "band")}
    factor = float(rng.uniform(0.9, 1.1))
    rt60, drr = float(rng.uniform(0.2, 0.8)), float(rng.uniform(-3.0, 10.0))
    rir_seed = int(rng.integers(2**31))
    kind = ["white", "pink", "babble"][int(rng.integers(3))]
    snr = float(rng.uniform(0.0, 30.0))
    noise_seed = int(rng.integers(2**31))
    if more_babble and noise_seed % 2 == 0:
        kind = "babble"
    tilt = float(rng.uniform(-3.0, 3.0))
    low, high = float(rng.uniform(50.0, 300.0)), float(rng.uniform(3400.0, 7000.0))
    gain = float(rng.uniform(-20.0, 20.0))
    if "speed" in families and d["speed"] < P["speed"]:
        x = change_speed(x, factor)
        info["speed"] = round(int(round(100 * factor)) / 100, 2)
    if "reverb" in families and d["reverb"] < P["reverb"]:
        x = reverberate(x, synthetic_rir(rt60, np.random.default_rng(rir_seed), drr_db=drr))
        info["rt60"], info["drr_db"] = round(rt60, 3), round(drr, 2)
    if "noise" in families and d["noise"] < P["noise"]:
        nrng = np.random.default_rng(noise_seed)
        if kind == "babble" and not babble_talkers:
            kind = "pink"
        noise = babble(x.size, babble_talkers, nrng) if kind == "babble" else coloured_noise(x.size, kind, nrng)
        x = add_noise(x, noise, snr)
        info["noise"], info["snr_db"] = kind, round(snr, 2)
    if "eq" in families and d["eq"] < P["eq"]:
        x = eq_tilt(x, tilt)
        info["tilt_db_oct"] = round(tilt, 2)
    if "band" in families and d["band"] < P["band"]:
        x = band_limit(x, low, high)
        info["band_hz"] = [round(low), round(high)]
    if "gain" in families:
        x = apply_gain(x, gain)
        info["gain_db"] = round(gain, 2)
    return x, info
