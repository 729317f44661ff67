#!/usr/bin/env python3
"""Score the cross-validation models through the GStreamer element itself.

For every fold/seed checkpoint of a CV run, the model is exported to ONNX
(same graph and metadata as the shipped model) and each of the fold's test
clips goes through `filesrc ! decodebin ! audioconvert ! audioresample !
emotiondetect model-file=… ! fakesink` (examples/classify_files.rs) with the
element's default settings: 3 s windows every 1 s, the tail rule, silence
and speech gating, and the clip's decision from its `emotion-summary`. A
clip with no classified window counts as wrong (and in `coverage`).

    cargo build --release --example classify_files
    python3 models/training/evaluate_element.py [--tag cv-main]

Writes models/results/<tag>/element_pipeline.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import export as export16  # noqa: E402
import features  # noqa: E402
from model import ResLSTMSA  # noqa: E402

CLASSIFY = common.REPO_DIR / "target" / "release" / "examples" / "classify_files"


def export_checkpoint(state_path: Path, cfg: dict, params_json: str, out: Path) -> None:
    model = ResLSTMSA(46, cfg["hidden"], common.N_CLASSES, cfg["dropout"])
    model.load_state_dict(torch.load(state_path, weights_only=True))
    model.eval()
    export16.write_onnx(model, torch.zeros(1, 75, 46), out, {
        "emotiondetect.format": "1",
        "emotiondetect.labels": ",".join(common.LABELS),
        "emotiondetect.features": params_json,
    })


def classify(model_path: Path, clips: list[Path]) -> dict[str, str | None]:
    proc = subprocess.run(
        [str(CLASSIFY), f"model-file={model_path}"],
        input="\n".join(str(c) for c in clips), capture_output=True, text=True, check=True,
    )
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        out[Path(r["file"]).name] = r["emotion"]
    return out


def scores(y_true: list[int], y_pred: list[int]) -> dict:
    """Metrics with a ninth column for "no decision" (never a true class)."""
    return common.metrics_from_cm(common.confusion(y_true, y_pred, n=common.N_CLASSES + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tag", default="cv-main")
    args = ap.parse_args()
    if not CLASSIFY.exists():
        raise SystemExit(f"{CLASSIFY} is missing: cargo build --release --example classify_files")
    torch.set_num_threads(1)
    params_json = features.Extractor().params_json()
    clips = common.list_clips()
    res_dir = common.RESULTS_DIR / args.tag
    ck_dir = common.CHECKPOINT_DIR / args.tag
    runs = []
    pooled: dict[int, tuple[list[int], list[int]]] = {}
    checkpoints = sorted(ck_dir.glob("fold*_seed*.pt"))
    if not checkpoints:
        raise SystemExit(f"no checkpoints in {ck_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        for ck in tqdm(checkpoints, desc="element evaluation"):
            fold, seed = (int(x) for x in ck.stem.replace("fold", "").split("_seed"))
            cfg = json.loads((res_dir / f"fold{fold}_seed{seed}.json").read_text())["config"]
            onnx_path = Path(tmp) / f"{ck.stem}.onnx"
            export_checkpoint(ck, cfg, params_json, onnx_path)
            _, _, test = common.fold_split(fold)
            test_clips = [c for c in clips if common.parse_name(c.name)["actor"] in test]
            decided = classify(onnx_path, test_clips)
            y_true, y_pred = [], []
            for c in test_clips:
                label = common.parse_name(c.name)["emotion"]
                y_true.append(label)
                emotion = decided.get(c.name)
                # No decision counts as wrong: a class nobody predicts.
                y_pred.append(common.LABELS.index(emotion) if emotion else common.N_CLASSES)
            m = scores(y_true, y_pred)
            m.update({"fold": fold, "seed": seed, "coverage": float(np.mean([p < common.N_CLASSES for p in y_pred]))})
            runs.append(m)
            t, p = pooled.setdefault(seed, ([], []))
            t.extend(y_true)
            p.extend(y_pred)
    uars = np.array([r["uar"] for r in runs])
    summary = {
        "tag": args.tag,
        "how": "each test clip through filesrc ! decodebin ! audioconvert ! audioresample ! emotiondetect "
        "(default properties) ! fakesink; decision = emotion of emotion-summary; no decision = wrong",
        "runs": runs,
        "uar_mean": float(uars.mean()),
        "uar_std": float(uars.std(ddof=1)) if len(uars) > 1 else 0.0,
        "accuracy_mean": float(np.mean([r["accuracy"] for r in runs])),
        "coverage_mean": float(np.mean([r["coverage"] for r in runs])),
        "pooled_uar_by_seed": {str(s): scores(t, p)["uar"] for s, (t, p) in pooled.items()},
    }
    out = res_dir / "element_pipeline.json"
    out.write_text(json.dumps(summary, indent=1))
    print(f"element pipeline: UAR {summary['uar_mean']:.4f} ± {summary['uar_std']:.4f} over {len(runs)} runs, "
          f"accuracy {summary['accuracy_mean']:.4f}, coverage {summary['coverage_mean']:.3f}; "
          f"pooled {summary['pooled_uar_by_seed']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
