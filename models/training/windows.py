# SPDX-License-Identifier: MPL-2.0
"""The element's window rule, once, for every evaluation (numpy only).

The element classifies 3 s windows every 1 s, starting at the first sample:
window k covers samples [k*sr, k*sr + 3*sr) while it fits in the clip; a
clip shorter than one window is one window covering it (the tail rule never
fires with these defaults). A window uses the frames lying wholly inside it
(frames are not centred: frame j covers [j*hop, j*hop + n_fft)); that is 74
frames of 80 ms every 40 ms. A window is skipped when its RMS is below the
silence threshold (-60 dBFS, the element's default). A classified window's
label is the argmax over every label but `non-speech`; a window whose argmax
is `non-speech` is not classified. The stream's summary is the
duration-weighted mean of the classified windows' probabilities with
`non-speech` removed and the rest renormalised.

The element can also gate windows by the share of frames its rule-based
voice activity detector (core/src/vad.rs) calls speech (`min-speech-ratio`;
automatic: 0.05 of speech or noise frames for models with a `non-speech`
output, 0.2 of speech frames without). It is not replicated here;
speech_gate.py measures it.
"""
from __future__ import annotations

import numpy as np

WINDOW_SECONDS = 3
STEP_SECONDS = 1
SILENCE_DBFS = -60.0


def window_starts(n_samples: int, sr: int) -> list[tuple[int, int]]:
    """(start, length) of the element's windows over a clip of n_samples at rate sr."""
    win, step = WINDOW_SECONDS * sr, STEP_SECONDS * sr
    if n_samples < win:
        return [(0, n_samples)]
    return [(s, win) for s in range(0, n_samples - win + 1, step)]


def window_frames(start: int, length: int, hop: int, n_fft: int) -> tuple[int, int]:
    """Half-open range [j0, j1) of the frames lying wholly inside [start, start + length)."""
    j0 = -(-start // hop)
    last = (start + length - n_fft) // hop
    return j0, max(j0, last + 1)


def rms_dbfs(x: np.ndarray) -> float:
    """RMS in dB re amplitude 1 (-inf for digital silence)."""
    ms = float(np.mean(np.square(np.asarray(x, dtype=np.float64)))) if np.size(x) else 0.0
    return 10.0 * np.log10(ms) if ms > 0 else float("-inf")


def windows_of(x: np.ndarray, sr: int) -> list[tuple[int, int, float]]:
    """(start, length, rms_dbfs) of every window of clip x."""
    return [(s, n, rms_dbfs(x[s:s + n])) for s, n in window_starts(x.size, sr)]


def emotion_probs(p: np.ndarray, non_speech: int) -> np.ndarray:
    """Probabilities without `non-speech`, renormalised (what the element reports), same width with 0 there."""
    q = np.array(p, dtype=np.float64)
    q[..., non_speech] = 0.0
    return q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-30)


def gate(window_probs: np.ndarray, window_db: np.ndarray, non_speech: int,
         silence_dbfs: float = SILENCE_DBFS) -> np.ndarray:
    """Boolean mask of the windows the element classifies (loud enough, argmax not non-speech)."""
    p = np.asarray(window_probs)
    loud = np.asarray(window_db) >= silence_dbfs
    if non_speech is None or p.size == 0:
        return loud
    return loud & (np.argmax(p, axis=-1) != non_speech)


def summary(window_probs: np.ndarray, window_len: np.ndarray, classified: np.ndarray,
            non_speech: int) -> np.ndarray | None:
    """The element's summary probabilities of one clip, or None if no window was classified."""
    if not np.any(classified):
        return None
    w = np.asarray(window_len, dtype=np.float64)[classified]
    q = emotion_probs(np.asarray(window_probs)[classified], non_speech)
    return (q * w[:, None]).sum(axis=0) / w.sum()
