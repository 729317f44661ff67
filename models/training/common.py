# SPDX-License-Identifier: MPL-2.0
"""Labels, corpora, speakers, folds, paths and metrics shared by every module (numpy only).

Label set of the models, in output order (`LABELS`): the 8 RAVDESS emotions,
EmoDB's `boredom`, and `non-speech`. Each corpus trains only the labels it has
(its own emotions plus `non-speech`); the logits of the others are masked for
its examples (`CORPUS_MASK`). Non-speech examples train against all labels.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = MODELS_DIR.parent
CACHE_DIR = MODELS_DIR / ".cache"
RESULTS_DIR = MODELS_DIR / "results"
DATA_ROOT = REPO_DIR.parent / "shared" / "data"
RAVDESS_DIR = Path(os.environ.get("RAVDESS_DIR", str(DATA_ROOT / "ravdess-16k")))
EMODB_DIR = Path(os.environ.get("EMODB_DIR", str(DATA_ROOT / "emodb-16k")))
EXTRACTOR = Path(os.environ.get("EMOTIONDETECT_FEATURES",
                                str(REPO_DIR / "target" / "release" / "emotiondetect-features")))

LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised", "boredom",
          "non-speech"]
N_LABELS = len(LABELS)
NON_SPEECH = LABELS.index("non-speech")
EMOTIONS = list(range(NON_SPEECH))  # every label but non-speech: what the element reports

RAVDESS_LABELS = list(range(8))
EMODB_CODES = {"N": "neutral", "F": "happy", "T": "sad", "W": "angry", "A": "fearful", "E": "disgust",
               "L": "boredom"}
EMODB_LABELS = sorted(LABELS.index(v) for v in EMODB_CODES.values())
# The 6 classes both corpora share; RAVDESS calm counts as neutral.
SHARED6 = ["neutral", "happy", "sad", "angry", "fearful", "disgust"]

CORPORA = ("ravdess", "emodb", "nonspeech")
CORPUS_MASK = {
    "ravdess": RAVDESS_LABELS + [NON_SPEECH],
    "emodb": EMODB_LABELS + [NON_SPEECH],
    "nonspeech": list(range(N_LABELS)),
}
# Labels an evaluation on a corpus takes its argmax over.
EVAL_LABELS = {"ravdess": RAVDESS_LABELS, "emodb": EMODB_LABELS}
# binary arousal and valence of each emotion (Schuller et al. 2010's mapping of categories for cross-corpus work,
# extended by us to calm, which their corpora lack; train.py's av_weight): 1 high arousal / positive valence, 0 low /
# negative; non-speech has neither
AROUSAL = {"neutral": 0, "calm": 0, "happy": 1, "sad": 0, "angry": 1, "fearful": 1, "disgust": 0, "surprised": 1,
           "boredom": 0}
VALENCE = {"neutral": 1, "calm": 1, "happy": 1, "sad": 0, "angry": 0, "fearful": 0, "disgust": 0, "surprised": 1,
           "boredom": 0}

# RAVDESS speaker-independent 5-fold protocol (../shared/data/README.md).
RAVDESS_FOLDS = [
    {"test": [2, 5, 14, 15, 16], "val": [3, 6]},
    {"test": [3, 6, 7, 13, 18], "val": [10, 11]},
    {"test": [10, 11, 12, 19, 20], "val": [8, 17]},
    {"test": [8, 17, 21, 23, 24], "val": [1, 14]},
    {"test": [1, 4, 9, 22], "val": [2, 5]},
]
# EmoDB: 5 folds of one male and one female speaker; fold k validates on the pair of fold k+1.
EMODB_MALE = [3, 10, 11, 12, 15]
EMODB_FEMALE = [8, 9, 13, 14, 16]
EMODB_PAIRS = [[m, f] for m, f in zip(EMODB_MALE, EMODB_FEMALE)]
EMODB_FOLDS = [{"test": EMODB_PAIRS[k], "val": EMODB_PAIRS[(k + 1) % 5]} for k in range(5)]
# The shipped 16 kHz and 8 kHz models validate on RAVDESS actors 3 and 6 (the demo's actors,
# never trained on) and on EmoDB pair 0 (speakers 3, 8).
FINAL_VAL = {"ravdess": [3, 6], "emodb": [3, 8]}


@dataclass(frozen=True)
class Clip:
    path: Path
    corpus: str
    speaker: int  # actor / speaker number within the corpus (0 for non-speech)
    label: int  # index into LABELS
    group: int  # RAVDESS/EmoDB: index of the CV fold that tests this speaker


def ravdess_group(actor: int) -> int:
    return next(k for k, f in enumerate(RAVDESS_FOLDS) if actor in f["test"])


def emodb_group(speaker: int) -> int:
    return next(k for k, p in enumerate(EMODB_PAIRS) if speaker in p)


def parse_ravdess(name: str) -> tuple[int, int]:
    """(label, actor) of `03-01-EE-II-SS-RR-AA.flac`."""
    parts = [int(p) for p in Path(name).name.split(".")[0].split("-")]
    if len(parts) != 7 or parts[0] != 3 or parts[1] != 1:
        raise ValueError(f"not a RAVDESS audio-only speech file name: {name}")
    return parts[2] - 1, parts[6]


_EMODB_RE = re.compile(r"^(\d\d)([ab]\d\d)([NFTWAEL])([a-z])$")


def parse_emodb(name: str) -> tuple[int, int]:
    """(label, speaker) of `SSTTTEV.flac`, e.g. `03a01Fa.flac`."""
    m = _EMODB_RE.match(Path(name).name.split(".")[0])
    if not m:
        raise ValueError(f"not an EmoDB file name: {name}")
    return LABELS.index(EMODB_CODES[m.group(3)]), int(m.group(1))


def list_ravdess(root: Path = RAVDESS_DIR) -> list[Clip]:
    out = []
    for p in sorted(root.glob("Actor_*/03-01-*.flac")):
        label, actor = parse_ravdess(p.name)
        out.append(Clip(p, "ravdess", actor, label, ravdess_group(actor)))
    if not out:
        raise FileNotFoundError(f"no RAVDESS clips under {root}")
    return out


def list_emodb(root: Path = EMODB_DIR) -> list[Clip]:
    out = []
    for p in sorted(root.glob("*.flac")):
        label, spk = parse_emodb(p.name)
        out.append(Clip(p, "emodb", spk, label, emodb_group(spk)))
    if not out:
        raise FileNotFoundError(f"no EmoDB clips under {root}")
    return out


def cv_split(fold: int) -> dict:
    """Speakers of combined fold `fold`: {corpus: {"train", "val", "test"}}."""
    out = {}
    for corpus, folds, speakers in (("ravdess", RAVDESS_FOLDS, range(1, 25)),
                                    ("emodb", EMODB_FOLDS, EMODB_MALE + EMODB_FEMALE)):
        f = folds[fold]
        out[corpus] = {"test": list(f["test"]), "val": list(f["val"]),
                       "train": sorted(s for s in speakers if s not in f["test"] and s not in f["val"])}
    return out


def move_val_to_train(split: dict, k: int) -> dict:
    """The split with the k-th validation speaker of each corpus (0 or 1) moved into its training speakers; the
    other validation speaker stays to judge (lever (h) of the model card)."""
    out = {}
    for corpus, c in split.items():
        if len(c["val"]) != 2:
            raise ValueError(f"{corpus}: need two validation speakers, not {c['val']}")
        moved = c["val"][k]
        out[corpus] = {**c, "val": [s for s in c["val"] if s != moved], "train": sorted([*c["train"], moved])}
    return out


def final_split() -> dict:
    out = {}
    for corpus, speakers in (("ravdess", range(1, 25)), ("emodb", EMODB_MALE + EMODB_FEMALE)):
        val = FINAL_VAL[corpus]
        out[corpus] = {"train": sorted(s for s in speakers if s not in val), "val": list(val), "test": []}
    return out


def confusion(y_true, y_pred, n: int) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def metrics_from_cm(cm: np.ndarray) -> dict:
    """UAR (mean recall over the classes present), accuracy, recalls, confusion."""
    support = cm.sum(axis=1)
    present = support > 0
    recall = np.where(present, np.diag(cm) / np.maximum(support, 1), np.nan)
    return {"uar": float(np.nanmean(recall)), "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
            "recall": [None if np.isnan(r) else round(float(r), 4) for r in recall],
            "confusion": cm.tolist(), "n": int(cm.sum())}


def restricted_argmax(probs: np.ndarray, labels: list[int]) -> np.ndarray:
    """Argmax over `labels` only, returned as indices into LABELS."""
    labels = np.asarray(labels)
    return labels[np.argmax(np.asarray(probs)[:, labels], axis=1)]


def decision(probs: dict[str, float] | None, labels: list[int], emotion: str | None = None) -> tuple[int, int]:
    """A clip's decision from its probabilities by label name: the element's own label (`emotion` when given,
    as a summary names it; else the argmax over all the labels) and the argmax over the corpus's `labels`;
    NON_SPEECH for both without probabilities (no decision counts as wrong: NON_SPEECH is never a true label
    of speech)."""
    if probs is None:
        return NON_SPEECH, NON_SPEECH
    own = emotion if emotion is not None else max(probs, key=probs.get)
    return LABELS.index(own), max(labels, key=lambda q: probs.get(LABELS[q], 0.0))


def decision_uars(y: list[int], pred: list[int], pred_r: list[int]) -> tuple[float, float]:
    """The UAR of decisions over the corpus's labels (`pred_r`) and of the element's own labels (`pred`)."""
    uar_r = metrics_from_cm(confusion(y, pred_r, N_LABELS))["uar"]
    return uar_r, metrics_from_cm(confusion(y, pred, N_LABELS))["uar"]


def summary_probs(summary: dict | None) -> dict[str, float] | None:
    """The probabilities by label of an `emotion-summary` (a dict with `labels` and `probabilities`; None: no
    window was classified)."""
    return None if summary is None else dict(zip(summary["labels"], summary["probabilities"]))


def shared6(probs: np.ndarray) -> np.ndarray:
    """[n, 6] probabilities of SHARED6 (calm added to neutral) for the cross-corpus task."""
    p = np.asarray(probs, dtype=np.float64)
    out = np.stack([p[:, LABELS.index(k)] for k in SHARED6], axis=1)
    out[:, 0] += p[:, LABELS.index("calm")]
    return out


def to_shared6(label: int) -> int:
    """Index into SHARED6 of a LABELS index (-1 if the label is not shared)."""
    name = "neutral" if LABELS[label] == "calm" else LABELS[label]
    return SHARED6.index(name) if name in SHARED6 else -1


def json_default(o):
    """numpy values as lists, anything else unknown as its string (results files)."""
    return o.tolist() if hasattr(o, "tolist") else str(o)


def write_json(path: Path, obj) -> Path:
    """Writes `obj` as every results file is written: JSON with indent 1 and a final newline, numpy values as
    plain numbers (json_default). Returns the path."""
    path.write_text(json.dumps(obj, indent=1, default=json_default) + "\n")
    return path


def write_rule_result(name: str, out: dict) -> None:
    """Writes a rule's result to models/results/<name>.json and prints its summary and where it went."""
    path = write_json(RESULTS_DIR / f"{name}.json", out)
    print(json.dumps(out["summary"]))
    print(f"-> {path}")


def merge_json(path: Path, update, default: dict | None = None, lock_dir: Path = CACHE_DIR) -> dict:
    """Read-modify-write of a results file: `update(d)` changes the file's dict (`default` when there is none)
    in place. Under an exclusive lock (a file in `lock_dir`) and written atomically, so evaluations run at the
    same time keep each other's entries. Returns the dict written."""
    import fcntl
    import json

    lock_dir.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        d = json.loads(path.read_text()) if path.exists() else dict(default or {})
        update(d)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            write_json(tmp, d)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return d
