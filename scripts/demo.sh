#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# The element with its built-in model on the bundled speech, no options:
# installs what it needs (scripts/setup.sh), builds, prints one line per
# result. Pass another audio file as the first argument to analyse it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked --lib --example emotions
file="${1:-assets/demo-speech.wav}"
echo "emotiondetect on $file (3 s windows every 1 s):"
./target/release/examples/emotions "$file" --pretty
