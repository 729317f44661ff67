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


def rescaled(p: np.ndarray, scale: float) -> np.ndarray:
    """Emotion probabilities (non-speech removed, renormalised) after multiplying the logits by scale."""
    z = scale * np.log(np.maximum(np.asarray(p, dtype=np.float64), 1e-300))
    z[..., NS] = -np.inf
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def classified_windows(preds: list[dict], labels: list[int], six: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities of every classified window, truth per window) of clips with element window probabilities."""
    ps, ys = [], []
    for c, label in zip(preds, labels):
        keep = windows.gate(c["win"], c["db"], NS)
        if np.any(keep):
            ps.append(np.asarray(c["win"])[keep])
            ys.extend([common.to_shared6(label) if six else label] * int(keep.sum()))
    if not ps:
        return np.zeros((0, common.N_LABELS)), np.zeros(0, dtype=int)
    return np.concatenate(ps), np.asarray(ys, dtype=int)


def outcomes(p: np.ndarray, y: np.ndarray, scale: float = 1.0, six: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, right) per window, as the element would report them at the rescaled temperature."""
    q = rescaled(p, scale)
    label = q.argmax(axis=-1)
    if six:
        label = np.array([common.to_shared6(int(k)) for k in label], dtype=int)
    return q.max(axis=-1), label == y


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


def report(p: np.ndarray, y: np.ndarray, scale: float = 1.0, six: bool = False) -> dict:
    """Windows, accuracy, mean confidence, ECE and the share of windows at confidence >= 0.5 (with their accuracy)."""
    conf, right = outcomes(p, y, scale, six)
    sure = conf >= 0.5
    return {"windows": int(conf.size), "accuracy": round(float(right.mean()), 4) if conf.size else None,
            "mean_confidence": round(float(conf.mean()), 4) if conf.size else None,
            "ece": round(ece(conf, right), 4),
            "share_confident": round(float(sure.mean()), 4) if conf.size else None,
            "accuracy_confident": round(float(right[sure].mean()), 4) if sure.any() else None}


def fit_scale(p: np.ndarray, y: np.ndarray) -> float:
    """The logit scale T0 / T minimising the NLL of the truth under the element's emotion probabilities
    (1, no change, without windows)."""
    if len(y) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.1), np.log(4.0), 241))
    rows = np.arange(len(y))
    nll = [-np.mean(np.log(np.maximum(rescaled(p, s)[rows, y], 1e-300))) for s in grid]
    return float(grid[int(np.argmin(nll))])
