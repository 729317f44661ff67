# SPDX-License-Identifier: MPL-2.0
"""Are the element's confidences honest? (numpy only)

The element reports, per classified window, the argmax over the emotions
(`non-speech` removed, the rest renormalised) and its probability, the
confidence. A user reads that number as "how often is this label right";
the expected calibration error (ECE) measures how far it is from that: the
windows are binned by confidence, and each bin's |accuracy - mean confidence|
is weighted by its share of windows.

A window counts as right when its label is the clip's label (6-class mode
for cross-corpus tests: calm counts as neutral, and a label outside the six
is wrong).

A temperature T divides the logits: with the probabilities p the model gives
at temperature T0, the probabilities at T are softmax((T0 / T) log p). It
never changes a label, so the non-speech gate and every UAR stay as they
are; only the confidences and the summary's averaging move.
"""
from __future__ import annotations

import numpy as np

from . import common, windows

NS = common.NON_SPEECH
BINS = 10
MIN_WINDOWS = 50  # fewer validation windows than this: no refit (the temperature stays)
SCALES = (0.1, 4.0)  # the search range of the logit scale; a fit at either end is refused


def rescaled(p: np.ndarray, scale: float) -> np.ndarray:
    """Emotion probabilities (non-speech removed, renormalised) after multiplying the logits by scale."""
    z = scale * np.log(np.maximum(np.asarray(p, dtype=np.float64), 1e-300))
    z[..., NS] = -np.inf
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def gated(c: dict) -> np.ndarray:
    """The windows of one clip the model's gate classifies (loud, argmax not non-speech), without the element's
    speech ratio (speech_gate.py adds it)."""
    return windows.gate(c["win"], c["db"], NS)


def classified_windows(preds: list[dict], labels: list[int], six: bool = False,
                       keep=gated) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities of every classified window, truth per window) of clips with element window probabilities;
    `keep` gives a clip's classified windows."""
    ps, ys = [], []
    for c, label in zip(preds, labels):
        keep_c = keep(c)
        if np.any(keep_c):
            ps.append(np.asarray(c["win"])[keep_c])
            ys.extend([common.to_shared6(label) if six else label] * int(keep_c.sum()))
    if not ps:
        return np.zeros((0, common.N_LABELS)), np.zeros(0, dtype=int)
    return np.concatenate(ps), np.asarray(ys, dtype=int)


def outcomes(p: np.ndarray, y: np.ndarray, scale: float = 1.0, six: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, right) per window, as the element would report them at the rescaled temperature; a label
    outside the six (six-class mode) is wrong."""
    q = rescaled(p, scale)
    label = q.argmax(axis=-1)
    if six:
        label = np.array([common.to_shared6(int(k)) for k in label], dtype=int)
    return q.max(axis=-1), (label == y) & (label >= 0)


def ece(conf: np.ndarray, right: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error over equal-width confidence bins."""
    if conf.size == 0:
        return float("nan")
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(right[m].mean() - conf[m].mean())
    return float(total)


def reliability(conf: np.ndarray, right: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per confidence bin with windows: its range, windows, mean confidence and accuracy."""
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return [{"bin": [b / bins, (b + 1) / bins], "windows": int(np.sum(which == b)),
             "mean_confidence": round(float(conf[which == b].mean()), 4),
             "accuracy": round(float(right[which == b].mean()), 4)} for b in range(bins) if np.any(which == b)]


def report(p: np.ndarray, y: np.ndarray, scale: float = 1.0, six: bool = False) -> dict:
    """Windows, accuracy, mean confidence, ECE, the share of windows at confidence >= 0.5 (with their accuracy)
    and the reliability bins; None where there are no windows."""
    conf, right = outcomes(p, y, scale, six)
    if conf.size == 0:
        return {"windows": 0, "accuracy": None, "mean_confidence": None, "ece": None, "share_confident": None,
                "accuracy_confident": None, "bins": []}
    sure = conf >= 0.5
    return {"windows": int(conf.size), "accuracy": round(float(right.mean()), 4),
            "mean_confidence": round(float(conf.mean()), 4), "ece": round(ece(conf, right), 4),
            "share_confident": round(float(sure.mean()), 4),
            "accuracy_confident": round(float(right[sure].mean()), 4) if sure.any() else None,
            "bins": reliability(conf, right)}


def fit_scale(p: np.ndarray, y: np.ndarray) -> float | None:
    """The logit scale T0 / T minimising the NLL of the truth under the element's emotion probabilities
    (golden-section search on log scale within SCALES); None, no refit, with fewer than MIN_WINDOWS windows or
    when the optimum lies at an end of the range."""
    if len(y) < MIN_WINDOWS:
        return None
    rows = np.arange(len(y))

    def nll(log_s: float) -> float:
        return float(-np.mean(np.log(np.maximum(rescaled(p, np.exp(log_s))[rows, y], 1e-300))))

    lo, hi = np.log(SCALES[0]), np.log(SCALES[1])
    g = (np.sqrt(5.0) - 1.0) / 2.0
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    while hi - lo > 1e-5:
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    best = (lo + hi) / 2.0
    if min(best - np.log(SCALES[0]), np.log(SCALES[1]) - best) < 1e-3:
        return None
    return float(np.exp(best))
