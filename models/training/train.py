"""Train ResLSTM-SA on RAVDESS speech with the element's own features.

Commands (run from the repository root):

    # 5-fold speaker-independent CV, one run per fold and seed; writes
    # models/results/cv-<tag>/fold<F>_seed<S>.json, summary.json and
    # models/checkpoints/cv-<tag>/fold<F>_seed<S>.pt
    python3 models/training/train.py cv --seeds 0 1 2

    # hyperparameter exploration: same, but the test actors are never
    # evaluated (only validation-actor figures are written)
    python3 models/training/train.py cv --seeds 0 --val-only --tag tune-x --set lr=3e-3

    # shipped model: all actors except FINAL_VAL_ACTORS (3, 6), checkpoint
    # chosen on those; writes models/checkpoints/final.pt and exports
    # models/reslstm-sa-16k.onnx + tests/fixtures/model_parity.json
    python3 models/training/train.py final

Everything is seeded; torch uses one thread.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import evaluation  # noqa: E402
import features  # noqa: E402
from model import ResLSTMSA, count_parameters  # noqa: E402


@dataclass
class Config:
    hidden: int = 64
    epochs: int = 60
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    dropout: float = 0.3
    # cosine annealing with warm restarts, stepped every batch
    t0: int = 20
    t_mult: int = 2
    eta_min: float = 1e-5
    grad_clip: float = 1.0
    # random crops of this many frames (40 ms hop: 75 frames = 3 s); a batch is
    # cropped to min(crop, shortest clip in the batch) so no padding is needed
    crop: int = 75
    # regularisation (feature level, so no re-extraction needed)
    label_smoothing: float = 0.0
    time_masks: int = 0  # number of time masks per example
    time_mask_max: int = 8  # frames
    feat_masks: int = 0  # number of feature masks per example
    feat_mask_max: int = 6  # features
    mixup_alpha: float = 0.0  # 0 disables mixup
    noise_std: float = 0.0  # Gaussian noise added to normalised features

    @classmethod
    def from_overrides(cls, overrides: list[str], base: "Config | None" = None) -> "Config":
        cfg = copy.deepcopy(base) if base else cls()
        types = {f.name: f.type for f in fields(cls)}
        for o in overrides:
            k, v = o.split("=", 1)
            if k not in types:
                raise SystemExit(f"unknown hyperparameter {k}; known: {sorted(types)}")
            cur = getattr(cfg, k)
            setattr(cfg, k, type(cur)(float(v)) if isinstance(cur, int) else type(cur)(v))
        return cfg


# Chosen on validation actors only (see models/MODEL_CARD.md, "Protocol").
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "config.json"


def default_config() -> Config:
    if DEFAULT_CONFIG_PATH.exists():
        return Config(**json.loads(DEFAULT_CONFIG_PATH.read_text()))
    return Config()


def make_batch(fs, idx, crop: int, rng: np.random.Generator) -> torch.Tensor:
    lens = [fs.n_frames(int(i)) for i in idx]
    L = min(crop, min(lens))
    out = np.empty((len(idx), L, fs.n_features), dtype=np.float32)
    for k, i in enumerate(idx):
        start = int(rng.integers(0, lens[k] - L + 1))
        out[k] = fs.clip(int(i))[start : start + L]
    return torch.from_numpy(out)


def augment(z: torch.Tensor, cfg: Config, rng: np.random.Generator) -> torch.Tensor:
    """Feature-level augmentation of normalised features z (B,T,F); masked values are 0 (= mean)."""
    B, T, Fdim = z.shape
    if cfg.time_masks or cfg.feat_masks:
        mask = np.ones((B, T, Fdim), dtype=np.float32)
        for b in range(B):
            for _ in range(cfg.time_masks):
                w = int(rng.integers(0, cfg.time_mask_max + 1))
                if 0 < w < T:
                    s = int(rng.integers(0, T - w + 1))
                    mask[b, s : s + w, :] = 0
            for _ in range(cfg.feat_masks):
                w = int(rng.integers(0, cfg.feat_mask_max + 1))
                if 0 < w < Fdim:
                    s = int(rng.integers(0, Fdim - w + 1))
                    mask[b, :, s : s + w] = 0
        z = z * torch.from_numpy(mask)
    if cfg.noise_std > 0:
        z = z + cfg.noise_std * torch.randn_like(z)
    return z


def class_recall_uar(y, probs) -> float:
    return evaluation.uar(y, probs)


def train_run(fs, train_actors, val_actors, test_actors, cfg: Config, seed: int,
              desc: str = "", val_only: bool = False, progress: bool = True) -> tuple[dict, dict]:
    """Train one model; returns (result dict, best state_dict)."""
    common.seed_everything(seed)
    rng = np.random.default_rng(seed)
    tr = fs.indices(train_actors)
    va = fs.indices(val_actors)
    y_tr = torch.from_numpy(fs.emotion[tr])
    y_va = fs.emotion[va]

    # normalisation statistics over the training actors' frames only
    frames = np.concatenate([fs.clip(int(i)) for i in tr]).astype(np.float64)
    mean, std = frames.mean(axis=0), frames.std(axis=0)

    model = ResLSTMSA(fs.n_features, cfg.hidden, common.N_CLASSES, cfg.dropout)
    model.set_normalisation(mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=cfg.t0, T_mult=cfg.t_mult, eta_min=cfg.eta_min)
    steps = math.ceil(len(tr) / cfg.batch_size)

    best = {"uar": -1.0, "loss": math.inf, "epoch": -1}
    best_state = None
    history = []
    t_start = time.time()
    bar = tqdm(range(cfg.epochs), desc=desc or "train", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        perm = rng.permutation(len(tr))
        tot_loss = 0.0
        for step in range(steps):
            sel = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            if len(sel) < 2:  # BatchNorm needs more than one example
                continue
            x = make_batch(fs, tr[sel], cfg.crop, rng)
            y = y_tr[sel]
            z = augment(model.normalise(x), cfg, rng)
            if cfg.mixup_alpha > 0:
                lam = float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
                j = torch.from_numpy(rng.permutation(len(sel)))
                z = lam * z + (1 - lam) * z[j]
                logits, _ = model.forward_normalised(z)
                loss = lam * F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing) + (
                    1 - lam
                ) * F.cross_entropy(logits, y[j], label_smoothing=cfg.label_smoothing)
            else:
                logits, _ = model.forward_normalised(z)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step(epoch + (step + 1) / steps)
            tot_loss += float(loss.detach()) * len(sel)
        # validation: whole clips
        p_va = evaluation.predict_clips(model, fs, va)
        v_uar = evaluation.uar(y_va, p_va)
        v_loss = float(F.nll_loss(torch.log(torch.from_numpy(p_va).clamp_min(1e-12)), torch.from_numpy(y_va)))
        history.append({"epoch": epoch + 1, "train_loss": tot_loss / len(tr), "val_uar": v_uar, "val_loss": v_loss})
        if v_uar > best["uar"] or (v_uar == best["uar"] and v_loss < best["loss"]):
            best = {"uar": v_uar, "loss": v_loss, "epoch": epoch + 1}
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{tot_loss / len(tr):.3f}", val_uar=f"{v_uar:.3f}", best=f"{best['uar']:.3f}@{best['epoch']}")
    train_seconds = time.time() - t_start

    model.load_state_dict(best_state)
    temperature = evaluation.fit_temperature(model, fs, va)
    best_state = copy.deepcopy(model.state_dict())
    result = {
        "seed": seed,
        "train_actors": list(map(int, train_actors)),
        "val_actors": list(map(int, val_actors)),
        "test_actors": None if val_only else list(map(int, test_actors)),
        "config": asdict(cfg),
        "n_parameters": count_parameters(model),
        "best_epoch": best["epoch"],
        "val_uar": best["uar"],
        "val_loss": best["loss"],
        "temperature": temperature,
        # less selection-biased figure used to compare hyperparameters
        "val_uar_last": float(np.mean([h["val_uar"] for h in history[-max(5, cfg.epochs // 10):]])),
        "train_seconds": round(train_seconds, 1),
        "history": history,
        "features_params": fs.params,
        "extractor_sha256": fs.extractor_sha256,
        "features_sha256": fs.feats_sha256,
    }
    if not val_only and test_actors:
        te = fs.indices(test_actors)
        p_clip = evaluation.predict_clips(model, fs, te)
        p_elem, wstats = evaluation.predict_element(model, fs, te)
        y_te = fs.emotion[te]
        result.update({
            "test_names": [str(n) for n in fs.names[te]],
            "y": y_te.tolist(),
            "probs_clip": np.round(p_clip, 5).tolist(),
            "probs_element": np.round(p_elem, 5).tolist(),
            "test_clip": common.metrics(y_te, p_clip.argmax(1)),
            "test_element": common.metrics(y_te, p_elem.argmax(1)),
            "element_windows": wstats,
        })
    return result, best_state


def cmd_cv(args) -> None:
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cfg = Config.from_overrides(args.set, default_config())
    fs = features.build_or_load()
    tag = f"cv-{args.tag}"
    res_dir = common.RESULTS_DIR / tag
    ck_dir = common.CHECKPOINT_DIR / tag
    res_dir.mkdir(parents=True, exist_ok=True)
    if not args.val_only:
        ck_dir.mkdir(parents=True, exist_ok=True)
    print(f"config: {json.dumps(asdict(cfg))}")
    print(f"parameters: {count_parameters(ResLSTMSA(fs.n_features, cfg.hidden, dropout=cfg.dropout))}")
    t0 = time.time()
    runs = []
    for seed in args.seeds:
        for fold in args.folds:
            tr, va, te = common.fold_split(fold)
            out = res_dir / f"fold{fold}_seed{seed}.json"
            if out.exists() and not args.force:
                r = json.loads(out.read_text())
                if r["config"] == asdict(cfg):
                    print(f"fold {fold} seed {seed}: cached ({out})")
                    runs.append(r)
                    continue
            r, state = train_run(fs, tr, va, [] if args.val_only else te, cfg, seed,
                                 desc=f"fold {fold} seed {seed}", val_only=args.val_only)
            r["fold"] = fold
            r["tag"] = tag
            res_dir.mkdir(parents=True, exist_ok=True)
            if not args.val_only:
                ck_dir.mkdir(parents=True, exist_ok=True)
                torch.save(state, ck_dir / f"fold{fold}_seed{seed}.pt")
            out.write_text(json.dumps(r, separators=(",", ":")))
            msg = f"fold {fold} seed {seed}: best epoch {r['best_epoch']} val UAR {r['val_uar']:.4f}"
            if not args.val_only:
                msg += f" | test UAR clip {r['test_clip']['uar']:.4f} element {r['test_element']['uar']:.4f}"
            print(msg + f" ({r['train_seconds']:.0f} s)", flush=True)
            runs.append(r)
    summary = {
        "tag": tag,
        "config": asdict(cfg),
        "val_only": args.val_only,
        "val_uar_mean": float(np.mean([r["val_uar"] for r in runs])),
        "val_uar_std": float(np.std([r["val_uar"] for r in runs], ddof=1)) if len(runs) > 1 else 0.0,
        "best_epochs": [r["best_epoch"] for r in runs],
        "wall_seconds": round(time.time() - t0, 1),
    }
    if not args.val_only:
        summary["clip"] = evaluation.summarise(runs, "clip")
        summary["element"] = evaluation.summarise(runs, "element")
        summary["element_decided"] = evaluation.summarise(runs, "element", only_decided=True)
    (res_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"validation UAR {summary['val_uar_mean']:.4f} ± {summary['val_uar_std']:.4f} over {len(runs)} runs")
    if not args.val_only:
        for k in ("clip", "element", "element_decided"):
            s = summary[k]
            print(f"test UAR ({k}): {s['uar_mean']:.4f} ± {s['uar_std']:.4f} (runs); "
                  f"pooled {s['pooled_uar_mean']:.4f}; coverage {s['coverage']:.3f}")
    print(f"wrote {res_dir / 'summary.json'} ({summary['wall_seconds']:.0f} s)")


def cmd_final(args) -> None:
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cfg = Config.from_overrides(args.set, default_config())
    fs = features.build_or_load()
    tr, va = common.final_split()
    print(f"config: {json.dumps(asdict(cfg))}")
    print(f"train actors {tr}, validation actors {va}")
    r, state = train_run(fs, tr, va, [], cfg, args.seed, desc="final", val_only=True)
    r["fold"] = None
    r["tag"] = "final"
    common.CHECKPOINT_DIR.mkdir(parents=True, exist_ok=True)
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    torch.save(state, common.CHECKPOINT_DIR / "final.pt")
    (common.RESULTS_DIR / "final.json").write_text(json.dumps(r, separators=(",", ":")))
    print(f"final: best epoch {r['best_epoch']} val UAR {r['val_uar']:.4f} ({r['train_seconds']:.0f} s)")
    import export

    export.export(cv_tag=f"cv-{args.cv_tag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    cv = sub.add_parser("cv", help="5-fold speaker-independent cross-validation")
    cv.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    cv.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    cv.add_argument("--tag", default="main")
    cv.add_argument("--val-only", action="store_true", help="never evaluate test actors (tuning)")
    cv.add_argument("--force", action="store_true", help="retrain even if a result exists")
    cv.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override hyperparameters")
    fi = sub.add_parser("final", help="train and export the shipped model")
    fi.add_argument("--seed", type=int, default=0)
    fi.add_argument("--cv-tag", default="main", help="CV run whose figures go into the ONNX metadata")
    fi.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    {"cv": cmd_cv, "final": cmd_final}[args.cmd](args)


if __name__ == "__main__":
    main()
