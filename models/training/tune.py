"""Hyperparameter exploration on VALIDATION actors only.

Each candidate is trained on the 5 CV folds' training actors and scored on the
folds' validation actors; the test actors are never evaluated here (train_run
is called with val_only=True and no test actors). Criterion: mean over runs of
the validation UAR averaged over the last 10% of epochs (less inflated by
checkpoint selection than the best-epoch figure, which is reported too).

    python3 models/training/tune.py --round 1 --seeds 0      # screen single changes
    python3 models/training/tune.py --round 2 --seeds 0      # combine the winners
    python3 models/training/tune.py --round 3 --seeds 0 1    # confirm the best three

Runs already in models/results/tune/ are reused (delete the directory to
retrain); the rounds above are the ones behind models/training/config.json
(= r3-lr1e-2-masks, the best of round 3).

Results: models/results/tune/<name>.json; the chosen configuration is written
by hand to models/training/config.json (see MODEL_CARD.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import features  # noqa: E402
from train import Config, train_run  # noqa: E402

BASE = ["epochs=98", "t0=14", "t_mult=2"]  # three cosine cycles: 14 + 28 + 56 epochs
CANDIDATES: dict[str, list[str]] = {
    "base": BASE,
    "ep60": ["epochs=60", "t0=20", "t_mult=2"],
    "lr3e-3": BASE + ["lr=3e-3"],
    "lr3e-4": BASE + ["lr=3e-4"],
    "wd1e-4": BASE + ["weight_decay=1e-4"],
    "drop0.5": BASE + ["dropout=0.5"],
    "ls0.1": BASE + ["label_smoothing=0.1"],
    "masks": BASE + ["time_masks=2", "time_mask_max=8", "feat_masks=1", "feat_mask_max=6"],
    "mixup0.3": BASE + ["mixup_alpha=0.3"],
    "noise0.1": BASE + ["noise_std=0.1"],
    "crop50": BASE + ["crop=50"],
    "batch16": BASE + ["batch_size=16"],
}
MASKS = ["time_masks=2", "time_mask_max=8", "feat_masks=1", "feat_mask_max=6"]
# round 2 (seed 0): combinations of the round-1 winners (lr 3e-3, masks)
CANDIDATES.update({
    "r2-lr3e-3-masks": BASE + ["lr=3e-3"] + MASKS,
    "r2-lr1e-2": BASE + ["lr=1e-2"],
    "r2-lr3e-3-drop0.5": BASE + ["lr=3e-3", "dropout=0.5"],
    "r2-lr3e-3-ep140": ["epochs=140", "t0=20", "t_mult=2", "lr=3e-3"],
})
# round 3 (seeds 0 and 1): learning rate with masks, stronger masks
CANDIDATES.update({
    "r3-lr1e-2-masks": BASE + ["lr=1e-2"] + MASKS,
    "r3-lr5e-3-masks": BASE + ["lr=5e-3"] + MASKS,
    "r3-lr3e-3-masks-strong": BASE + ["lr=3e-3", "time_masks=3", "time_mask_max=10", "feat_masks=2", "feat_mask_max=8"],
})
ROUNDS = {
    1: ["base", "ep60", "lr3e-3", "lr3e-4", "wd1e-4", "drop0.5", "ls0.1", "masks", "mixup0.3", "noise0.1",
        "crop50", "batch16"],
    2: ["r2-lr3e-3-masks", "r2-lr1e-2", "r2-lr3e-3-drop0.5", "r2-lr3e-3-ep140"],
    3: ["r3-lr1e-2-masks", "r3-lr5e-3-masks", "r3-lr3e-3-masks-strong"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--only", nargs="*", help="candidate names (default: all)")
    ap.add_argument("--round", type=int, choices=sorted(ROUNDS), help="the candidates of one round")
    ap.add_argument("--extra", nargs="*", default=[], metavar="NAME:K=V,K=V", help="ad-hoc candidates")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cands = dict(CANDIDATES)
    for e in args.extra:
        name, kv = e.split(":", 1)
        cands[name] = kv.split(",")
    names = args.only or (ROUNDS[args.round] if args.round else list(cands))
    fs = features.build_or_load(progress=False)
    out_dir = common.RESULTS_DIR / "tune"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        cfg = Config.from_overrides(cands[name])
        path = out_dir / f"{name}.json"
        done = json.loads(path.read_text()) if path.exists() else {"name": name, "config": asdict(cfg), "runs": []}
        if done["config"] != asdict(cfg):
            done = {"name": name, "config": asdict(cfg), "runs": []}
        have = {(r["fold"], r["seed"]) for r in done["runs"]}
        for seed in args.seeds:
            for fold in args.folds:
                if (fold, seed) in have:
                    continue
                tr, va, _ = common.fold_split(fold)
                r, _ = train_run(fs, tr, va, [], cfg, seed, desc=f"{name} f{fold} s{seed}", val_only=True)
                done["runs"].append({"fold": fold, "seed": seed, "val_uar": r["val_uar"],
                                     "val_uar_last": r["val_uar_last"], "best_epoch": r["best_epoch"],
                                     "train_seconds": r["train_seconds"],
                                     "val_uar_curve": [round(h["val_uar"], 4) for h in r["history"]]})
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(done, separators=(",", ":")))
        runs = [r for r in done["runs"] if r["seed"] in args.seeds and r["fold"] in args.folds]
        last = np.array([r["val_uar_last"] for r in runs])
        best = np.array([r["val_uar"] for r in runs])
        rows.append((name, last.mean(), last.std(ddof=1) if len(last) > 1 else 0.0, best.mean(), len(runs),
                     np.mean([r["train_seconds"] for r in runs])))
        print(f"{name:12s} val UAR last {last.mean():.4f} ± {rows[-1][2]:.4f} | best-epoch {best.mean():.4f} "
              f"| {len(runs)} runs, {rows[-1][5]:.0f} s/run", flush=True)
    print("\nranked by validation UAR (last 10% of epochs):")
    for name, m, s, b, n, t in sorted(rows, key=lambda r: -r[1]):
        print(f"  {name:12s} {m:.4f} ± {s:.4f}   best-epoch {b:.4f}   ({n} runs)")


if __name__ == "__main__":
    main()
