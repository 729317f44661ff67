# SPDX-License-Identifier: MPL-2.0
"""Export a trained run to the ONNX file the element loads, and write its parity fixture.

    python3 -m training.export --rate 16000    # models/reslstm-sa-16k.onnx, tests/fixtures/model_parity.json
    python3 -m training.export --rate 8000     # models/reslstm-sa-8k.onnx,  tests/fixtures/model_parity_8k.json

Reads the run models/.cache/runs/final<16|8>k/final.{pt,json} (train.py final)
and, when present, the evaluation summary models/results/summary-<16|8>k.json
(evaluate.py), whose headline figures go into `emotiondetect.evaluation`.
The graph is checked against PyTorch with onnxruntime on every validation
clip, every window of them, 1- and 2-frame inputs and a batch of 4.

Contract (models/MODEL_CARD.md, src/model/mod.rs): input `features` float32
[batch, time, n_features] (raw extractor features, 48 for the shipped models:
34 MFCC, 12 chroma, pitch, voicing; normalisation inside the graph);
outputs `probabilities` [batch, n_labels] after softmax and `attention`
[batch, time]; metadata emotiondetect.{format, labels, features, evaluation, licence}, and for
a model trained with speaker adaptation emotiondetect.adaptation (adapt.py), whose
rule tests/fixtures/speaker_adaptation.json pins for the element.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import torch

from . import adapt, common, extract, train
from .model import FUNCTIONALS, Ensemble, ExportWrapper, Fused, ResLSTMSA, count_parameters

OPSET = 17
LICENCE = ("CC BY-NC-SA 4.0 (non-commercial, share-alike, attribution): trained on RAVDESS, Livingstone & "
           "Russo 2018, PLoS ONE 13(5): e0196391, CC BY-NC-SA 4.0; and on EmoDB, Burkhardt, Paeschke, Rolfes, "
           "Sendlmeier & Weiss, 'A Database of German Emotional Speech', Interspeech 2005 (research use; cite "
           "the paper)")
ONNX_PATH = {16000: common.MODELS_DIR / "reslstm-sa-16k.onnx", 8000: common.MODELS_DIR / "reslstm-sa-8k.onnx"}
PARITY_PATH = {16000: common.REPO_DIR / "tests" / "fixtures" / "model_parity.json",
               8000: common.REPO_DIR / "tests" / "fixtures" / "model_parity_8k.json"}
ADAPTATION_FIXTURE = common.REPO_DIR / "tests" / "fixtures" / "speaker_adaptation.json"


def f32_list(a: np.ndarray):
    """Nested lists of floats with float32 shortest round-trip digits."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 1:
        return [float(str(v)) for v in a]
    return [f32_list(r) for r in a]


def write_onnx(model: ResLSTMSA, path: Path, metadata: dict[str, str], doc: str | None = None) -> None:
    dummy = torch.zeros(1, 75, model.n_features)
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
        m.producer_name = "emotiondetect models/training/export.py"
        m.model_version = 2
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, str(path))


def contract_metadata(params_json: str, evaluation: dict | None = None,
                      adaptation: adapt.Prior | None = None) -> dict[str, str]:
    meta = {"emotiondetect.format": "1", "emotiondetect.labels": ",".join(common.LABELS),
            "emotiondetect.features": params_json, "emotiondetect.licence": LICENCE}
    if adaptation is not None:
        meta["emotiondetect.adaptation"] = adaptation.to_json()
    if evaluation is not None:
        meta["emotiondetect.evaluation"] = json.dumps(evaluation, separators=(",", ":"))
    return meta


def write_parity(model: ResLSTMSA, bank: extract.Bank, path: Path) -> list[dict]:
    """Three real inputs (10, 75, 120 frames), each the highest-entropy of 64 random candidates, with PyTorch's probabilities."""
    rng = np.random.default_rng(1234)
    long_clips = [i for i in range(len(bank)) if bank.n_frames(i) >= 120]
    inputs = []
    with torch.inference_mode():
        for T in (10, 75, 120):
            pool = long_clips if T == 120 else [i for i in range(len(bank)) if bank.n_frames(i) >= T]
            best = None
            for _ in range(64):
                i = int(rng.choice(pool))
                start = int(rng.integers(0, bank.n_frames(i) - T + 1))
                x = np.array(f32_list(bank.clip(i)[start:start + T]), dtype=np.float32)
                logits, _ = model(torch.from_numpy(x)[None])
                p = torch.softmax(logits, dim=1)[0].numpy()
                h = float(-(p * np.log(np.clip(p, 1e-30, None))).sum())
                if best is None or h > best[0]:
                    best = (h, x, p)
            _, x, p = best
            inputs.append({"frames": T, "features": f32_list(x), "probabilities": [float(v) for v in p]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"inputs": inputs}, separators=(",", ":")) + "\n")
    return inputs


def write_adaptation_fixture(prior: adapt.Prior, bank: extract.Bank, path: Path) -> None:
    """Two clips of one speaker as one stream: the frames, their speech flags, and the adapted frames
    the model must be fed when windows ending at a few frame counts are classified (adapt.py's rule)."""
    clips = extract.clips_of(bank.group)
    first = next(i for i, c in enumerate(clips) if bank.n_frames(i) >= 100)
    second = next(i for i, c in enumerate(clips) if c.speaker == clips[first].speaker and i != first)
    frames = np.concatenate([bank.clip(first), bank.clip(second)])
    speech = np.concatenate([bank.clip_speech(first), bank.clip_speech(second)])
    frames = np.array(f32_list(frames), dtype=np.float32)
    checks = []
    for j0, j1 in ((0, 1), (0, 50), (30, 105), (frames.shape[0] - 50, frames.shape[0])):
        stats = adapt.streaming_stats(frames, speech, j1)
        checks.append({"first": j0, "end": j1, "speech_frames": int(stats.n),
                       "adapted": f32_list(adapt.apply(frames[j0:j1], stats, prior))})
    path.write_text(json.dumps({"adaptation": json.loads(prior.to_json()), "frames": f32_list(frames),
                                "speech": [bool(v) for v in speech], "windows": checks},
                               separators=(",", ":")) + "\n")


def verify(path: Path, model: ResLSTMSA, banks: list[extract.Bank], indices: list[list[int]]) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    wrapper = ExportWrapper(model).eval()
    seqs = []
    for bank, idx in zip(banks, indices):
        for i in idx:
            seqs.append(bank.clip(i))
            seqs += [bank.clip(i)[j0:j1] for _, _, j0, j1, _ in bank.windows(i) if j1 - j0 != bank.n_frames(i)]
    seqs += [banks[0].clip(0)[:1], banks[0].clip(0)[:2]]
    max_p = max_a = 0.0
    n_arg = 0
    with torch.inference_mode():
        batch = torch.from_numpy(np.stack([banks[0].clip(i)[:40] for i in range(4)]))
        for x in [s[None] for s in seqs] + [batch.numpy()]:
            xt = torch.from_numpy(np.ascontiguousarray(x))
            p_t, a_t = (t.numpy() for t in wrapper(xt))
            p_o, a_o = sess.run(["probabilities", "attention"], {"features": xt.numpy()})
            max_p = max(max_p, float(np.abs(p_t - p_o).max()))
            max_a = max(max_a, float(np.abs(a_t - a_o).max()))
            n_arg += int(np.sum(p_t.argmax(1) != p_o.argmax(1)))
    return {"inputs": len(seqs) + 1, "max_abs_diff_probabilities": max_p, "max_abs_diff_attention": max_a,
            "argmax_mismatches": n_arg}


def feature_text(params_json: str) -> str:
    p = json.loads(params_json)
    text = f"{p['n_mfcc']} MFCC + {p['n_chroma']} chroma"
    if p.get("pitch"):
        text += f" + pitch (semitones re 100 Hz, {p['pitch']['fmin']:g}-{p['pitch']['fmax']:g} Hz) + voicing"
    return text


def export(rate: int) -> dict:
    torch.set_num_threads(1)
    tag = train.tag_of("final", rate)
    model, record = train.load_run(tag, "final")
    front = extract.front_end(record["features_params"])
    ex = extract.Extractor(rate, **front)
    params_json = ex.params_json()  # verbatim from --print-params
    if json.loads(params_json) != record["features_params"] or extract.sha256_file(ex.path) != record["extractor_sha256"]:
        raise SystemExit("the extractor is not the one the model was trained with: retrain (train.py final)")
    summary_path = common.RESULTS_DIR / f"summary-{rate // 1000}k.json"
    evaluation = {"shipped_model": {"train": record["split"], "best_epoch": record["best"]["epoch"],
                                    "val": {k: round(v, 4) for k, v in record["best"].items() if k != "epoch"},
                                    "temperature": round(record["temperature"], 4)}}
    if summary_path.exists():
        evaluation.update(json.loads(summary_path.read_text()).get("headline", {}))
    evaluation["see"] = "models/MODEL_CARD.md"
    rate_text = "16 kHz" if rate == 16000 else "8 kHz telephone (300-3400 Hz, G.711)"
    members = f"ResLSTM-SA (hidden {model.hidden}, {count_parameters(model)} parameters)"
    if isinstance(model, Ensemble):
        members = (f"An ensemble of {len(model.members)} ResLSTM-SA (hidden {model.hidden}, {count_parameters(model)} "
                   "parameters in all; the mean of their probabilities)")
    if isinstance(model, Fused):
        members += (f" fused with a linear model on {FUNCTIONALS} statistics over time of each normalised feature "
                    f"({int((model.head.bias > -1e3).sum()) * (model.head.weight.shape[1] + 1)} weights)")
    doc = (f"{members} speech emotion recognition "
           f"for the emotiondetect GStreamer element, {rate_text} audio. Input 'features' [batch, time, "
           f"{model.n_features}]: raw per-frame features of emotiondetect-features ({feature_text(params_json)}, "
           "80 ms frames every 40 ms; normalisation inside the graph). Outputs 'probabilities' [batch, "
           f"{common.N_LABELS}] (softmax over {','.join(common.LABELS)}) and 'attention' [batch, time]. "
           f"Licence: {LICENCE}. See models/MODEL_CARD.md.")
    path = ONNX_PATH[rate]
    prior = model.adaptation
    if prior is not None:
        doc += (" Speaker adaptation: feed mu0 + sd0 (x - m) / s with the channel's running speech statistics "
                "(metadata emotiondetect.adaptation).")
    write_onnx(model, path, contract_metadata(params_json, evaluation, prior), doc)
    rav = extract.load("ravdess", "clean", rate, progress=False, **front)
    emo = extract.load("emodb", "clean", rate, progress=False, **front)
    nsv = extract.load("ns-val", "clean", rate, progress=False, **front)
    parity = write_parity(model, rav, PARITY_PATH[rate])
    if prior is not None and rate == 16000:
        write_adaptation_fixture(prior, rav, ADAPTATION_FIXTURE)
    val_r = [i for i, c in enumerate(extract.clips_of("ravdess")) if c.speaker in common.FINAL_VAL["ravdess"]]
    val_e = [i for i, c in enumerate(extract.clips_of("emodb")) if c.speaker in common.FINAL_VAL["emodb"]]
    # the earlier non-speech validation clips (the impulsive ones came after these models)
    v = verify(path, model, [rav, emo, nsv], [val_r, val_e, list(extract.ns_earlier("ns-val"))])
    v.update({"onnx_bytes": path.stat().st_size, "parity_bytes": PARITY_PATH[rate].stat().st_size,
              "parity_frames": [p["frames"] for p in parity], "opset": OPSET, "n_parameters": count_parameters(model)})
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    common.write_json(common.RESULTS_DIR / f"export-{rate // 1000}k.json", v)
    print(json.dumps(v, indent=1))
    return v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    export(ap.parse_args().rate)


if __name__ == "__main__":
    main()
