# SPDX-License-Identifier: MPL-2.0
"""Speaker adaptation: features standardised by statistics of the speaker's own speech (numpy only).

The element (core/src/adapt.rs) does this per analysed channel, during the
stream; training simulates it. Both follow one rule:

- the statistics are those of every speech frame seen so far on the channel
  (the element's voice-activity flag, `extract.Bank.clip_speech`), count n, sums
  s1 and s2, warm-started with `prior_frames` (n0) frames of the training
  statistics (mean mu0, std sd0, the graph's own normalisation):
      m = (n0 mu0 + s1) / (n0 + n)
      s = sqrt(max((n0 (sd0^2 + mu0^2) + s2) / (n0 + n) - m^2, 0)), at least min_std_ratio * sd0
- the model is fed x' = mu0 + sd0 (x - m) / s, so the graph's normalisation
  (x' - mu0) / sd0 yields (x - m) / s; with n = 0 nothing changes.

The prior is written into the model's metadata (`emotiondetect.adaptation`),
from which the element reads it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

FORMAT = 1


@dataclass(frozen=True)
class Prior:
    mean: np.ndarray  # [F] float64
    std: np.ndarray  # [F] float64, > 0
    frames: float = 100.0
    min_std_ratio: float = 0.1

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "prior_frames": float(self.frames),
                           "min_std_ratio": float(self.min_std_ratio),
                           "mean": [float(v) for v in np.asarray(self.mean, dtype=np.float32)],
                           "std": [float(v) for v in np.asarray(self.std, dtype=np.float32)]},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Prior":
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise ValueError(f"adaptation format {d.get('format')!r}, expected {FORMAT}")
        return cls(np.asarray(d["mean"], dtype=np.float32).astype(np.float64),
                   np.asarray(d["std"], dtype=np.float32).astype(np.float64),
                   float(d["prior_frames"]), float(d["min_std_ratio"]))

    def rounded(self) -> "Prior":
        """The prior as the element reads it back (float32 mean and std)."""
        return Prior.from_json(self.to_json())


@dataclass
class Stats:
    """Count, sum and sum of squares of speech frames."""

    n: float
    s1: np.ndarray
    s2: np.ndarray

    @classmethod
    def zero(cls, n_features: int) -> "Stats":
        return cls(0.0, np.zeros(n_features), np.zeros(n_features))

    @classmethod
    def of(cls, frames: np.ndarray, speech: np.ndarray) -> "Stats":
        x = np.asarray(frames, dtype=np.float64)[np.asarray(speech, dtype=bool)]
        return cls(float(x.shape[0]), x.sum(axis=0), (x * x).sum(axis=0))

    def __add__(self, other: "Stats") -> "Stats":
        return Stats(self.n + other.n, self.s1 + other.s1, self.s2 + other.s2)


def total(stats, n_features: int) -> Stats:
    """The sum of an iterable of Stats (in order; empty: zero)."""
    out = Stats.zero(n_features)
    for st in stats:
        out.n += st.n
        out.s1 += st.s1
        out.s2 += st.s2
    return out


def mean_std(stats: Stats, prior: Prior) -> tuple[np.ndarray, np.ndarray]:
    w = prior.frames + stats.n
    m = (prior.frames * prior.mean + stats.s1) / w
    q = (prior.frames * (prior.std ** 2 + prior.mean ** 2) + stats.s2) / w
    s = np.sqrt(np.maximum(q - m * m, 0.0))
    return m, np.maximum(s, prior.min_std_ratio * prior.std)


def apply(frames: np.ndarray, stats: Stats | None, prior: Prior) -> np.ndarray:
    """Frames [T, F] (or [B, T, F] with one `stats` for all) as the element feeds them to the model."""
    if stats is None:
        return np.asarray(frames, dtype=np.float32)
    m, s = mean_std(stats, prior)
    x = np.asarray(frames, dtype=np.float64)
    return (prior.mean + prior.std * (x - m) / s).astype(np.float32)


def streaming_stats(frames: np.ndarray, speech: np.ndarray, upto: int, before: Stats | None = None) -> Stats:
    """Statistics when a window ending before frame `upto` is classified: the speech frames of this
    clip up to there, plus `before` (what the channel saw earlier)."""
    own = Stats.of(frames[:upto], speech[:upto])
    return own if before is None else own + before


def pooled(means: list[np.ndarray], stds: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of several sets of frames together, from each set's mean and standard
    deviation (each set's count equal)."""
    mean = np.mean(means, axis=0)
    second = np.mean([s ** 2 + m ** 2 for m, s in zip(means, stds)], axis=0)
    return mean, np.sqrt(np.maximum(second - mean ** 2, 0.0))


def ensemble_normalisation(priors: list[Prior | None], adaptations: list[str | None], means: list[np.ndarray],
                           stds: list[np.ndarray]) -> tuple[Prior | None, np.ndarray, np.ndarray, str]:
    """An ensemble's adaptation prior (None without adaptation), its graph normalisation (mean, std) and how they
    were made, from its members' priors, their records' `adaptation` entries and their own normalisation (used
    without adaptation only)."""
    if all(p is None for p in priors):
        # global normalisation (adapt=0): the pooled statistics of the members' own normalisation
        mean, std = pooled(means, stds)
        return None, mean, std, "none: global normalisation by the pooled statistics of the members'"
    if any(p is None for p in priors):
        raise SystemExit("members with and without speaker adaptation")
    if all(a == adaptations[0] for a in adaptations):
        prior, how = priors[0], "shared by the members"
    else:
        if len({(p.frames, p.min_std_ratio) for p in priors}) != 1:
            raise SystemExit("members with different prior_frames or min_std_ratio")
        mean, std = pooled([p.mean for p in priors], [p.std for p in priors])
        prior = Prior(mean, std, priors[0].frames, priors[0].min_std_ratio).rounded()
        how = "pooled statistics of the members' priors"
    return prior, prior.mean, prior.std, how
