#!/usr/bin/env bash
# SPDX-License-Identifier: MPL-2.0
# Installs what emotiondetect needs on Debian 12, idempotently:
#  - GStreamer 1.22 development packages and tools, PyGObject with the
#    GStreamer overrides (for the Python example and its test);
#  - ONNX Runtime's shared library, taken from the `onnxruntime` wheel on
#    PyPI, into $EMOTIONDETECT_ORT_DIR (default
#    ${XDG_DATA_HOME:-$HOME/.local/share}/emotiondetect/onnxruntime), the
#    place the element looks after $ORT_DYLIB_PATH.
# Rust (cargo ≥ 1.95, from rustup) must already be installed.
#
# Usage: scripts/setup.sh            (sourced by demo.sh and test.sh)
set -euo pipefail

ORT_VERSION="${EMOTIONDETECT_ORT_VERSION:-1.31.1}"
ORT_DIR="${EMOTIONDETECT_ORT_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/emotiondetect/onnxruntime}"

APT_PACKAGES=(
    pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    python3 python3-pip python3-gi python3-gst-1.0 unzip valgrind gcc mosquitto mosquitto-clients
)

say() { printf '[setup] %s\n' "$*" >&2; }

install_apt_packages() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_onnxruntime() {
    local lib="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"
    if [ ! -f "$lib" ]; then
        say "fetching ONNX Runtime $ORT_VERSION from the onnxruntime wheel on PyPI"
        local tmp
        tmp="$(mktemp -d)"
        # Any Python on the machine can download the wheel; the library in it
        # does not depend on the Python version.
        local py=python3
        command -v "$py" >/dev/null || py=/usr/bin/python3
        "$py" -m pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux_2_28_x86_64 --python-version 3.11 \
            -d "$tmp" "onnxruntime==$ORT_VERSION"
        mkdir -p "$ORT_DIR"
        unzip -q -o -j "$tmp"/onnxruntime-*.whl "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$ORT_DIR"
        rm -rf "$tmp"
    fi
    ln -sf "libonnxruntime.so.$ORT_VERSION" "$ORT_DIR/libonnxruntime.so"
}

check_rust() {
    if ! command -v cargo >/dev/null; then
        say "cargo not found: install Rust ≥ 1.95 with rustup first"
        exit 1
    fi
}

install_apt_packages
install_onnxruntime
check_rust
say "ready (ONNX Runtime in $ORT_DIR)"
