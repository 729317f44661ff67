# SPDX-License-Identifier: MPL-2.0
"""The element's `non-speech-bias` swept through the element (MODEL_CARD.md, *A bias on the non-speech decision*).

    python3 -m training.nsbias            # validation: the sweep and the rule's choice
    python3 -m training.nsbias --test B   # held-out material with bias B and with 0 (decides nothing): -test-B.json

Every clip is its own stream, written as 16-bit PCM at the model's rate (16 kHz as it is, 8 kHz through the
telephone channel, `channel.telephone`, μ-law and A-law alternating by clip) and played by the system Python's
GStreamer (training.element's worker prelude) through `pushfilesrc ! decodebin ! audioconvert ! audioresample !
emotiondetect non-speech-bias=B ! fakesink`, the pipeline of `examples/emotions`, every other property at its
default; one process per lane plays its files one after another, so the model is loaded once. The plugin comes
from GST_PLUGIN_PATH (default: target/release, `cargo build --release --lib`). A window is classified when it
has an `emotion` message; the windows of a clip are the element's (`windows.window_starts`). Validation: speech of the shipped
models' validation speakers (common.FINAL_VAL) clean, white and babble at 10 dB; the earlier and impulsive clips
of ns-val and the alert clips of alerts.py's training and validation splits; the demo at both rates. Test: the
ns-test clips (earlier, impulsive, alerts), Debian's desktop sounds as one stream (examples.py) and the espeak-ng
neutral reading (speech_tests.py), each voice one stream.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import alerts, channel, common, examples, extract, windows

BIASES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
RATES = (16000, 8000)
SPEECH_CONDITIONS = ("clean", "white10", "babble10")
ALERT_SPLITS = {"train": extract.NS_ALERTS["ns-train"], "val": extract.NS_ALERTS["ns-val"]}
# the rule (the card, written before the sweep)
MAX_SPEECH_LOSS = 0.01
MIN_NONSPEECH_CUT = 1 / 3


def at_rate(x: np.ndarray, rate: int, index: int) -> np.ndarray:
    """16 kHz audio as the element gets it at `rate`: as it is, or through the telephone channel."""
    return x if rate == 16000 else channel.telephone(x, "mu" if index % 2 == 0 else "a")


def validation_material(rate: int) -> dict[str, list[np.ndarray]]:
    """The sweep's clips at `rate` by set: speech-<condition> and non-speech."""
    out: dict[str, list[np.ndarray]] = {}
    for corpus in ("ravdess", "emodb"):
        audio = extract.Audio(corpus)
        for i, c in enumerate(audio.clips):
            if c.speaker in common.FINAL_VAL[corpus]:
                for cond in SPEECH_CONDITIONS:
                    out.setdefault(f"speech-{cond}", []).append(extract.audio_for(audio, i, cond, rate)[0])
    clips, _ = extract.nonspeech_audio("ns-val")
    ns = list(clips[:extract.ns_impulses("ns-val").stop])
    ns += [alerts.clip(split, i, extract.NS_SECONDS["ns-val"])[0] for split, n in ALERT_SPLITS.items()
           for i in range(n)]
    out["non-speech"] = [at_rate(x, rate, i) for i, x in enumerate(ns)]
    return out


def test_material(rate: int) -> dict[str, list[np.ndarray]]:
    """The held-out clips at `rate`: ns-test's earlier, impulsive and alert clips, and the espeak-ng voices."""
    from . import speech_tests

    clips, _ = extract.nonspeech_audio("ns-test")
    parts = {"earlier": extract.ns_earlier("ns-test"), "impulsive": extract.ns_impulses("ns-test"),
             "alerts": extract.ns_alerts("ns-test")}
    out = {f"non-speech-{k}": [at_rate(clips[i], rate, i) for i in r] for k, r in parts.items()}
    out["espeak-ng"] = [at_rate(speech_tests.render(v, t), rate, i) for i, (v, t) in enumerate(speech_tests.VOICES)]
    return out


# One pipeline per file (a line of stdin); prints each file's `emotion` labels as a JSON line.
WORKER = r"""
bias = float(sys.argv[1])
for path in sys.stdin.read().split("\n"):
    if not path:
        continue
    p = Gst.parse_launch(f'pushfilesrc location="{path}" ! decodebin ! audioconvert ! audioresample ! '
                         f'emotiondetect non-speech-bias={bias!r} ! fakesink')
    wins = []
    err = play(p, lambda s: wins.append(s.get_string("emotion")) if s.get_name() == "emotion" else None)
    print(json.dumps({"file": path, "emotions": wins, "error": err}), flush=True)
"""


def classified(paths: list[Path], bias: float) -> list[list[str]]:
    """The labels of the windows the element classifies in each file, with this bias."""
    from .element import SYSTEM_PYTHON, WORKER_PRELUDE

    env = dict(os.environ)
    env.setdefault("GST_PLUGIN_PATH", str(common.REPO_DIR / "target" / "release"))
    proc = subprocess.run([SYSTEM_PYTHON, "-c", WORKER_PRELUDE + WORKER, repr(float(bias))],
                          input="\n".join(map(str, paths)), capture_output=True, text=True, env=env, check=True)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    if len(out) != len(paths) or any(r["error"] for r in out):
        raise RuntimeError(f"{sum(1 for r in out if not r['error'])} of {len(paths)} files played: "
                           f"{[r['error'] for r in out if r['error']][:3]} {proc.stderr[-2000:]}")
    return [r["emotions"] for r in out]


def count(files: list[tuple[Path, int]], bias: float, lanes: int) -> tuple[int, int, list[str]]:
    """(windows classified, windows, the classified windows' labels) over files given with their window counts."""
    parts = [[f for f, _ in files[k::lanes]] for k in range(lanes)]
    with concurrent.futures.ThreadPoolExecutor(lanes) as pool:
        runs = [r for part in pool.map(lambda p: classified(p, bias), parts) for r in part]
    return sum(len(r) for r in runs), sum(n for _, n in files), [e for r in runs for e in r]


def write_clips(clips: list[np.ndarray], rate: int, tmp: Path, name: str) -> list[tuple[Path, int]]:
    """Each clip as a 16-bit WAV file at `rate`, with its number of element windows."""
    import soundfile as sf

    out = []
    for i, x in enumerate(clips):
        path = tmp / f"{name}-{rate}-{i:04d}.wav"
        sf.write(path, np.clip(x, -1.0, 1.0), rate, subtype="PCM_16")
        out.append((path, len(windows.window_starts(x.size, rate))))
    return out


def choose(rows: dict) -> float:
    """The rule: the largest bias whose speech windows classified fall by at most MAX_SPEECH_LOSS against bias 0
    in every speech set at every rate, with the demo whole at every rate, if it cuts the non-speech windows
    classified (rates pooled) by at least MIN_NONSPEECH_CUT; else 0."""
    base = rows["0.0"]
    ns0 = sum(base[r]["non-speech"][0] for r in base)
    best = 0.0
    for key, row in rows.items():
        bias = float(key)
        speech_ok = all(base[r][s][0] / base[r][s][1] - row[r][s][0] / row[r][s][1] <= MAX_SPEECH_LOSS + 1e-12
                        for r in row for s in row[r] if s.startswith("speech-"))
        demo_ok = all(row[r]["demo"][0] == row[r]["demo"][1] for r in row)
        ns = sum(row[r]["non-speech"][0] for r in row)
        if speech_ok and demo_ok and ns <= (1 - MIN_NONSPEECH_CUT) * ns0 and bias > best:
            best = bias
    return best


def one_stream(wide: Path, narrow: Path) -> dict[int, list[tuple[Path, int]]]:
    """A 16 kHz file and its 8 kHz copy, each one stream, with its number of element windows, by rate."""
    import soundfile as sf

    return {rate: [(f, len(windows.window_starts(sf.info(str(f)).frames, rate)))]
            for rate, f in ((16000, wide), (8000, narrow))}


def summary_row(row: dict) -> dict:
    return {f"{r // 1000}k": {s: f"{c}/{n} ({c / n:.1%})" for s, (c, n) in sets.items()} for r, sets in row.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--test", type=float, metavar="BIAS", help="the held-out material with this bias and with 0")
    ap.add_argument("--lanes", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    plugin = common.REPO_DIR / "target" / "release" / "libgstemotiondetect.so"
    if "GST_PLUGIN_PATH" not in os.environ and not plugin.exists():
        raise SystemExit(f"no {plugin}: cargo build --release --lib (or set GST_PLUGIN_PATH)")
    # the built-in models: the plugin embeds these files when built from this tree
    sha = {k: extract.sha256_file(common.REPO_DIR / "models" / f"reslstm-sa-{k}.onnx") for k in ("16k", "8k")}
    biases = (0.0, args.test) if args.test is not None else BIASES
    rows: dict = {str(b): {} for b in biases}
    labels: dict = {str(b): {} for b in biases}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.test is None:
            streams = {"demo": one_stream(*examples.demo_at_both_rates(tmp))}
        else:
            streams = {"desktop-sounds": one_stream(*examples.desktop_sounds(examples.fetch_theme(), tmp))}
        for rate in RATES:
            material = test_material(rate) if args.test is not None else validation_material(rate)
            files = {s: write_clips(clips, rate, tmp, s) for s, clips in material.items()}
            files.update({s: by_rate[rate] for s, by_rate in streams.items()})
            for b in biases:
                for s, fs in files.items():
                    c, n, ws = count(fs, b, args.lanes)
                    rows[str(b)].setdefault(rate, {})[s] = (c, n)
                    if not s.startswith("speech-") and s != "demo":
                        labels[str(b)].setdefault(f"{rate // 1000}k", {})[s] = sorted(
                            collections.Counter(ws).items())
                    print(f"bias {b} {rate} {s}: {c} of {n} windows classified", flush=True)
    out = {"how": __doc__.split("\n\n")[2].replace("\n", " "), "models_sha256": sha,
           "rows": {b: summary_row(r) for b, r in rows.items()}, "non_speech_labels": labels}
    if args.test is None:
        out["summary"] = {"chosen_bias": choose(rows)}
        name = "non-speech-bias-sweep"
    else:
        out["summary"] = {"bias": args.test, "decides": "nothing (held-out material)"}
        name = f"non-speech-bias-test-{args.test:g}"
    common.write_rule_result(name, out)


if __name__ == "__main__":
    main()
