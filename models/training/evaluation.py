"""Prediction and metric helpers shared by train.py and evaluate.py."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

import common
from features import FeatureSet
from model import ResLSTMSA


@torch.inference_mode()
def predict_sequences(model: ResLSTMSA, seqs: list[np.ndarray], max_batch: int = 64) -> np.ndarray:
    """Class probabilities [n, 8] of whole sequences (each [T, F]).

    Sequences of equal length are batched together; in eval() mode this gives
    the same result as batch size 1 (no padding, BatchNorm uses running stats).
    """
    model.eval()
    out = np.zeros((len(seqs), model.n_classes), dtype=np.float32)
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(seqs):
        by_len[s.shape[0]].append(i)
    for _, members in sorted(by_len.items()):
        for k in range(0, len(members), max_batch):
            chunk = members[k : k + max_batch]
            x = torch.from_numpy(np.stack([seqs[i] for i in chunk]))
            logits, _ = model(x)
            out[chunk] = torch.softmax(logits, dim=1).numpy()
    return out


def predict_clips(model: ResLSTMSA, fs: FeatureSet, idx) -> np.ndarray:
    """(a) Per-clip probabilities from whole-clip features."""
    return predict_sequences(model, [fs.clip(int(i)) for i in idx])


def predict_element(model: ResLSTMSA, fs: FeatureSet, idx) -> tuple[np.ndarray, dict]:
    """(b) Probabilities "as the element sees it".

    Windows of 3 s every 1 s (whole clip if shorter than 3 s); windows whose raw
    RMS is below -50 dBFS are skipped (if every window of a clip is silent, all
    of them are used so that each clip still gets a decision); the clip's
    probabilities are the duration-weighted mean of the window probabilities.
    stats["decided"][k] is False for a clip the element would not classify at
    all (every window below the silence threshold).
    """
    seqs, owner, weight = [], [], []
    decided = np.ones(len(idx), dtype=bool)
    n_windows = n_skipped = n_fallback = 0
    for k, i in enumerate(idx):
        wins = fs.windows(int(i))
        n_windows += len(wins)
        loud = [w for w in wins if w[4] >= common.SILENCE_DBFS]
        n_skipped += len(wins) - len(loud)
        if not loud:
            loud = wins
            n_fallback += 1
            decided[k] = False
        for s, n, j0, j1, _ in loud:
            seqs.append(fs.clip(int(i))[j0:j1])
            owner.append(k)
            weight.append(n)
    probs = predict_sequences(model, seqs)
    acc = np.zeros((len(idx), probs.shape[1]), dtype=np.float64)
    wsum = np.zeros(len(idx), dtype=np.float64)
    for p, k, w in zip(probs, owner, weight):
        acc[k] += w * p
        wsum[k] += w
    stats = {"windows": n_windows, "skipped_silent": n_skipped, "clips_all_silent": n_fallback,
             "decided": decided.tolist()}
    return (acc / wsum[:, None]).astype(np.float32), stats


@torch.inference_mode()
def fit_temperature(model: ResLSTMSA, fs: FeatureSet, idx) -> float:
    """Temperature minimising the NLL of whole clips idx (validation actors).

    Sets model.temperature and returns it. Grid search over log T in
    [log 0.25, log 25] (a 1-D convex problem; 481 points is plenty).
    """
    model.eval()
    model.temperature.fill_(1.0)
    logits = torch.stack([model(torch.from_numpy(fs.clip(int(i)))[None])[0][0] for i in idx]).double()
    y = torch.from_numpy(fs.emotion[np.asarray(idx)])
    grid = torch.exp(torch.linspace(np.log(0.25), np.log(25.0), 481, dtype=torch.float64))
    nll = torch.stack([torch.nn.functional.cross_entropy(logits / t, y) for t in grid])
    t = float(grid[int(torch.argmin(nll))])
    model.temperature.fill_(t)
    return t


def nll_and_ece(y_true, probs, bins: int = 10) -> tuple[float, float]:
    """Negative log-likelihood and expected calibration error (top label, 10 bins)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    nll = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))
    conf, pred = p.max(1), p.argmax(1)
    ece = 0.0
    for b in range(bins):
        m = (conf > b / bins) & (conf <= (b + 1) / bins)
        if m.any():
            ece += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return nll, float(ece)


def uar(y_true, probs) -> float:
    return common.metrics(y_true, np.argmax(probs, axis=1))["uar"]


def summarise(runs: list[dict], key: str, only_decided: bool = False) -> dict:
    """Aggregate per-run test results (key 'clip' or 'element').

    runs: dicts with 'fold', 'seed', 'y' (labels), f'probs_{key}'.
    Returns mean/std over all runs, std over folds (of the seed-averaged
    per-fold UAR), std over seeds (of the per-seed 5-fold mean), pooled
    out-of-fold UAR per seed, and the confusion matrix pooled over everything.
    only_decided: keep only clips with at least one window above the silence
    threshold (the clips the element actually classifies).
    """
    folds = sorted({r["fold"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    per_run = {}
    pooled_cm = np.zeros((common.N_CLASSES, common.N_CLASSES), dtype=np.int64)
    per_seed_true: dict[int, list] = defaultdict(list)
    per_seed_pred: dict[int, list] = defaultdict(list)
    n_clips = n_kept = 0
    for r in runs:
        pred = np.argmax(np.asarray(r[f"probs_{key}"]), axis=1)
        y = np.asarray(r["y"])
        n_clips += len(y)
        if only_decided:
            keep = np.asarray(r["element_windows"]["decided"], dtype=bool)
            pred, y = pred[keep], y[keep]
        n_kept += len(y)
        m = common.metrics(y, pred)
        per_run[(r["fold"], r["seed"])] = m
        pooled_cm += np.asarray(m["confusion"])
        per_seed_true[r["seed"]].extend(y.tolist())
        per_seed_pred[r["seed"]].extend(pred.tolist())
    cal = []
    for r in runs:
        p = np.asarray(r[f"probs_{key}"])
        y = np.asarray(r["y"])
        if only_decided:
            keep = np.asarray(r["element_windows"]["decided"], dtype=bool)
            p, y = p[keep], y[keep]
        cal.append(nll_and_ece(y, p))
    uars = np.array([m["uar"] for m in per_run.values()])
    accs = np.array([m["accuracy"] for m in per_run.values()])
    fold_means = np.array([np.mean([per_run[(f, s)]["uar"] for s in seeds if (f, s) in per_run]) for f in folds])
    complete_seeds = [s for s in seeds if all((f, s) in per_run for f in folds)]
    seed_means = np.array([np.mean([per_run[(f, s)]["uar"] for f in folds]) for s in complete_seeds])
    pooled = {s: common.metrics(per_seed_true[s], per_seed_pred[s]) for s in complete_seeds}
    pooled_uars = np.array([pooled[s]["uar"] for s in complete_seeds])
    cm_metrics = common.metrics_from_cm(pooled_cm)
    return {
        "n_runs": len(runs),
        "coverage": n_kept / max(n_clips, 1),
        "folds": folds,
        "seeds": seeds,
        "uar_mean": float(uars.mean()),
        "uar_std": float(uars.std(ddof=1)) if len(uars) > 1 else 0.0,
        "uar_min": float(uars.min()),
        "uar_max": float(uars.max()),
        "accuracy_mean": float(accs.mean()),
        "accuracy_std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
        "uar_per_fold": {int(f): float(v) for f, v in zip(folds, fold_means)},
        "uar_std_over_folds": float(fold_means.std(ddof=1)) if len(fold_means) > 1 else 0.0,
        "uar_per_seed": {int(s): float(v) for s, v in zip(complete_seeds, seed_means)},
        "uar_std_over_seeds": float(seed_means.std(ddof=1)) if len(seed_means) > 1 else 0.0,
        "pooled_uar_per_seed": {int(s): float(v) for s, v in zip(complete_seeds, pooled_uars)},
        "pooled_uar_mean": float(pooled_uars.mean()) if len(pooled_uars) else None,
        "pooled_uar_std": float(pooled_uars.std(ddof=1)) if len(pooled_uars) > 1 else 0.0,
        "pooled_accuracy_mean": float(np.mean([pooled[s]["accuracy"] for s in complete_seeds])) if complete_seeds else None,
        "nll_mean": float(np.mean([c[0] for c in cal])),
        "ece_mean": float(np.mean([c[1] for c in cal])),
        "recall_pooled_all": cm_metrics["recall"],
        "uar_pooled_all": cm_metrics["uar"],
        "confusion_pooled_all": pooled_cm.tolist(),
        "per_run": [
            {"fold": int(f), "seed": int(s), "uar": m["uar"], "accuracy": m["accuracy"], "recall": m["recall"]}
            for (f, s), m in sorted(per_run.items())
        ],
    }
