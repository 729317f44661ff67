# SPDX-License-Identifier: MPL-2.0
"""The training data of a run: the banks of every group at one rate, the items of a split, a speaker's other
clips, the class weights (numpy only, so the unit tests need no torch; train.py trains on it)."""
from __future__ import annotations

import numpy as np

from . import adapt, common, extract
from .lengths import first

# Training versions of each clip: the clean one and one augmented copy, drawn with equal probability
# (chosen on validation speakers over clean-only and clean + 3 copies; see the model card).
DEFAULT_CONDITIONS = ["clean", "aug1"]


class Data:
    """Banks of every group under the training conditions at one rate."""

    def __init__(self, rate: int, conditions=tuple(DEFAULT_CONDITIONS), pitch: bool = True,
                 remove_dc: bool = True, score_music: bool = True, n_mfcc: int = extract.N_MFCC,
                 n_chroma: int = extract.N_CHROMA, impulses: bool = False, alerts: bool = False):
        self.rate, self.conditions = rate, list(conditions)
        self.clips = {g: extract.clips_of(g) for g in ("ravdess", "emodb", "ns-train", "ns-val")}
        n_gen = extract.NS_COUNT["ns-train"]
        self.ns_train = list(extract.ns_earlier("ns-train") if score_music else range(n_gen)) + \
            (list(extract.ns_impulses("ns-train")) if impulses else []) + \
            (list(extract.ns_alerts("ns-train")) if alerts else [])
        self.ns_val = list(extract.ns_earlier("ns-val")) + (list(extract.ns_impulses("ns-val")) if impulses else []) + \
            (list(extract.ns_alerts("ns-val")) if alerts else [])
        opts = {"pitch": pitch, "remove_dc": remove_dc, "n_mfcc": n_mfcc, "n_chroma": n_chroma}
        self.banks = {}
        for g in ("ravdess", "emodb", "ns-train"):
            for c in self.conditions:
                self.banks[(g, c)] = extract.load(g, c, rate, progress=False, **opts)
        self.banks[("ns-val", "clean")] = extract.load("ns-val", "clean", rate, progress=False, **opts)
        for g in ("ravdess", "emodb"):
            self.banks.setdefault((g, "clean"), extract.load(g, "clean", rate, progress=False, **opts))
        b = self.banks[("ravdess", "clean")]
        self.params_json, self.extractor_sha256 = b.params_json, b.extractor_sha256

    def items(self, split: dict, part: str) -> list[tuple[str, int]]:
        """(group, index) of the clips of split[corpus][part] speakers (non-speech: ns-train / ns-val)."""
        out = []
        for corpus in ("ravdess", "emodb"):
            if corpus in split:
                speakers = set(split[corpus][part])
                out += [(corpus, i) for i, c in enumerate(self.clips[corpus]) if c.speaker in speakers]
        if part == "train":
            out += [("ns-train", i) for i in self.ns_train]
        elif part == "val":
            out += [("ns-val", i) for i in self.ns_val]
        return out

    def label(self, item) -> int:
        return self.clips[item[0]][item[1]].label

    def corpus(self, item) -> str:
        return self.clips[item[0]][item[1]].corpus

    def features(self, item, condition: str = "clean") -> np.ndarray:
        return self.banks[(item[0], condition)].clip(item[1])

    def speech(self, item, condition: str = "clean") -> np.ndarray:
        return self.banks[(item[0], condition)].clip_speech(item[1])

    def speaker(self, item) -> tuple[str, int]:
        c = self.clips[item[0]][item[1]]
        return c.corpus, c.speaker

    def context(self, pool: list, k: int, rng: np.random.Generator, conditions) -> adapt.Stats:
        """Summed statistics of k clips of `pool`, each in a random one of `conditions`."""
        chosen = [pool[int(j)] for j in rng.choice(len(pool), size=min(k, len(pool)), replace=False)]
        return adapt.total((self.banks[(g, conditions[int(rng.integers(len(conditions)))])].speech_stats()[i]
                            for g, i in chosen), self.n_features)

    @property
    def n_features(self) -> int:
        return self.banks[("ravdess", "clean")].feats.shape[1]

    def mask(self, item) -> np.ndarray:
        m = np.zeros(common.N_LABELS, dtype=bool)
        m[common.CORPUS_MASK[self.corpus(item)]] = True
        return m


class Speakers:
    """The items of each speaker of a part, for drawing a speaker's other clips."""

    def __init__(self, data: Data, items):
        self.by: dict[tuple[str, int], list] = {}
        for it in items:
            if data.corpus(it) != "nonspeech":
                self.by.setdefault(data.speaker(it), []).append(it)
        self.keys = sorted(self.by)

    def others(self, data: Data, item, rng: np.random.Generator) -> list:
        """The other clips of item's speaker (non-speech: every clip of a random speaker); a joined item
        excludes each of its clips."""
        own = set(item) if isinstance(item[0], tuple) else {item}
        if data.corpus(first(item)) == "nonspeech":
            return self.by[self.keys[int(rng.integers(len(self.keys)))]]
        return [o for o in self.by[data.speaker(first(item))] if o not in own]


def corpus_label(data: Data, item) -> tuple[str, int]:
    """The key of an item's class weight (class_weights)."""
    return data.corpus(first(item)), data.label(first(item))


def class_weights(data: Data, items) -> dict[tuple[str, int], float]:
    """(corpus, label) -> n_corpus / (labels of the corpus * n_label) over the training items: the mean weight of
    a corpus's examples is 1, and each of its labels weighs alike in total."""
    count: dict[tuple[str, int], int] = {}
    for it in items:
        key = corpus_label(data, it)
        count[key] = count.get(key, 0) + 1
    out = {}
    for (corpus, label), n in count.items():
        same = [v for (c, _), v in count.items() if c == corpus]
        out[(corpus, label)] = sum(same) / (len(same) * n)
    return out
