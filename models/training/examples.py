# SPDX-License-Identifier: MPL-2.0
"""The card's two checks through `examples/emotions` (built-in models, default properties): Debian's desktop
sounds played as one stream, and the demo speech with a DC offset of 0.05, at both rates.

    python3 -m training.examples --name c4      # -> models/results/element-examples-<name>.json

The desktop sounds: the 26 sounds of Debian's sound-theme-freedesktop 0.8-2 left when its channel and test
sounds (audio-channel-*, audio-test-*) are set aside, each `sox -R` to 16 kHz mono 16-bit with 1 s of silence
after it, joined in name order into one 52 s stream; the 8 kHz copy goes
through μ-law and back to 16-bit PCM (the package is fetched with `apt-get download` into models/.cache/ unless
`--sounds DIR` names its `stereo` directory). The demo: assets/demo-speech.wav and its `sox -R -r 8000` copy,
each alone and with 0.05 added to its float samples (written as 16-bit PCM); a window is classified when it
has an `emotion` message, and a label changed when the same window has another emotion with the offset.
The emotions binary is `target/release/examples/emotions` (`cargo build --release --example emotions`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from . import extract
from .common import CACHE_DIR, REPO_DIR, RESULTS_DIR, write_json

EMOTIONS = REPO_DIR / "target" / "release" / "examples" / "emotions"
PACKAGE = "sound-theme-freedesktop=0.8-2"
OFFSET = 0.05


def classified_windows(jsonl: str) -> list[dict]:
    """The windows with an `emotion` message in the example's output (one JSON object per line)."""
    out = []
    for line in jsonl.splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("type") == "emotion":
            out.append({"t": d["timestamp"] / 1e9, "emotion": d["emotion"], "confidence": round(d["confidence"], 3)})
    return out


def changed_labels(before: list[dict], after: list[dict]) -> int:
    """Windows classified in both runs (matched by start time) whose emotion differs."""
    labels = {w["t"]: w["emotion"] for w in before}
    return sum(1 for w in after if w["t"] in labels and labels[w["t"]] != w["emotion"])


def with_offset(x: np.ndarray, offset: float = OFFSET) -> np.ndarray:
    """Float samples with a constant added, kept within full scale."""
    return np.clip(x + offset, -1.0, 1.0)


def run(path: Path, binary: Path = EMOTIONS) -> list[dict]:
    out = subprocess.run([str(binary), str(path)], capture_output=True, text=True, check=True).stdout
    return classified_windows(out)


def desktop_sounds(stereo: Path, tmp: Path) -> tuple[Path, Path]:
    """The one-stream files at 16 kHz and (μ-law) 8 kHz from the theme's `stereo` directory."""
    parts = []
    for f in sorted(stereo.iterdir()):
        if f.name.startswith(("audio-channel", "audio-test")):
            continue
        w = tmp / f"w-{f.name}.wav"
        subprocess.run(["sox", "-R", "-q", str(f), "-r", "16000", "-c", "1", "-b", "16", str(w), "pad", "0", "1"],
                       check=True)
        parts.append(str(w))
    wide, narrow = tmp / "all-16000.wav", tmp / "all-8000.wav"
    subprocess.run(["sox", "-R", "-q", *parts, str(wide)], check=True)
    ulaw = subprocess.run(["sox", "-R", str(wide), "-r", "8000", "-e", "u-law", "-t", "raw", "-"],
                          capture_output=True, check=True).stdout
    subprocess.run(["sox", "-R", "-t", "raw", "-r", "8000", "-e", "u-law", "-c", "1", "-", "-b", "16", str(narrow)],
                   input=ulaw, check=True)
    return wide, narrow


def demo_at_both_rates(tmp: Path) -> tuple[Path, Path]:
    """The bundled demo and its 8 kHz copy (`sox -R`, written into tmp)."""
    demo = REPO_DIR / "assets" / "demo-speech.wav"
    demo8 = tmp / "demo-8000.wav"
    subprocess.run(["sox", "-R", str(demo), "-r", "8000", str(demo8)], check=True)
    return demo, demo8


def fetch_theme() -> Path:
    """The theme's `stereo` directory, unpacked from the Debian package into models/.cache/ once."""
    root = CACHE_DIR / "sound-theme-freedesktop"
    stereo = root / "usr" / "share" / "sounds" / "freedesktop" / "stereo"
    if not stereo.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", PACKAGE], cwd=root, check=True)
        deb = next(root.glob("sound-theme-freedesktop_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return stereo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="the version's name: element-examples-<name>.json")
    ap.add_argument("--sounds", type=Path, help="the theme's stereo directory (default: fetched with apt-get download)")
    args = ap.parse_args()
    import soundfile as sf

    if not EMOTIONS.exists():
        raise SystemExit(f"no {EMOTIONS}: cargo build --release --example emotions")
    sha = {k: extract.sha256_file(REPO_DIR / "models" / f"reslstm-sa-{k}.onnx") for k in ("16k", "8k")}
    res: dict = {"how": __doc__.split("\n\n")[2].replace("\n", " "), "models_sha256": sha}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        wide, narrow = desktop_sounds(args.sounds or fetch_theme(), tmp)
        for k, f in (("16k", wide), ("8k", narrow)):
            res[f"desktop_sounds_{k}"] = {"file": f"{f.name} ({PACKAGE}, one stream)", "windows_classified": run(f)}
        demo, demo8 = demo_at_both_rates(tmp)
        for k, f in (("16k", demo), ("8k", demo8)):
            x, rate = sf.read(f, dtype="float64")
            shifted = tmp / f"dc-{k}.wav"
            sf.write(shifted, with_offset(x), rate, subtype="PCM_16")
            plain, dc = run(f), run(shifted)
            res[f"demo_{k}"] = {"file": f"assets/demo-speech.wav ({k})", "windows_classified": plain}
            res[f"demo_dc_{OFFSET}_{k}"] = {"file": f"assets/demo-speech.wav ({k}) + {OFFSET}", "windows_classified": dc,
                                            "changed_labels": changed_labels(plain, dc)}
    path = RESULTS_DIR / f"element-examples-{args.name}.json"
    write_json(path, res)
    for key, v in res.items():
        if isinstance(v, dict) and "windows_classified" in v:
            extra = f", {v['changed_labels']} labels changed" if "changed_labels" in v else ""
            print(f"{key}: {len(v['windows_classified'])} windows classified{extra}")
    print(f"-> {path}")


if __name__ == "__main__":
    main()
