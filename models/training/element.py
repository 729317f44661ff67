# SPDX-License-Identifier: MPL-2.0
"""Score models through the GStreamer element itself (item 6 of the card's evaluation).

Each model is exported to ONNX (the shipped contract) and audio files go
through `filesrc ! decodebin ! audioconvert ! audioresample ! emotiondetect
model-file=... ! fakesink` with default properties (so the rule-based VAD,
the silence threshold and the non-speech gate all apply). A small PyGObject
program run by the system Python (Debian python3-gi, python3-gst-1.0)
collects every `emotion` message and the `emotion-summary`; a clip without a
classified window has no decision and counts as wrong. A clip's decision is
scored two ways: the argmax of the summary's probabilities over the corpus's
labels (as the Python figures), and the summary's own `emotion` (all nine
emotions: what a user sees).

    GST_PLUGIN_PATH=/work/tools/plugin python3 -m training.element --rate 16000

Writes models/results/element-<R>k.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from . import channel, common, export, extract, train, windows

SYSTEM_PYTHON = os.environ.get("GST_PYTHON", "/usr/bin/python3")

WORKER = r'''
import json, sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
model = sys.argv[1]
for path in sys.stdin.read().split("\n"):
    if not path:
        continue
    p = Gst.parse_launch(f'filesrc location="{path}" ! decodebin ! audioconvert ! audioresample ! '
                         f'emotiondetect model-file="{model}" ! fakesink')
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    wins, summary, err = [], None, None
    while True:
        m = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if m.type == Gst.MessageType.ERROR:
            err = str(m.parse_error()[0]); break
        if m.type == Gst.MessageType.EOS:
            break
        s = m.get_structure()
        if s.get_name() == "emotion":
            wins.append(s.get_string("emotion"))
        elif s.get_name() == "emotion-summary":
            if s.get_uint("windows")[1] > 0:
                summary = {"emotion": s.get_string("emotion"), "labels": [str(v) for v in s.get_value("labels")],
                           "probabilities": [float(v) for v in s.get_value("probabilities")]}
    p.set_state(Gst.State.NULL)
    print(json.dumps({"file": path, "windows": wins, "summary": summary, "error": err}), flush=True)
'''


def run_element(model_path: Path, files: list[Path]) -> dict[str, dict]:
    env = dict(os.environ)
    proc = subprocess.run([SYSTEM_PYTHON, "-c", WORKER, str(model_path)], input="\n".join(map(str, files)),
                          capture_output=True, text=True, env=env, check=True)
    out = {}
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        if r["error"]:
            raise RuntimeError(f"{r['file']}: {r['error']}")
        out[Path(r["file"]).name] = r
    return out


def export_run(model, record: dict, path: Path) -> None:
    ex = extract.Extractor(record["rate"])
    export.write_onnx(model, path, export.contract_metadata(ex.params_json()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = ap.parse_args()
    torch.set_num_threads(1)
    rate = args.rate
    res = {"how": "filesrc ! decodebin ! audioconvert ! audioresample ! emotiondetect (defaults) ! fakesink; "
                  "decision = emotion-summary; no classified window = wrong", "folds": {}}
    ns_audio, ns_info = extract.nonspeech_audio("ns-test")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # non-speech test clips (and, at 8 kHz, telephone versions of the speech) as WAV files
        ns_files = []
        for i, x in enumerate(ns_audio):
            y = x if rate == 16000 else channel.telephone(x, "mu")
            f = tmp / f"ns-{i:04d}.wav"
            sf.write(f, y.astype(np.float32), rate, subtype="FLOAT")
            ns_files.append(f)
        totals = {"ns_windows": 0, "ns_classified": 0, "ns_clips_with_summary": 0}
        per_corpus = {"ravdess": [], "emodb": []}
        for f in args.folds:
            name = f"fold{f}_seed0"
            model, rec = train.load_run(train.tag_of("cv", rate), name)
            onnx_path = tmp / f"{name}.onnx"
            export_run(model, rec, onnx_path)
            fold = {}
            for corpus in ("ravdess", "emodb"):
                clips = [c for c in extract.clips_of(corpus) if c.speaker in rec["split"][corpus]["test"]]
                files = []
                for k, c in enumerate(clips):
                    if rate == 16000:
                        files.append(c.path)
                    else:
                        x, _ = sf.read(str(c.path), dtype="float64")
                        p = tmp / f"{corpus}-{c.path.stem}.wav"
                        sf.write(p, channel.telephone(x, "mu" if k % 2 == 0 else "a").astype(np.float32), rate,
                                 subtype="FLOAT")
                        files.append(p)
                got = run_element(onnx_path, files)
                y, pred, pred_r = [], [], []
                labels = common.EVAL_LABELS[corpus]
                for c, p in zip(clips, files):
                    s = got[Path(p).name]["summary"]
                    y.append(c.label)
                    # no decision is wrong (NON_SPEECH is never a true label here)
                    if s is None:
                        pred.append(common.NON_SPEECH)
                        pred_r.append(common.NON_SPEECH)
                        continue
                    # the element's own label (all nine emotions), and the argmax over the corpus's labels
                    pred.append(common.LABELS.index(s["emotion"]))
                    probs = dict(zip(s["labels"], s["probabilities"]))
                    pred_r.append(max(labels, key=lambda k: probs.get(common.LABELS[k], 0.0)))
                m = common.metrics_from_cm(common.confusion(y, pred, common.N_LABELS))
                m_r = common.metrics_from_cm(common.confusion(y, pred_r, common.N_LABELS))
                cov = float(np.mean([got[Path(p).name]["summary"] is not None for p in files]))
                fold[corpus] = {"uar_corpus_labels": round(m_r["uar"], 4), "uar_element_label": round(m["uar"], 4),
                                "coverage": round(cov, 4), "n": len(y),
                                "element_label_outside_corpus_labels": int(sum(q not in labels and
                                                                              q != common.NON_SPEECH for q in pred))}
                per_corpus[corpus].append((m_r["uar"], m["uar"], cov))
            got = run_element(onnx_path, ns_files)
            nw = sum(len(r["windows"]) for r in got.values())
            total = sum(len(windows.window_starts(sf.info(str(p)).frames, rate)) for p in ns_files)
            totals["ns_windows"] += total
            fold["nonspeech_test"] = {"clips": len(ns_files), "windows": total, "windows_classified": nw,
                                      "clips_with_a_summary": int(sum(r["summary"] is not None for r in got.values()))}
            totals["ns_classified"] += nw
            totals["ns_clips_with_summary"] += fold["nonspeech_test"]["clips_with_a_summary"]
            res["folds"][f] = fold
            print(f"fold {f}: {json.dumps(fold)}", flush=True)
    for corpus, rows in per_corpus.items():
        a = np.asarray(rows)
        res[corpus] = {"uar_corpus_labels_mean": round(float(a[:, 0].mean()), 4),
                       "uar_corpus_labels_std": round(float(a[:, 0].std(ddof=1)), 4) if len(a) > 1 else 0.0,
                       "uar_element_label_mean": round(float(a[:, 1].mean()), 4),
                       "coverage_mean": round(float(a[:, 2].mean()), 4)}
    totals["ns_classified_share"] = round(totals["ns_classified"] / max(totals["ns_windows"], 1), 4)
    res["nonspeech"] = totals
    path = common.RESULTS_DIR / f"element-{rate // 1000}k.json"
    path.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "folds"}))


if __name__ == "__main__":
    main()
