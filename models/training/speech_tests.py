# SPDX-License-Identifier: MPL-2.0
"""Synthetic test speech (espeak-ng): a neutral reading in English and German, never used in training.

    render(voice, text) -> 16 kHz float64 audio
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

TEXT_EN = ("Good morning. This is a short announcement about the opening hours of the library. From Monday to "
           "Friday the reading room is open from nine in the morning until six in the evening. On Saturdays it "
           "closes at one. Books can be returned at the front desk or in the box next to the main entrance. "
           "Please remember to bring your card when you borrow a book. Thank you for listening.")
TEXT_DE = ("Guten Tag. Dies ist eine kurze Mitteilung zu den Öffnungszeiten der Bibliothek. Von Montag bis "
           "Freitag ist der Lesesaal von neun Uhr morgens bis achtzehn Uhr geöffnet. Am Samstag schließt er um "
           "dreizehn Uhr. Bücher können an der Theke oder im Kasten neben dem Haupteingang zurückgegeben werden. "
           "Bitte denken Sie an Ihren Ausweis, wenn Sie ein Buch ausleihen. Vielen Dank.")
VOICES = [("en-us", TEXT_EN), ("en-gb", TEXT_EN), ("en-gb-x-rp", TEXT_EN), ("en-gb-scotland", TEXT_EN),
          ("en-us+f3", TEXT_EN), ("en+f4", TEXT_EN), ("de", TEXT_DE), ("de+f3", TEXT_DE), ("de+m3", TEXT_DE)]


def render(voice: str, text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "v.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(wav), text], check=True,
                       capture_output=True)
        x, sr = sf.read(str(wav), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != 16000:
        from math import gcd

        g = gcd(16000, sr)
        x = signal.resample_poly(x, 16000 // g, sr // g)
    return x * (10 ** (-26 / 20) / max(np.sqrt(np.mean(x**2)), 1e-12))  # -26 dBFS RMS, a normal speech level
