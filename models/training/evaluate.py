"""Reproduce the model card's figures from the saved CV checkpoints.

    python3 models/training/evaluate.py [--tag cv-main]

For every run of the CV (models/results/<tag>/fold<F>_seed<S>.json) this loads
models/checkpoints/<tag>/fold<F>_seed<S>.pt, recomputes the features of the
fold's TEST actors with the Rust extractor (cached), predicts them (a) per
clip from whole-clip features and (b) as the element does (3 s windows every
1 s, windows below -50 dBFS skipped, duration-weighted mean of window
probabilities), checks that the result matches the one recorded at training
time, and prints mean ± std over runs / folds / seeds and the pooled
out-of-fold UAR. It writes models/results/<tag>/evaluation.json and
models/confusion_matrix.png (pooled over all folds and seeds). Nothing is
retrained; if checkpoints are missing, `train.py cv` retrains them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import evaluation  # noqa: E402
import features  # noqa: E402
from model import ResLSTMSA  # noqa: E402


def plot_confusions(summaries: dict[str, dict], titles: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summaries), figsize=(6.2 * len(summaries), 5.6))
    for ax, (k, s) in zip(np.atleast_1d(axes), summaries.items()):
        cm = np.asarray(s["confusion_pooled_all"], dtype=float)
        rec = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(rec, cmap="Blues", vmin=0, vmax=1)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, f"{100 * rec[i, j]:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if rec[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(common.LABELS)), common.LABELS, rotation=45, ha="right")
        ax.set_yticks(range(len(common.LABELS)), common.LABELS)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{titles[k]}\nUAR {s['uar_pooled_all']:.3f}, {int(cm.sum())} decisions (% of row)", fontsize=10)
    fig.suptitle("ResLSTM-SA h64, RAVDESS speech, 5-fold speaker-independent CV, pooled over folds and seeds",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fmt(s: dict) -> str:
    rec = " ".join(f"{l[:4]} {r:.2f}" for l, r in zip(common.LABELS, s["recall_pooled_all"]))
    return (
        f"UAR {s['uar_mean']:.4f} ± {s['uar_std']:.4f} (runs; std over folds {s['uar_std_over_folds']:.4f}, "
        f"over seeds {s['uar_std_over_seeds']:.4f}; min {s['uar_min']:.4f} max {s['uar_max']:.4f})\n"
        f"    pooled out-of-fold UAR {s['pooled_uar_mean']:.4f} ± {s['pooled_uar_std']:.4f} (seeds); "
        f"accuracy {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}; coverage {s['coverage']:.3f}; "
        f"NLL {s['nll_mean']:.3f}, ECE {s['ece_mean']:.3f}\n"
        f"    per fold {', '.join(f'{v:.3f}' for v in s['uar_per_fold'].values())}\n"
        f"    recall (pooled) {rec}"
    )


def markdown(out: dict) -> str:
    rows = [("(a) per clip, whole clip", out["clip"]),
            ("(b) element windows, every clip", out["element"]),
            ("(b') element windows, clips with a non-silent window only", out["element_decided"])]
    lines = [
        f"| evaluation | UAR mean ± std ({out['clip']['n_runs']} runs) | std over folds | std over seeds | pooled UAR (mean ± std over seeds) | accuracy mean ± std | coverage | NLL | ECE |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['uar_mean']:.4f} ± {s['uar_std']:.4f} | {s['uar_std_over_folds']:.4f} | "
            f"{s['uar_std_over_seeds']:.4f} | {s['pooled_uar_mean']:.4f} ± {s['pooled_uar_std']:.4f} | "
            f"{s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f} | {100 * s['coverage']:.1f} % | "
            f"{s['nll_mean']:.3f} | {s['ece_mean']:.3f} |"
        )
    lines += ["", "| fold (test actors) | " + " | ".join(n for n, _ in rows[:2]) + " |", "| --- | --- | --- |"]
    for f in out["clip"]["uar_per_fold"]:
        lines.append(f"| {f} ({', '.join(map(str, common.FOLDS[int(f)]['test']))}) | "
                     f"{out['clip']['uar_per_fold'][f]:.4f} | {out['element']['uar_per_fold'][f]:.4f} |")
    lines += ["", "| class | " + " | ".join(n for n, _ in rows) + " |", "| --- | --- | --- | --- |"]
    for k, label in enumerate(common.LABELS):
        lines.append(f"| {label} | " + " | ".join(f"{s['recall_pooled_all'][k]:.3f}" for _, s in rows) + " |")
    lines.append("| **UAR of the pooled matrix** | " + " | ".join(f"{s['uar_pooled_all']:.4f}" for _, s in rows) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag", default="cv-main")
    ap.add_argument("--silence-db", type=float, default=common.SILENCE_DBFS,
                    help="silence threshold of the element-style evaluation (default -50 dBFS); a "
                         "non-default value writes evaluation_silence<db>.json and no PNG")
    args = ap.parse_args()
    default_threshold = args.silence_db == common.SILENCE_DBFS
    common.SILENCE_DBFS = args.silence_db
    torch.set_num_threads(1)
    res_dir = common.RESULTS_DIR / args.tag
    ck_dir = common.CHECKPOINT_DIR / args.tag
    files = sorted(res_dir.glob("fold*_seed*.json"))
    if not files:
        raise SystemExit(f"no runs in {res_dir}; run `python3 models/training/train.py cv` (trains from scratch)")
    fs = features.build_or_load(progress=False)
    runs, worst = [], 0.0
    from tqdm import tqdm

    for f in tqdm(files, desc="runs"):
        rec = json.loads(f.read_text())
        ck = ck_dir / (f.stem + ".pt")
        if not ck.exists():
            raise SystemExit(f"{ck} missing; `python3 models/training/train.py cv --force` retrains it")
        if rec["features_sha256"] != fs.feats_sha256:
            print(f"WARNING: {f.name} was trained on different features than the extractor now computes",
                  file=sys.stderr)
        cfg = rec["config"]
        model = ResLSTMSA(fs.n_features, cfg["hidden"], common.N_CLASSES, cfg["dropout"])
        model.load_state_dict(torch.load(ck, weights_only=True))
        model.eval()
        te = fs.indices(rec["test_actors"])
        assert [str(n) for n in fs.names[te]] == rec["test_names"]
        p_clip = evaluation.predict_clips(model, fs, te)
        p_elem, wstats = evaluation.predict_element(model, fs, te)
        worst = max(worst, float(np.abs(p_clip - np.asarray(rec["probs_clip"])).max()),
                    float(np.abs(p_elem - np.asarray(rec["probs_element"])).max()))
        runs.append({"fold": rec["fold"], "seed": rec["seed"], "y": fs.emotion[te].tolist(),
                     "probs_clip": p_clip, "probs_element": p_elem, "element_windows": wstats,
                     "best_epoch": rec["best_epoch"], "val_uar": rec["val_uar"]})
    out = {
        "tag": args.tag,
        "max_abs_diff_vs_training_record": worst,
        "val_uar_mean": float(np.mean([r["val_uar"] for r in runs])),
        "best_epochs": [r["best_epoch"] for r in runs],
        "clip": evaluation.summarise(runs, "clip"),
        "element": evaluation.summarise(runs, "element"),
        "element_decided": evaluation.summarise(runs, "element", only_decided=True),
        "element_windows": {k: int(sum(r["element_windows"][k] for r in runs))
                            for k in ("windows", "skipped_silent", "clips_all_silent")},
    }
    out["silence_threshold_dbfs"] = args.silence_db
    out_path = res_dir / ("evaluation.json" if default_threshold else f"evaluation_silence{args.silence_db:g}.json")
    out_path.write_text(json.dumps(out, indent=1))
    out_path.with_suffix(".md").write_text(markdown(out))
    titles = {"clip": "(a) per clip, whole-clip features",
              "element": "(b) element: 3 s windows every 1 s, silent skipped"}
    if default_threshold:
        plot_confusions({k: out[k] for k in titles}, titles, common.MODELS_DIR / "confusion_matrix.png")
    n_runs = len(runs)
    print(f"{args.tag}: {n_runs} runs, folds {out['clip']['folds']}, seeds {out['clip']['seeds']}; "
          f"max |p - recorded| = {worst:.2g}")
    print(f"validation UAR (checkpoint choice) {out['val_uar_mean']:.4f}")
    print("(a) per clip:             " + fmt(out["clip"]))
    print("(b) element windows:      " + fmt(out["element"]))
    print("(b') element, decided only: " + fmt(out["element_decided"]))
    w = out["element_windows"]
    print(f"element windows: {w['windows']} (x runs), {w['skipped_silent']} below {common.SILENCE_DBFS} dBFS, "
          f"{w['clips_all_silent']} clip decisions with every window silent (fallback: all windows)")
    print(f"wrote {out_path}" + (f" and {common.MODELS_DIR / 'confusion_matrix.png'}" if default_threshold else ""))


if __name__ == "__main__":
    main()
