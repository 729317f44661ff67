# SPDX-License-Identifier: MPL-2.0
"""Training items of both lengths (numpy only; config `mix_lengths`).

The element classifies 3 s windows. EmoDB's clips are 2 s, RAVDESS's and the
non-speech clips 3 s or more, and with length buckets (config `bucket`) a
batch holds one length class, so the length of an input alone would tell
EmoDB from RAVDESS and from non-speech, and EmoDB speech would never be
heard in a window as long as the element's. `length_classes` mixes the
classes: a share of the long clips joins the short class (the batch crops
them to its length), and a share of the short clips is joined end to end with
another training clip of the same speaker and emotion (a tuple of items) and
joins the long class.

`data` is data.Data (features, speech, corpus, speaker, label of an item).
"""
from __future__ import annotations

import numpy as np


def sequence(data, item, condition: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, speech flags) of a training item: one clip, or a tuple of clips joined end to end
    (one recording condition for all of them)."""
    if isinstance(item[0], tuple):
        parts = [sequence(data, it, condition) for it in item]
        return np.concatenate([f for f, _ in parts]), np.concatenate([sp for _, sp in parts])
    return data.features(item, condition), data.speech(item, condition)


def first(item):
    """The clip that gives a (possibly joined) item its label, corpus and speaker."""
    return item[0] if isinstance(item[0], tuple) else item


def nonspeech_to_short(long: np.ndarray, nonspeech: np.ndarray, share: float,
                       rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's [long, short] classes (indices) with `ns_short`: each long non-speech item joins the short
    class with probability `share` (the batch crops it to the short length), so short batches (EmoDB's 2 s
    clips) hold non-speech too; speech stays in its own class."""
    move = long & nonspeech & (rng.random(long.size) < share)
    return [np.flatnonzero(long & ~move), np.flatnonzero(~long | move)]


def length_classes(data, tr: list, long: np.ndarray, share: float, rng: np.random.Generator) -> list[list]:
    """One epoch's [long, short] classes of training items (`mix_lengths`): a share of the long items moves
    to the short class; a share of the short ones is joined with a partner (same speaker and emotion, another
    training clip) and moves to the long class."""
    partners: dict[tuple, list[int]] = {}
    for k, it in enumerate(tr):
        if data.corpus(it) != "nonspeech":
            partners.setdefault((*data.speaker(it), data.label(it)), []).append(k)
    out_long, out_short = [], []
    for k in rng.permutation(len(tr)):
        it, move = tr[k], rng.random() < share
        if long[k]:
            (out_short if move else out_long).append(it)
            continue
        mates = [j for j in partners.get((*data.speaker(it), data.label(it)), []) if j != k] \
            if data.corpus(it) != "nonspeech" else []
        if move and mates:
            out_long.append((it, tr[mates[int(rng.integers(len(mates)))]]))
        else:
            out_short.append(it)
    return [out_long, out_short]
