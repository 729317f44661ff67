#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The call-center example end to end: a stereo call from the shared RAVDESS
# data, emotiondetect per channel, a JSON-lines timeline and a PNG plot.
#   examples/call_center/run.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$here/../.."
data="${1:-$repo/../shared/data/ravdess-16k}"
out="${2:-$repo/target/call-center}"
mkdir -p "$out"
python3 -m pip install --quiet numpy soundfile matplotlib
python3 "$here/make_call.py" --data "$data" --out "$out/call.wav"
cargo build --release --quiet --example emotions --manifest-path "$repo/Cargo.toml"
"$repo/target/release/examples/emotions" "$out/call.wav" channel-mode=independent channel-names=agent,customer \
    > "$out/timeline.jsonl"
python3 "$here/plot_timeline.py" "$out/timeline.jsonl" "$out/timeline.png" "$out/call.script.json"
python3 - "$out/timeline.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["type"] == "emotion-segment":
        print("%9s %6.1f - %6.1f s  %-9s %.2f" % (s["speaker"], s["start"] / 1e9, s["end"] / 1e9, s["emotion"], s["confidence"]))
PY
echo "timeline: $out/timeline.jsonl, plot: $out/timeline.png"
