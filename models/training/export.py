"""Export the shipped model to ONNX and write the parity fixture.

    python3 models/training/export.py [--cv-tag cv-main]

Reads models/checkpoints/final.pt (+ models/results/final.json for its
configuration) and models/results/<cv-tag>/summary.json (the CV figures that
go into the metadata), writes models/reslstm-sa-16k.onnx and
tests/fixtures/model_parity.json, and checks the ONNX graph against PyTorch
with onnxruntime on every clip of the corpus. `train.py final` calls this.

Model contract (checked by the element):
  input   features       float32 [batch, time, 46]   raw extractor features
  outputs probabilities  float32 [batch, 8]          softmax
          attention      float32 [batch, time]
  metadata_props emotiondetect.{format,labels,features,evaluation,licence}
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import features  # noqa: E402
from model import ExportWrapper, ResLSTMSA, count_parameters  # noqa: E402

LICENCE = "CC BY-NC-SA 4.0 (trained on RAVDESS)"
OPSET = 17


def load_final() -> tuple[ResLSTMSA, dict]:
    info = json.loads((common.RESULTS_DIR / "final.json").read_text())
    cfg = info["config"]
    model = ResLSTMSA(46, cfg["hidden"], common.N_CLASSES, cfg["dropout"])
    model.load_state_dict(torch.load(common.CHECKPOINT_DIR / "final.pt", weights_only=True))
    model.eval()
    return model, info


def evaluation_json(cv_tag: str, final_info: dict) -> str:
    s = json.loads((common.RESULTS_DIR / cv_tag / "summary.json").read_text())

    def fig(k: str) -> dict:
        d = s[k]
        return {
            "uar_mean": round(d["uar_mean"], 4), "uar_std": round(d["uar_std"], 4),
            "uar_std_folds": round(d["uar_std_over_folds"], 4), "uar_std_seeds": round(d["uar_std_over_seeds"], 4),
            "pooled_uar": round(d["pooled_uar_mean"], 4), "accuracy_mean": round(d["accuracy_mean"], 4),
            "coverage": round(d["coverage"], 4), "nll": round(d["nll_mean"], 4), "ece": round(d["ece_mean"], 4),
        }

    ev = {
        "corpus": "RAVDESS speech, 24 actors, 1440 clips, 8 classes",
        "protocol": "5-fold speaker-independent CV (test actors per README), checkpoint and "
        "hyperparameters chosen on validation actors only",
        "runs": s["clip"]["n_runs"], "seeds": s["clip"]["seeds"],
        "per_clip": fig("clip"),
        "element_windows_3s_hop1s": fig("element"),
        "element_windows_decided_only": fig("element_decided"),
        "element_silence_dbfs": common.SILENCE_DBFS,
        "shipped_model": {"train_actors": final_info["train_actors"], "val_actors": final_info["val_actors"],
                          "best_epoch": final_info["best_epoch"], "val_uar": round(final_info["val_uar"], 4),
                          "temperature": round(final_info["temperature"], 4)},
    }
    return json.dumps(ev, separators=(",", ":"))


def f32_list(a: np.ndarray):
    """Nested lists of floats printed with float32 shortest round-trip digits."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 1:
        return [float(str(v)) for v in a]  # str(np.float32) = shortest repr that round-trips
    return [f32_list(r) for r in a]


def write_parity(model: ResLSTMSA, fs: features.FeatureSet) -> list[dict]:
    """Three real inputs (10, 75, 120 frames) with PyTorch eval() probabilities.

    For each length, 64 random (clip, start) candidates are drawn and the one
    whose output has the highest entropy is kept, so that the fixture checks
    more than one saturated probability.
    """
    rng = np.random.default_rng(1234)
    long_clips = [i for i in range(len(fs)) if fs.n_frames(i) >= 120]
    inputs = []
    with torch.inference_mode():
        for T in (10, 75, 120):
            pool = long_clips if T == 120 else list(range(len(fs)))
            best = None
            for _ in range(64):
                i = int(rng.choice(pool))
                start = int(rng.integers(0, fs.n_frames(i) - T + 1))
                x = np.array(f32_list(fs.clip(i)[start : start + T]), dtype=np.float32)
                logits, _ = model(torch.from_numpy(x)[None])
                p = torch.softmax(logits, dim=1)[0].numpy()
                h = float(-(p * np.log(np.clip(p, 1e-30, None))).sum())
                if best is None or h > best[0]:
                    best = (h, x, p)
            _, x, p = best
            inputs.append({"frames": T, "features": f32_list(x), "probabilities": [float(v) for v in p]})
    common.PARITY_PATH.parent.mkdir(parents=True, exist_ok=True)
    common.PARITY_PATH.write_text(json.dumps({"inputs": inputs}, separators=(",", ":")) + "\n")
    return inputs


def verify(path: Path, model: ResLSTMSA, fs: features.FeatureSet) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    max_p = max_a = 0.0
    n_arg = 0
    wrapper = ExportWrapper(model).eval()
    seqs = [fs.clip(i) for i in range(len(fs))]
    # plus every element window and a few batched inputs
    for i in range(len(fs)):
        for s, n, j0, j1, _ in fs.windows(i):
            if (j1 - j0) != fs.n_frames(i):
                seqs.append(fs.clip(i)[j0:j1])
    seqs.extend([fs.clip(0)[:1], fs.clip(0)[:2]])
    from tqdm import tqdm

    with torch.inference_mode():
        for x in tqdm(seqs, desc="onnx parity", leave=False):
            xt = torch.from_numpy(np.ascontiguousarray(x))[None]
            p_t, a_t = (t.numpy() for t in wrapper(xt))
            p_o, a_o = sess.run(["probabilities", "attention"], {"features": xt.numpy()})
            max_p = max(max_p, float(np.abs(p_t - p_o).max()))
            max_a = max(max_a, float(np.abs(a_t - a_o).max()))
            n_arg += int(p_t.argmax() != p_o.argmax())
        # batch of 4 equal-length windows
        xb = torch.from_numpy(np.stack([fs.clip(i)[:72] for i in range(4)]))
        p_t, a_t = (t.numpy() for t in wrapper(xb))
        p_o, a_o = sess.run(["probabilities", "attention"], {"features": xb.numpy()})
        max_p = max(max_p, float(np.abs(p_t - p_o).max()))
        max_a = max(max_a, float(np.abs(a_t - a_o).max()))
    return {"inputs": len(seqs) + 1, "max_abs_diff_probabilities": max_p, "max_abs_diff_attention": max_a,
            "argmax_mismatches": n_arg}


def write_onnx(model: ResLSTMSA, dummy: torch.Tensor, path: Path, metadata: dict[str, str],
               doc: str | None = None, producer: str | None = None) -> None:
    """Writes the model as the element loads it: input 'features' [batch, time, 46],
    outputs 'probabilities' and 'attention', the given metadata (the contract), checked."""
    torch.onnx.export(
        ExportWrapper(model).eval(), (dummy,), str(path), dynamo=False, opset_version=OPSET,
        do_constant_folding=True, input_names=["features"], output_names=["probabilities", "attention"],
        dynamic_axes={"features": {0: "batch", 1: "time"}, "probabilities": {0: "batch"},
                      "attention": {0: "batch", 1: "time"}},
    )
    m = onnx.load(str(path))
    del m.metadata_props[:]
    for k, v in metadata.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    if doc is not None:
        m.doc_string = doc
    if producer is not None:
        m.producer_name = producer
        m.model_version = 1
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


def export(cv_tag: str = "cv-main") -> dict:

    torch.set_num_threads(1)
    model, info = load_final()
    fs = features.build_or_load(progress=False)
    if fs.feats_sha256 != info["features_sha256"]:
        raise SystemExit("the extractor now computes different features than the final model was "
                         "trained on: retrain (train.py final)")
    params_json = features.Extractor().params_json()  # verbatim from --print-params
    if json.loads(params_json) != info["features_params"]:
        raise SystemExit("feature parameters changed since training: retrain (train.py final)")
    dummy = torch.from_numpy(fs.clip(0)[:75].copy())[None]
    path = common.ONNX_PATH
    meta = {
        "emotiondetect.format": "1",
        "emotiondetect.labels": ",".join(common.LABELS),
        "emotiondetect.features": params_json,
        "emotiondetect.evaluation": evaluation_json(cv_tag, info),
        "emotiondetect.licence": LICENCE,
    }
    doc = (
        f"ResLSTM-SA (hidden {model.hidden}, {count_parameters(model)} parameters) speech emotion "
        "recognition for the emotiondetect GStreamer element. Input 'features' [batch, time, 46]: raw "
        "per-frame features of emotiondetect-features (34 MFCC + 12 chroma, 16 kHz, 80 ms frames, 40 ms "
        "hop; normalisation is inside the graph). Outputs 'probabilities' [batch, 8] (softmax over "
        f"{','.join(common.LABELS)}) and 'attention' [batch, time]. Trained on RAVDESS speech; licence "
        f"{LICENCE}, non-commercial. See models/MODEL_CARD.md."
    )
    write_onnx(model, dummy, path, meta, doc, "emotiondetect models/training/export.py")
    parity = write_parity(model, fs)
    v = verify(path, model, fs)
    v.update({"onnx_bytes": path.stat().st_size, "parity_bytes": common.PARITY_PATH.stat().st_size,
              "parity_frames": [p["frames"] for p in parity], "opset": OPSET,
              "n_parameters": count_parameters(model)})
    (common.RESULTS_DIR / "export.json").write_text(json.dumps(v, indent=1))
    print(json.dumps(v, indent=1))
    return v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cv-tag", default="cv-main")
    args = ap.parse_args()
    export(args.cv_tag)


if __name__ == "__main__":
    main()
