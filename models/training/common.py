"""Shared constants and helpers for the emotiondetect training scripts.

Everything here is deliberately small and dependency-free (numpy only) so the
other scripts agree on labels, folds, paths and metrics.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = MODELS_DIR.parent
CACHE_DIR = MODELS_DIR / ".cache"
RESULTS_DIR = MODELS_DIR / "results"
CHECKPOINT_DIR = MODELS_DIR / "checkpoints"
ONNX_PATH = MODELS_DIR / "reslstm-sa-16k.onnx"
PARITY_PATH = REPO_DIR / "tests" / "fixtures" / "model_parity.json"

# The shared data sits beside the repository; RAVDESS_DIR overrides it.
DATA_DIR = Path(os.environ.get("RAVDESS_DIR", str(REPO_DIR.parent / "shared" / "data" / "ravdess-16k")))
EXTRACTOR = Path(
    os.environ.get(
        "EMOTIONDETECT_FEATURES",
        str(REPO_DIR / "target" / "release" / "emotiondetect-features"),
    )
)

LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
N_CLASSES = len(LABELS)
N_ACTORS = 24

# Speaker-independent 5-fold protocol (see /work/shared/data/README.md).
FOLDS = [
    {"test": [2, 5, 14, 15, 16], "val": [3, 6]},
    {"test": [3, 6, 7, 13, 18], "val": [10, 11]},
    {"test": [10, 11, 12, 19, 20], "val": [8, 17]},
    {"test": [8, 17, 21, 23, 24], "val": [1, 14]},
    {"test": [1, 4, 9, 22], "val": [2, 5]},
]
# Validation actors of the shipped model (fold-0 validation actors); all
# other actors train it.
FINAL_VAL_ACTORS = [3, 6]

# Element-style evaluation: 3 s windows every 1 s, silent windows skipped.
SAMPLE_RATE = 16000
WINDOW_SAMPLES = 3 * SAMPLE_RATE
WINDOW_STEP = 1 * SAMPLE_RATE
SILENCE_DBFS = -50.0


def fold_split(fold: int) -> tuple[list[int], list[int], list[int]]:
    """Return (train, val, test) actor lists of a fold."""
    f = FOLDS[fold]
    test, val = list(f["test"]), list(f["val"])
    assert not set(test) & set(val)
    train = [a for a in range(1, N_ACTORS + 1) if a not in test and a not in val]
    return train, val, test


def final_split() -> tuple[list[int], list[int]]:
    val = list(FINAL_VAL_ACTORS)
    train = [a for a in range(1, N_ACTORS + 1) if a not in val]
    return train, val


def parse_name(name: str) -> dict:
    """Parse a RAVDESS file name `03-01-EE-II-SS-RR-AA(.flac)`."""
    stem = Path(name).name.split(".")[0]
    parts = [int(p) for p in stem.split("-")]
    if len(parts) != 7 or parts[0] != 3 or parts[1] != 1:
        raise ValueError(f"not a RAVDESS audio-only speech file name: {name}")
    return {
        "emotion": parts[2] - 1,  # 0..7, index into LABELS
        "intensity": parts[3],
        "statement": parts[4],
        "repetition": parts[5],
        "actor": parts[6],
    }


def list_clips(data_dir: Path = DATA_DIR) -> list[Path]:
    clips = sorted(data_dir.glob("Actor_*/03-01-*.flac"))
    if not clips:
        raise FileNotFoundError(f"no RAVDESS FLAC files under {data_dir}")
    return clips


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def confusion(y_true, y_pred, n: int = N_CLASSES) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def metrics_from_cm(cm: np.ndarray) -> dict:
    """UAR (mean per-class recall over classes present), accuracy, recalls."""
    support = cm.sum(axis=1)
    present = support > 0
    recall = np.where(present, np.diag(cm) / np.maximum(support, 1), np.nan)
    return {
        "uar": float(np.nanmean(recall)),
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "recall": [None if np.isnan(r) else float(r) for r in recall],
        "confusion": cm.tolist(),
        "n": int(cm.sum()),
    }


def metrics(y_true, y_pred) -> dict:
    return metrics_from_cm(confusion(y_true, y_pred))
