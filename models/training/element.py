# SPDX-License-Identifier: MPL-2.0
"""Score models through the GStreamer element itself (item 6 of the card's evaluation).

Each model is exported to ONNX (the shipped contract) and audio files go
through `filesrc ! decodebin ! audioconvert ! audioresample ! emotiondetect
model-file=... ! fakesink` with default properties (so the silence
threshold, the non-speech gate and the rule-based VAD's speech ratio apply:
`min-speech-ratio` automatic, 0.05 of speech or noise frames for models with `non-speech`). A small PyGObject
program run by the system Python (Debian python3-gi, python3-gst-1.0)
collects every `emotion` message and the `emotion-summary`; a clip without a
classified window has no decision and counts as wrong. A clip's decision is
scored two ways: the argmax of the summary's probabilities over the corpus's
labels (as the Python figures), and the summary's own `emotion` (all nine
emotions: what a user sees).

    GST_PLUGIN_PATH=/work/tools/plugin python3 -m training.element --rate 16000

Writes models/results/element-<R>k.json.

`--calls`: each CV test speaker's clips form one stream, as in a call, so the
element's speaker statistics (speaker adaptation) grow over the call. The
clips of a speaker, in a seeded random order (np.random.default_rng([fold,
speaker])), are written as float WAV files at the model's rate (at 8 kHz the
same telephone versions as above) and played back to back through one
pipeline, `concat ! audioconvert ! audioresample ! emotiondetect ! fakesink`
with `filesrc ! wavparse` per clip. concat sends a new segment for each clip,
which ends the element's stretch, so no window mixes two clips; it also
forwards each clip's STREAM_START, on which the element would forget the
speaker, so a pad probe drops every STREAM_START after the call's first (the
clips are one stream here, as a call's audio would be). Each `emotion`
message goes to the clip whose start (cumulative durations, in running time)
it follows; a clip's decision is the duration-weighted mean of its windows'
probabilities (as the summary), scored as above. The UAR is also given by the
clip's position in the call (1, 2-5, 6-20, >20), pooled over folds and
speakers, with the mean `speaker-frames` of those clips' windows.

    python3 -m training.element --rate 16000 --calls [--folds 0] [--condition babble10]
    python3 -m training.element --rate 16000 --nonspeech [--model M.onnx --suffix=-old]

`--nonspeech` plays the held-out non-speech test clips through the element with the built-in model (or
`--model`), each clip its own stream and all back to back as one stream, and counts the impulsive clips
(impulses.py) and the alert clips (alerts.py) apart from the others (models/results/element-nonspeech-<R>k.json).

Writes models/results/element-calls-<R>k.json. `--condition` plays the RAVDESS test speakers' calls under
one of the card's robustness conditions instead (the clips as extract.audio_for degrades them: the same
audio as the card's robustness table; models/results/element-calls-<R>k-conditions.json, by condition).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from . import channel, common, export, extract, train, windows

SYSTEM_PYTHON = os.environ.get("GST_PYTHON", "/usr/bin/python3")

# What both workers share: GStreamer set up, and a pipeline played to its end, every element message
# handed to `on_message`; returns the error text, if any.
WORKER_PRELUDE = r'''
import json, sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)


def play(p, on_message):
    bus = p.get_bus()
    p.set_state(Gst.State.PLAYING)
    err = None
    while True:
        m = bus.timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if m.type == Gst.MessageType.ERROR:
            err = str(m.parse_error()[0])
            break
        if m.type == Gst.MessageType.EOS:
            break
        on_message(m.get_structure())
    p.set_state(Gst.State.NULL)
    return err
'''

WORKER = WORKER_PRELUDE + r'''
model = sys.argv[1]
for path in sys.stdin.read().split("\n"):
    if not path:
        continue
    # float WAVs written here: their data chunks are even, so pulled wavparse reads them whole (README: queue)
    p = Gst.parse_launch(f'filesrc location="{path}" ! decodebin ! audioconvert ! audioresample ! '
                         f'emotiondetect model-file="{model}" ! fakesink')
    wins, summary = [], {}

    def on_message(s):
        if s.get_name() == "emotion":
            wins.append(s.get_string("emotion"))
        elif s.get_name() == "emotion-summary" and s.get_uint("windows")[1] > 0:
            summary.update({"emotion": s.get_string("emotion"), "labels": [str(v) for v in s.get_value("labels")],
                            "probabilities": [float(v) for v in s.get_value("probabilities")]})
    err = play(p, on_message)
    print(json.dumps({"file": path, "windows": wins, "summary": summary or None, "error": err}), flush=True)
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


# One call (one line of stdin: a JSON list of WAV files) per pipeline. The pipeline is
# `concat name=c ! audioconvert ! audioresample ! emotiondetect model-file=M ! fakesink` with
# `filesrc location=clip_k.wav ! wavparse ! c.` per clip, built by hand so that concat's sink pads,
# which it plays in the order they were requested, are requested in the call's order. A probe on
# emotiondetect's sink pad drops every STREAM_START after the first (concat forwards one per clip; on
# each the element would forget the speaker) and counts them.
CALL_WORKER = WORKER_PRELUDE + r"""
model, keep_stream_starts, ratio = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    files = json.loads(line)
    p = Gst.Pipeline.new("call")
    c, conv, res, det, sink = (Gst.ElementFactory.make(f) for f in
                               ("concat", "audioconvert", "audioresample", "emotiondetect", "fakesink"))
    det.set_property("model-file", model)
    det.set_property("min-speech-ratio", ratio)
    for e in (c, conv, res, det, sink):
        p.add(e)
    assert c.link(conv) and conv.link(res) and res.link(det) and det.link(sink)
    for f in files:
        src, parse = Gst.ElementFactory.make("filesrc"), Gst.ElementFactory.make("wavparse")
        src.set_property("location", f)
        p.add(src)
        p.add(parse)
        assert src.link(parse)
        assert parse.get_static_pad("src").link(c.request_pad_simple("sink_%u")) == Gst.PadLinkReturn.OK
    starts = [0]
    def probe(pad, info):
        if info.get_event().type == Gst.EventType.STREAM_START:
            starts[0] += 1
            if starts[0] > 1 and not keep_stream_starts:
                return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK
    det.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, probe)
    wins, summaries = [], []

    def on_message(s):
        if s.get_name() == "emotion":
            wins.append({"running_time": s.get_uint64("running-time")[1], "duration": s.get_uint64("duration")[1],
                         "speaker_frames": s.get_uint64("speaker-frames")[1], "emotion": s.get_string("emotion"),
                         "labels": [str(v) for v in s.get_value("labels")],
                         "probabilities": [float(v) for v in s.get_value("probabilities")]})
        elif s.get_name() == "emotion-summary":
            summaries.append(s.get_uint("windows")[1])
    err = play(p, on_message)
    print(json.dumps({"files": files, "windows": wins, "summaries": summaries, "stream_starts": starts[0],
                      "error": err}), flush=True)
"""

# positions of a clip in its call (1-based), for the by-position table
POSITION_BINS = (("1", 1, 1), ("2-5", 2, 5), ("6-20", 6, 20), (">20", 21, 1 << 30))
# a window starting this close before a clip's start (running time, ns) still belongs to it (rounding)
START_TOLERANCE_NS = 1_000_000


def run_calls(model_path: Path, calls: list[list[Path]], keep_stream_starts: bool = False,
              min_speech_ratio: float = -1.0) -> list[dict]:
    """The element's `emotion` messages of each call (one pipeline per call, clips back to back); the element's
    `min-speech-ratio` as given (default: automatic, the element's default)."""
    proc = subprocess.run([SYSTEM_PYTHON, "-c", CALL_WORKER, str(model_path), "1" if keep_stream_starts else "0",
                           repr(float(min_speech_ratio))],
                          input="\n".join(json.dumps([str(f) for f in c]) for c in calls),
                          capture_output=True, text=True, env=dict(os.environ), check=True)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    for r in out:
        if r["error"]:
            raise RuntimeError(f"call of {r['files'][0]}...: {r['error']}")
    if len(out) != len(calls):
        raise RuntimeError(f"{len(out)} calls analysed of {len(calls)}: {proc.stderr[-2000:]}")
    return out


def clip_starts_ns(n_samples: list[int], rate: int) -> np.ndarray:
    """Running time (ns) at which each clip of a call starts: the cumulative durations."""
    return np.concatenate([[0], np.cumsum(np.asarray(n_samples, dtype=np.int64))])[:-1] * 1_000_000_000 // rate


def assign_windows(wins: list[dict], starts_ns: np.ndarray, n_samples: list[int],
                   rate: int) -> tuple[list[list[dict]], int]:
    """The windows of each clip (by running time), and how many windows reach past their clip's end."""
    ends = starts_ns + np.asarray(n_samples, dtype=np.int64) * 1_000_000_000 // rate
    per = [[] for _ in starts_ns]
    straddling = 0
    for w in wins:
        k = max(int(np.searchsorted(starts_ns, w["running_time"] + START_TOLERANCE_NS, side="right")) - 1, 0)
        per[k].append(w)
        straddling += int(w["running_time"] + w["duration"] > ends[k] + START_TOLERANCE_NS)
    return per, straddling


def clip_decision(wins: list[dict]) -> dict[str, float] | None:
    """Duration-weighted mean of the windows' probabilities by label (the summary's rule); None without windows."""
    if not wins:
        return None
    labels = wins[0]["labels"]
    w = np.array([x["duration"] for x in wins], dtype=np.float64)
    p = np.array([x["probabilities"] for x in wins], dtype=np.float64)
    return dict(zip(labels, (w[:, None] * p).sum(axis=0) / w.sum()))


def calls_main(args) -> None:
    rate = args.rate
    degraded = args.condition != "clean"
    # a degraded condition is one of the card's robustness conditions (RAVDESS test folds only, as there)
    corpora = ("ravdess",) if degraded else ("ravdess", "emodb")
    res = {"how": "each CV test speaker's clips in a seeded random order (np.random.default_rng([fold, speaker])) "
                  "as one stream: concat (filesrc ! wavparse per clip, float WAV at the model's rate; 8 kHz: the "
                  "telephone versions, mu-law for even, A-law for odd test-clip index) ! audioconvert ! "
                  "audioresample ! emotiondetect (defaults) ! fakesink, STREAM_STARTs after the first dropped; "
                  "each emotion message goes to a clip by running time; decision = duration-weighted mean of "
                  "the clip's windows; no classified window = wrong",
           "condition": args.condition, "folds": {}}
    if degraded:
        # the clips as extract.audio_for degrades them; at 8 kHz its telephone channel takes the law from the
        # clip's index in the corpus, which has the parity of its place among a fold's test clips (every
        # RAVDESS actor has 60 clips), so each clip gets the same law as in the clean calls
        clean_files = "float WAV at the model's rate; 8 kHz: the telephone versions"
        assert clean_files in res["how"]
        res["how"] = res["how"].replace(clean_files, f"float WAV at the model's rate, the clip under "
                                        f"{args.condition} by extract.audio_for; 8 kHz: then the telephone channel")
    if args.min_speech_ratio >= 0:
        res["how"] = res["how"].replace("emotiondetect (defaults)",
                                        f"emotiondetect (defaults but min-speech-ratio={args.min_speech_ratio:g})")
    per_corpus = {c: [] for c in corpora}
    records = []  # one per clip, over all folds
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for f in args.folds:
            t0 = time.time()
            name = f"fold{f}_seed0"
            model, rec = train.load_run(train.tag_of("cv", rate), name)
            onnx_path = tmp / f"{name}.onnx"
            export_run(model, rec, onnx_path)
            fold = {"adaptation": model.adaptation is not None}
            for corpus in corpora:
                every = extract.clips_of(corpus)
                test = [i for i, c in enumerate(every) if c.speaker in rec["split"][corpus]["test"]]
                clips = [every[i] for i in test]
                audio = extract.Audio(corpus) if degraded else None
                files, lengths = [], []
                for k, c in enumerate(clips):
                    if degraded:
                        # the card's robustness condition of the clip (extract.audio_for: its seed, and at 8 kHz
                        # the telephone channel after the noise)
                        x, _ = extract.audio_for(audio, test[k], args.condition, rate)
                    else:
                        x, sr = sf.read(str(c.path), dtype="float64")
                        if rate == 16000:
                            assert sr == 16000, c.path
                        else:
                            x = channel.telephone(x, "mu" if k % 2 == 0 else "a")
                    p = tmp / f"{corpus}-{c.path.stem}.wav"
                    sf.write(p, x.astype(np.float32), rate, subtype="FLOAT")
                    files.append(p)
                    lengths.append(x.shape[0])
                speakers = sorted({c.speaker for c in clips})
                calls = []
                for spk in speakers:
                    idx = [k for k, c in enumerate(clips) if c.speaker == spk]
                    rng = np.random.default_rng([f, spk])
                    calls.append([idx[int(j)] for j in rng.permutation(len(idx))])
                got = run_calls(onnx_path, [[files[k] for k in call] for call in calls],
                                min_speech_ratio=args.min_speech_ratio)
                labels = common.EVAL_LABELS[corpus]
                y, pred, pred_r, straddling, drops, n_windows, stream_starts = [], [], [], 0, 0, 0, []
                for spk, call, r in zip(speakers, calls, got):
                    n = [lengths[k] for k in call]
                    per, st = assign_windows(r["windows"], clip_starts_ns(n, rate), n, rate)
                    straddling += st
                    n_windows += len(r["windows"])
                    stream_starts.append(r["stream_starts"])
                    sfr = [w["speaker_frames"] for w in r["windows"]]
                    drops += int(sum(b < a for a, b in zip(sfr, sfr[1:])))
                    for pos, (k, wins) in enumerate(zip(call, per), start=1):
                        y.append(clips[k].label)
                        d, d_r = common.decision(clip_decision(wins), labels)
                        pred.append(d)
                        pred_r.append(d_r)
                        records.append({"fold": f, "corpus": corpus, "speaker": spk, "position": pos,
                                        "label": y[-1], "pred": pred[-1], "pred_r": pred_r[-1],
                                        "windows": len(wins),
                                        "speaker_frames": (float(np.mean([w["speaker_frames"] for w in wins]))
                                                           if wins else None)})
                    if r["summaries"] != [len(r["windows"])]:
                        raise RuntimeError(f"fold {f} {corpus} speaker {spk}: summaries {r['summaries']}, "
                                           f"{len(r['windows'])} windows")
                uar_r, uar = common.decision_uars(y, pred, pred_r)
                cov = float(np.mean([q != common.NON_SPEECH for q in pred]))
                fold[corpus] = {"uar_corpus_labels": round(uar_r, 4), "uar_element_label": round(uar, 4),
                                "coverage": round(cov, 4), "n": len(y), "calls": len(calls),
                                "clips_per_call": [len(c) for c in calls], "windows": n_windows,
                                "element_label_outside_corpus_labels": int(sum(q not in labels and
                                                                              q != common.NON_SPEECH for q in pred)),
                                # checks: no window past its clip's end; speaker-frames never falls within a call;
                                # STREAM_STARTs concat sent per call (one per clip; all but the first dropped)
                                "windows_past_clip_end": straddling, "speaker_frames_drops": drops,
                                "stream_starts_per_call": sorted(set(stream_starts))}
                per_corpus[corpus].append((uar_r, uar, cov))
            fold["seconds"] = round(time.time() - t0, 1)
            res["folds"][f] = fold
            brief = {k: ({q: w for q, w in v.items() if q != "clips_per_call"} if isinstance(v, dict) else v)
                     for k, v in fold.items()}
            print(f"fold {f}: {json.dumps(brief)}", flush=True)
    for corpus, rows in per_corpus.items():
        res[corpus] = fold_summary(rows, element_label_std=True)
    # by position in the call, pooled over folds and speakers
    res["by_position"] = {}
    for corpus in corpora:
        table = {}
        for label, lo, hi in POSITION_BINS:
            rs = [r for r in records if r["corpus"] == corpus and lo <= r["position"] <= hi]
            if not rs:
                continue
            uar_r, uar = common.decision_uars([r["label"] for r in rs], [r["pred"] for r in rs],
                                               [r["pred_r"] for r in rs])
            sfr = [r["speaker_frames"] for r in rs if r["speaker_frames"] is not None]
            table[label] = {"uar_corpus_labels": round(uar_r, 4), "uar_element_label": round(uar, 4),
                            "coverage": round(float(np.mean([r["windows"] > 0 for r in rs])), 4), "n": len(rs),
                            "mean_speaker_frames": round(float(np.mean(sfr)), 1) if sfr else None}
        res["by_position"][corpus] = table
    if degraded:
        # every condition in one file, by condition
        path = common.RESULTS_DIR / f"element-calls-{rate // 1000}k-conditions.json"
        key = args.condition + ("" if args.min_speech_ratio < 0 else f" min-speech-ratio {args.min_speech_ratio:g}")
        common.merge_json(path, lambda d: d.update({key: res}))
    else:
        path = common.RESULTS_DIR / f"element-calls-{rate // 1000}k.json"
        common.write_json(path, res)
    pos = "; ".join(f"{c} " + ", ".join(f"{k}: {v['uar_corpus_labels']:.3f} ({v['mean_speaker_frames']} fr)"
                                        for k, v in t.items()) for c, t in res["by_position"].items())
    print(f"calls {rate // 1000}k folds {args.folds}: " + "; ".join(
        f"{c} UAR {res[c]['uar_corpus_labels_mean']:.3f} ± {res[c]['uar_corpus_labels_std']:.3f} "
        f"(element label {res[c]['uar_element_label_mean']:.3f}, coverage {res[c]['coverage_mean']:.3f})"
        for c in per_corpus) + f" | by position: {pos}", flush=True)


def fold_summary(rows: list[tuple[float, float, float]], element_label_std: bool = False) -> dict:
    """Means (and stds) over folds of (UAR over the corpus's labels, UAR of the element's label, coverage)."""
    a = np.asarray(rows)

    def std(col: int) -> float:
        return round(float(a[:, col].std(ddof=1)), 4) if len(a) > 1 else 0.0
    out = {"uar_corpus_labels_mean": round(float(a[:, 0].mean()), 4), "uar_corpus_labels_std": std(0),
           "uar_element_label_mean": round(float(a[:, 1].mean()), 4)}
    if element_label_std:
        out["uar_element_label_std"] = std(1)
    out["coverage_mean"] = round(float(a[:, 2].mean()), 4)
    return out


def export_run(model, record: dict, path: Path) -> None:
    ex = extract.Extractor(record["rate"], **extract.front_end(record["features_params"]))
    # the speaker adaptation the model was trained with (None: none), so the element adapts as in training
    export.write_onnx(model, path, export.contract_metadata(ex.params_json(), None, model.adaptation))


def nonspeech_wavs(audio: list[np.ndarray], rate: int, tmp: Path) -> list[Path]:
    """The non-speech test clips as float WAV files at the model's rate (8 kHz: the telephone channel, mu-law)."""
    files = []
    for i, x in enumerate(audio):
        y = x if rate == 16000 else channel.telephone(x, "mu")
        f = tmp / f"ns-{i:04d}.wav"
        sf.write(f, y.astype(np.float32), rate, subtype="FLOAT")
        files.append(f)
    return files


def nonspeech_main(rate: int, model_path: Path) -> dict:
    """The held-out non-speech test clips through the element with one model, as a user gets them: each clip
    its own stream, and all of them back to back as one stream (as hold music and office noise come in a
    call). Counted apart: the clips of the earlier figures (generated and real scores), the impulsive ones
    (impulses.py: recorded percussion on keys training never plays, synthetic typing) and the alert ones
    (alerts.py: the soundfont's telephone ring and tinkle bell, synthetic ringers, chimes and alarms)."""
    audio, info = extract.nonspeech_audio("ns-test")
    parts = {"earlier": extract.ns_earlier("ns-test"), "impulses": extract.ns_impulses("ns-test"),
             "alerts": extract.ns_alerts("ns-test")}
    kinds = {part: sorted({info[i]["kind"] for i in parts[part]}) for part in ("impulses", "alerts")}
    shown = model_path.resolve()
    shown = shown.relative_to(common.REPO_DIR) if shown.is_relative_to(common.REPO_DIR) else shown
    res: dict = {"model": str(shown), "model_sha256": extract.sha256_file(model_path), "rate": rate,
                 "how": "own streams: filesrc ! decodebin ! audioconvert ! audioresample ! emotiondetect (defaults) ! "
                        "fakesink; one stream: run_calls (concat, STREAM_STARTs after the first dropped); 16 kHz "
                        "clips, at 8 kHz through channel.telephone (mu-law)"}
    with tempfile.TemporaryDirectory() as tmp:
        files = nonspeech_wavs(audio, rate, Path(tmp))
        got = run_element(model_path, files)
        for part, idx in parts.items():
            groups = {part: list(idx)}
            if part in kinds:
                groups.update({k: [i for i in idx if info[i]["kind"] == k] for k in kinds[part]})
            for name, members in groups.items():
                wins = [w for i in members for w in got[files[i].name]["windows"]]  # classified windows' labels
                labels = collections.Counter(wins)
                total = sum(len(windows.window_starts(audio[i].size * rate // 16000, rate)) for i in members)
                res.setdefault("own_streams", {})[name] = {
                    "clips": len(members), "windows": total, "windows_classified": len(wins),
                    "share": round(len(wins) / max(total, 1), 4), "labels": dict(sorted(labels.items())),
                    "clips_with_a_summary": int(sum(got[files[i].name]["summary"] is not None for i in members))}
        for part, idx in parts.items():
            call = run_calls(model_path, [[files[i] for i in idx]])[0]
            seconds = sum(audio[i].size for i in idx) / 16000
            res.setdefault("one_stream", {})[part] = {"clips": len(idx), "seconds": seconds,
                                                      "windows_about": int(seconds) - 2,
                                                      "windows_classified": len(call["windows"])}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--calls", action="store_true",
                    help="each test speaker's clips as one stream (element-calls-<R>k.json)")
    ap.add_argument("--condition", default="clean", choices=["clean"] + extract.TEST_CONDITIONS,
                    help="--calls: the RAVDESS test speakers' calls under one of the card's robustness conditions "
                         "(element-calls-<R>k-conditions.json)")
    ap.add_argument("--min-speech-ratio", type=float, default=-1.0,
                    help="--calls --condition: the element's min-speech-ratio (default automatic, as a user gets it); "
                         "keyed '<CONDITION> min-speech-ratio R' in element-calls-<R>k-conditions.json")
    ap.add_argument("--nonspeech", action="store_true",
                    help="the held-out non-speech through the element with one model, impulsive and alert clips "
                         "apart (element-nonspeech-<R>k<SUFFIX>.json)")
    ap.add_argument("--model", default="", help="--nonspeech: the ONNX model (default: the built-in one of the rate)")
    ap.add_argument("--suffix", default="", help="--nonspeech: appended to the result file's name")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.min_speech_ratio >= 0 and args.condition == "clean":
        ap.error("--min-speech-ratio goes with --calls --condition (the clean figures are the defaults')")
    if args.condition != "clean" and not args.calls:
        ap.error("--condition needs --calls")
    if args.calls:
        calls_main(args)
        return
    if args.nonspeech:
        model = Path(args.model) if args.model else export.ONNX_PATH[args.rate]
        res = nonspeech_main(args.rate, model)
        path = common.RESULTS_DIR / f"element-nonspeech-{args.rate // 1000}k{args.suffix}.json"
        common.write_json(path, res)
        print(json.dumps(res))
        return
    rate = args.rate
    res = {"how": "filesrc ! decodebin ! audioconvert ! audioresample ! emotiondetect (defaults) ! fakesink; "
                  "decision = emotion-summary; no classified window = wrong", "folds": {}}
    ns_audio, _ = extract.nonspeech_audio("ns-test")
    ns_audio = ns_audio[:len(extract.ns_earlier("ns-test"))]  # the earlier clips (--nonspeech: impulsive, alerts too)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # non-speech test clips (and, at 8 kHz, telephone versions of the speech) as WAV files
        ns_files = nonspeech_wavs(ns_audio, rate, tmp)
        ns_windows_total = sum(len(windows.window_starts(sf.info(str(p)).frames, rate)) for p in ns_files)
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
                    y.append(c.label)
                    s = got[Path(p).name]["summary"]
                    d, d_r = common.decision(common.summary_probs(s), labels, s and s["emotion"])
                    pred.append(d)
                    pred_r.append(d_r)
                uar_r, uar = common.decision_uars(y, pred, pred_r)
                cov = float(np.mean([got[Path(p).name]["summary"] is not None for p in files]))
                fold[corpus] = {"uar_corpus_labels": round(uar_r, 4), "uar_element_label": round(uar, 4),
                                "coverage": round(cov, 4), "n": len(y),
                                "element_label_outside_corpus_labels": int(sum(q not in labels and
                                                                              q != common.NON_SPEECH for q in pred))}
                per_corpus[corpus].append((uar_r, uar, cov))
            got = run_element(onnx_path, ns_files)
            nw = sum(len(r["windows"]) for r in got.values())
            total = ns_windows_total
            totals["ns_windows"] += total
            fold["nonspeech_test"] = {"clips": len(ns_files), "windows": total, "windows_classified": nw,
                                      "clips_with_a_summary": int(sum(r["summary"] is not None for r in got.values()))}
            totals["ns_classified"] += nw
            totals["ns_clips_with_summary"] += fold["nonspeech_test"]["clips_with_a_summary"]
            res["folds"][f] = fold
            print(f"fold {f}: {json.dumps(fold)}", flush=True)
        # the shipped model, as a user gets it, on the same non-speech clips
        got = run_element(export.ONNX_PATH[rate], ns_files)
        res["nonspeech_shipped_model"] = {"windows": ns_windows_total,
                                          "windows_classified": sum(len(r["windows"]) for r in got.values()),
                                          "clips_with_a_summary": int(sum(r["summary"] is not None
                                                                          for r in got.values()))}
    for corpus, rows in per_corpus.items():
        res[corpus] = fold_summary(rows)
    totals["ns_classified_share"] = round(totals["ns_classified"] / max(totals["ns_windows"], 1), 4)
    res["nonspeech"] = totals
    path = common.RESULTS_DIR / f"element-{rate // 1000}k.json"
    common.write_json(path, res)
    print(json.dumps({k: v for k, v in res.items() if k != "folds"}))


if __name__ == "__main__":
    main()
