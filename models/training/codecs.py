# SPDX-License-Identifier: MPL-2.0
"""Codecs the training never used, through the element with the shipped models (MODEL_CARD.md, *4*).

A VoIP or WebRTC call reaches the element through Opus, a mobile call through AMR-NB, a recording often
as MP3; the training's channels are additive noise, reverberation, EQ, band-limiting and (8 kHz) G.711
with packet loss. Here speech the models never trained on goes through an encoder and its decoder in
GStreamer, at the model's rate, and is written as a float WAV:

    filesrc ! decodebin ! audioconvert ! audioresample ! audio/x-raw,rate=R,channels=1 ! ENCODER ! DECODER
      ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,rate=R,channels=1 ! wavenc ! filesink

At 16 kHz the source is the corpus's clip and the reference chain has no codec (`identity`); at 8 kHz the
source is the clip in the telephone band as the training makes it (channel.telephone_band: 8 kHz,
300-3400 Hz) and the reference is G.711 mu-law. Each condition's files go through the element with the
model file, default properties, two ways: each clip its own stream (training.element.run_element: the
decision is the summary's) and each speaker's clips as one call (training.element.run_calls, the clips in
the order np.random.default_rng(speaker) gives, as `concat` joins them: the decision is the
duration-weighted mean of the clip's windows). No classified window counts as wrong. Per corpus: UAR over
the corpus's labels and over the element's own label, coverage, and the clips whose element label differs
from the reference's (a clip that gains or loses its decision included).

By default the models are the shipped files (models/reslstm-sa-<R>k.onnx) and the speakers their
validation speakers (RAVDESS actors 3 and 6, EmoDB 03 and 08: never trained on; they fitted the
temperature and judged the checks). With --cv they are each CV fold's ensemble (cv<R>k, fold<F>_seed0) on
its test speakers, as in the card's robustness tables; the figures are pooled over the folds, with the
mean and std (ddof 1) of the folds' UAR over the corpus's labels.

    python3 -m training.codecs --rate 16000     # -> models/results/codecs-16k.json
    python3 -m training.codecs --rate 8000      # -> models/results/codecs-8k.json
    python3 -m training.codecs --rate 16000 --cv   # -> models/results/codecs-cv-16k.json (and --rate 8000)
    python3 -m training.codecs --rate 16000 --nonspeech   # -> codecs-nonspeech-16k.json (and --rate 8000)

--nonspeech: the held-out non-speech clips of ns-test (music, noise, tones; impulsive sounds; rings and
alerts) and the espeak-ng voices reading a neutral text (speech_tests.py) through the same chains (at 8 kHz
from their telephone band) and the shipped model, each clip its own stream: the windows classified (an
`emotion` message) of the clips' windows (windows.window_starts), and the voices' windows labelled angry.
With --bias B the element runs with the built-in model and non-speech-bias=B (training.nsbias's worker).

Needs the plugin built (`cargo build --release --lib`, found through GST_PLUGIN_PATH or target/release) and
Debian's gstreamer1.0-plugins-base/-good (opus, lame, mpg123, mulaw) and, for AMR-NB at 8 kHz,
gstreamer1.0-plugins-ugly.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from . import channel, common, extract

# element (and through it torch) is imported where the element runs, so the pure parts need numpy only

LANES = 2

# condition -> encoder ! decoder (GStreamer elements); the first of each rate is the reference
CHAINS = {
    16000: {"none": "identity",
            "opus-24k": "opusenc bitrate=24000 ! opusdec",
            "opus-12k": "opusenc bitrate=12000 ! opusdec",
            "mp3-32k": "lamemp3enc target=bitrate bitrate=32 cbr=true ! mpegaudioparse ! mpg123audiodec"},
    8000: {"mulaw": "mulawenc ! mulawdec",
           "opus-12k": "opusenc bitrate=12000 ! opusdec",
           "opus-8k": "opusenc bitrate=8000 ! opusdec",
           # AMR-NB, the mobile networks' narrowband codec: its highest and lowest rates
           "amr-nb-12.2k": "amrnbenc band-mode=MR122 ! amrnbdec",
           "amr-nb-4.75k": "amrnbenc band-mode=MR475 ! amrnbdec"},
}


def coding_pipeline(src: Path, dst: Path, chain: str, rate: int) -> str:
    """The gst-launch description that writes `src` through `chain` as a mono float WAV at `rate`."""
    return (f'filesrc location="{src}" ! decodebin ! audioconvert ! audioresample ! '
            f'audio/x-raw,rate={rate},channels=1 ! {chain} ! audioconvert ! audioresample ! '
            f'audio/x-raw,format=F32LE,rate={rate},channels=1 ! wavenc ! filesink location="{dst}"')


# One pipeline per line of stdin (a JSON [description, output path]); prints the output path and any error.
CODER = r"""
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    description, dst = json.loads(line)
    err = play(Gst.parse_launch(description), lambda s: None)
    print(json.dumps({"file": dst, "error": err}), flush=True)
"""


def code(jobs: list[tuple[Path, Path, str]], rate: int) -> None:
    """Writes each (source, destination, chain) job's file, LANES GStreamer processes at a time."""
    from . import element

    def lane(part: list[tuple[Path, Path, str]]) -> None:
        lines = [json.dumps([coding_pipeline(s, d, c, rate), str(d)]) for s, d, c in part]
        proc = subprocess.run([element.SYSTEM_PYTHON, "-c", element.WORKER_PRELUDE + CODER],
                              input="\n".join(lines), capture_output=True, text=True, env=dict(os.environ),
                              check=True)
        out = [json.loads(line) for line in proc.stdout.splitlines()]
        bad = [r for r in out if r["error"]]
        if len(out) != len(part) or bad:
            raise RuntimeError(f"{len(out) - len(bad)} of {len(part)} files coded: {bad[:3]} "
                               f"{proc.stderr[-2000:]}")

    with concurrent.futures.ThreadPoolExecutor(LANES) as pool:
        list(pool.map(lane, [jobs[k::LANES] for k in range(LANES)]))


def corpus_figures(y: list[int], decisions: list[tuple[int, int]], reference: list[tuple[int, int]] | None,
                   labels: list[int]) -> dict:
    """UAR over the corpus's labels and over the element's own label, coverage, and (against the reference's
    decisions of the same clips) how many clips' element label changed."""
    pred = [d for d, _ in decisions]
    pred_r = [d for _, d in decisions]
    uar_r, uar = common.decision_uars(y, pred, pred_r)
    out = {"uar_corpus_labels": round(uar_r, 4), "uar_element_label": round(uar, 4),
           "coverage": round(float(np.mean([d != common.NON_SPEECH for d in pred])), 4), "n": len(y)}
    if reference is not None:
        out["element_label_changed"] = int(sum(a[0] != b[0] for a, b in zip(decisions, reference)))
    return out


def calls_of(clips: list[common.Clip]) -> list[list[int]]:
    """Each speaker's clips (indices) in a seeded order: one call per speaker."""
    out = []
    for spk in sorted({c.speaker for c in clips}):
        idx = [k for k, c in enumerate(clips) if c.speaker == spk]
        out.append([idx[int(j)] for j in np.random.default_rng(spk).permutation(len(idx))])
    return out


def decisions(model: Path, clips: list[common.Clip], files: list[Path], rate: int,
              labels: list[int]) -> dict[str, list[tuple[int, int]]]:
    """The decision of every clip, each clip its own stream ("clips") and in its speaker's call ("calls")."""
    from . import element

    got = element.run_element(model, files)
    alone = []
    for f in files:
        summary = got[f.name]["summary"]
        alone.append(common.decision(common.summary_probs(summary), labels, summary and summary["emotion"]))
    in_calls: list[tuple[int, int] | None] = [None] * len(files)
    calls = calls_of(clips)
    for call, r in zip(calls, element.run_calls(model, [[files[k] for k in call] for call in calls])):
        n = [sf.info(str(files[k])).frames for k in call]
        per, straddling = element.assign_windows(r["windows"], element.clip_starts_ns(n, rate), n, rate)
        # as training.element's calls: concat ends the element's stretch at each clip, one summary per call
        if straddling or r["summaries"] != [len(r["windows"])]:
            raise RuntimeError(f"call of {files[call[0]].name}: {straddling} windows past their clip's end, "
                               f"summaries {r['summaries']} for {len(r['windows'])} windows")
        for k, wins in zip(call, per):
            in_calls[k] = common.decision(element.clip_decision(wins), labels)
    return {"clips": alone, "calls": in_calls}


def sources(clips: list[common.Clip], rate: int, tmp: Path) -> list[Path]:
    """The files the codecs read: the clips themselves at 16 kHz, their telephone band at 8 kHz."""
    if rate == 16000:
        return [c.path for c in clips]
    out = []
    for c in clips:
        x, sr = sf.read(str(c.path), dtype="float64")
        assert sr == 16000, c.path
        out.append(tmp / f"band-{c.path.stem}.wav")
        sf.write(out[-1], channel.telephone_band(x).astype(np.float32), rate, subtype="FLOAT")
    return out


def nonspeech_figures(rate: int, tmp: Path, bias: float | None = None) -> dict:
    """Windows classified by the shipped model (and of the synthetic voices, windows `angry`), by set and
    condition."""
    from . import element, export, nsbias, speech_tests, windows

    clips, _ = extract.nonspeech_audio("ns-test")
    sets = {"earlier": extract.ns_earlier("ns-test"), "impulsive": extract.ns_impulses("ns-test"),
            "alerts": extract.ns_alerts("ns-test")}
    # the espeak-ng voices reading a neutral text (an IVR prompt comes through the same codecs)
    voices = [speech_tests.render(v, t) for v, t in speech_tests.VOICES]
    sets["espeak-ng"] = range(len(clips), len(clips) + len(voices))
    clips = list(clips) + voices
    src, n_windows = [], []
    for i, x in enumerate(clips):
        y = x if rate == 16000 else channel.telephone_band(x)
        src.append(tmp / f"ns-{i:04d}.wav")
        sf.write(src[-1], y.astype(np.float32), rate, subtype="FLOAT")
        n_windows.append(len(windows.window_starts(y.size, rate)))
    model = export.ONNX_PATH[rate]
    out = {"model": str(model.relative_to(common.REPO_DIR)), "model_sha256": extract.sha256_file(model), "sets": {}}
    for cond, chain in CHAINS[rate].items():
        files = [tmp / f"{cond}-ns-{i:04d}.wav" for i in range(len(clips))]
        code([(a, b, chain) for a, b in zip(src, files)], rate)
        with concurrent.futures.ThreadPoolExecutor(LANES) as pool:
            got = {}
            parts = [files[k::LANES] for k in range(LANES)]
            if bias is None:
                for part in pool.map(lambda fs: element.run_element(model, fs), parts):
                    got.update(part)
            else:
                # the built-in model (the shipped file's weights) with the element's non-speech-bias
                for fs, labels in zip(parts, pool.map(lambda fs: nsbias.classified(fs, bias), parts)):
                    got.update({f.name: {"windows": w} for f, w in zip(fs, labels)})
        for name, idx in sets.items():
            labels = [e for i in idx for e in got[files[i].name]["windows"]]
            row = {"windows": sum(n_windows[i] for i in idx), "classified": len(labels)}
            if name == "espeak-ng":
                row["angry"] = labels.count("angry")
            out["sets"].setdefault(name, {})[cond] = row
        for f in files:
            f.unlink()
    return out


def measure(model: Path, clips: list[common.Clip], rate: int, labels: list[int],
            tmp: Path) -> dict[str, dict[str, list[tuple[int, int]]]]:
    """Every condition's decisions of the clips with this model (by condition, then mode), two lanes."""
    chains = CHAINS[rate]
    files = {cond: [tmp / f"{cond}-{c.path.stem}.wav" for c in clips] for cond in chains}
    src = sources(clips, rate, tmp)
    code([(a, files[cond][k], chain) for cond, chain in chains.items() for k, a in enumerate(src)], rate)
    with concurrent.futures.ThreadPoolExecutor(LANES) as pool:
        got = dict(zip(chains, pool.map(lambda cond: decisions(model, clips, files[cond], rate, labels), chains)))
    for fs in files.values():
        for f in fs:
            f.unlink()
    return got


def figures(y: list[int], got: dict[str, dict[str, list[tuple[int, int]]]], labels: list[int],
            reference: str) -> dict:
    return {cond: {mode: corpus_figures(y, d[mode], None if cond == reference else got[reference][mode], labels)
                   for mode in ("clips", "calls")} for cond, d in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=sorted(CHAINS), default=16000)
    ap.add_argument("--cv", action="store_true", help="the CV models on their test speakers (codecs-cv-<R>k.json)")
    ap.add_argument("--nonspeech", action="store_true",
                    help="the held-out non-speech, windows classified (codecs-nonspeech-<R>k.json)")
    ap.add_argument("--bias", type=float, help="--nonspeech: the element's non-speech-bias, with the built-in "
                    "model (codecs-nonspeech-<R>k-bias-B.json)")
    args = ap.parse_args()
    rate = args.rate
    os.environ["GST_PLUGIN_PATH"] = os.environ.get("GST_PLUGIN_PATH") or str(common.REPO_DIR / "target" / "release")
    chains = CHAINS[rate]
    if args.nonspeech:
        how = next(p for p in __doc__.split("\n\n") if p.startswith("--nonspeech"))
        with tempfile.TemporaryDirectory() as tmp:
            res = {"how": " ".join(how.split()), "chains": chains, **nonspeech_figures(rate, Path(tmp), args.bias)}
        if args.bias is not None:
            res["non_speech_bias"] = args.bias
        for name, row in res["sets"].items():
            print(name, json.dumps(row), flush=True)
        suffix = "" if args.bias is None else f"-bias-{args.bias:g}"
        common.write_json(common.RESULTS_DIR / f"codecs-nonspeech-{rate // 1000}k{suffix}.json", res)
        return
    reference = next(iter(chains))
    how = " ".join(" ".join(__doc__.split("\n\n")[1:5]).split())  # the method's paragraphs, on one line
    res = {"how": how, "chains": chains, "reference": reference, "corpora": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.cv:
            from . import export

            model = export.ONNX_PATH[rate]
            res.update(model=str(model.relative_to(common.REPO_DIR)), model_sha256=extract.sha256_file(model))
            for corpus in ("ravdess", "emodb"):
                clips = [c for c in extract.clips_of(corpus) if c.speaker in common.FINAL_VAL[corpus]]
                got = measure(model, clips, rate, common.EVAL_LABELS[corpus], tmp)
                res["corpora"][corpus] = figures([c.label for c in clips], got, common.EVAL_LABELS[corpus], reference)
        else:
            import torch

            from . import element, train

            torch.set_num_threads(1)
            res["models"] = f"{train.tag_of('cv', rate)}, fold<F>_seed0 of each fold, on its test speakers"
            pooled = {c: ([], {cond: {"clips": [], "calls": []} for cond in chains}) for c in ("ravdess", "emodb")}
            per_fold: dict[str, list[dict]] = {c: [] for c in pooled}
            for f in range(5):
                model, rec = train.load_run(train.tag_of("cv", rate), f"fold{f}_seed0")
                onnx = tmp / f"fold{f}.onnx"
                element.export_run(model, rec, onnx)
                for corpus, (y, dec) in pooled.items():
                    clips = [c for c in extract.clips_of(corpus) if c.speaker in rec["split"][corpus]["test"]]
                    got = measure(onnx, clips, rate, common.EVAL_LABELS[corpus], tmp)
                    y += [c.label for c in clips]
                    for cond, modes in got.items():
                        for mode, d in modes.items():
                            dec[cond][mode] += d
                    per_fold[corpus].append(figures([c.label for c in clips], got, common.EVAL_LABELS[corpus],
                                                    reference))
                    print(f"fold {f} {corpus}:", json.dumps(per_fold[corpus][-1]), flush=True)
            for corpus, (y, dec) in pooled.items():
                table = figures(y, dec, common.EVAL_LABELS[corpus], reference)
                for cond, modes in table.items():
                    for mode, row in modes.items():
                        uars = [fold[cond][mode]["uar_corpus_labels"] for fold in per_fold[corpus]]
                        row.update(fold_mean=round(float(np.mean(uars)), 4),
                                   fold_std=round(float(np.std(uars, ddof=1)), 4))
                res["corpora"][corpus] = table
            res["folds"] = per_fold
    for corpus, table in res["corpora"].items():
        for cond, row in table.items():
            print(corpus, cond, json.dumps(row), flush=True)
    name = f"codecs-cv-{rate // 1000}k.json" if args.cv else f"codecs-{rate // 1000}k.json"
    common.write_json(common.RESULTS_DIR / name, res)


if __name__ == "__main__":
    main()
