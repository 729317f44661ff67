#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Test double of `emotiondetect-features` (same stdin/stdout protocol).

Only for the training code's own tests (test_extract.py): its features are
crude log band energies, NOT the element's features. Never train on them.
"""
import json
import struct
import sys

import numpy as np

N_FFT, HOP, N_MFCC, N_CHROMA = 1280, 640, 34, 12
# --pitch: two more columns, as the real extractor (here always 0: no pitch analysis)
N_PITCH = 2 if "--pitch" in sys.argv else 0
PARAMS = {"sample_rate": 16000, "n_fft": N_FFT, "hop_length": HOP, "n_mfcc": N_MFCC,
          "n_chroma": N_CHROMA, "center": False, "format": "fake", "n_features": N_MFCC + N_CHROMA + N_PITCH}


def feats(x):
    n = 0 if x.size < N_FFT else 1 + (x.size - N_FFT) // HOP
    out = np.zeros((n, N_MFCC + N_CHROMA + N_PITCH), dtype=np.float32)
    win = np.hanning(N_FFT)
    for j in range(n):
        spec = np.abs(np.fft.rfft(x[j * HOP : j * HOP + N_FFT] * win)) ** 2
        bands = np.array_split(spec[1:], N_MFCC)
        out[j, :N_MFCC] = np.log10(np.array([b.sum() for b in bands]) + 1e-10)
        chroma = np.array([spec[1:][k::N_CHROMA].sum() for k in range(N_CHROMA)])
        out[j, N_MFCC:N_MFCC + N_CHROMA] = chroma / (chroma.max() + 1e-10)
    return out


def main():
    if "--print-params" in sys.argv:
        print(json.dumps(PARAMS))
        return
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack("<I", head)
        x = np.frombuffer(inp.read(4 * n), dtype="<f4")
        f = feats(x)
        out.write(struct.pack("<II", *f.shape) + f.astype("<f4").tobytes())
        if "--speech" in sys.argv:  # a crude loudness rule, not the element's detector: 1 speech, 6 steady noise
            out.write(np.where(f[:, :N_MFCC].max(axis=1) > -3, 1, 6).astype(np.uint8).tobytes())
        out.flush()


if __name__ == "__main__":
    main()
