#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Runs the whole test suite on a fresh Debian 12 machine: installs what it
# needs (scripts/setup.sh), checks formatting and lints, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export EMOTIONDETECT_ORT_DIR="${EMOTIONDETECT_ORT_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/emotiondetect/onnxruntime}"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# What the training code's unit tests, and the element test that checks its
# window rule, need (numpy, scipy, soundfile; no torch).
python3 -m pip install --quiet --disable-pip-version-check -r models/requirements-test.txt
cargo fmt --check
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# The plugin library itself (cargo test builds only the rlib), for the tests
# that load it with gst-inspect-1.0 and from Python, and the example
# programs (--all-targets builds them as test harnesses, not as programs).
cargo build --locked --lib --examples
# Every test runs: nothing is skipped for a missing runtime or model, and a
# failing test binary does not hide the ones after it.
cargo test --workspace --all-targets --all-features --locked --no-fail-fast
# The training code's unit tests (numpy, scipy and soundfile only).
(cd models && python3 -m unittest discover -s training/tests -t .)
# No leak from the element: its harness tests under valgrind.
bash scripts/leak-check.sh element call_center
