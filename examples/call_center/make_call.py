#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Build a stereo "call" from RAVDESS clips: one actor per channel, turns
alternating, each turn a clip of a scripted emotion, silence on the other
channel meanwhile. Writes a 16 kHz stereo WAV and the script as JSON.

    python3 make_call.py --data ../../../shared/data/ravdess-16k --out call.wav

Needs numpy and soundfile.
"""
import argparse
import json
import pathlib

import numpy as np
import soundfile as sf

EMOTIONS = {"neutral": 1, "calm": 2, "happy": 3, "sad": 4, "angry": 5, "fearful": 6, "disgust": 7, "surprised": 8}
# (speaker, emotion) per turn: a customer who grows angry, an agent who stays calm.
SCRIPT = [
    ("agent", "neutral"), ("customer", "neutral"),
    ("agent", "calm"), ("customer", "sad"),
    ("agent", "calm"), ("customer", "angry"),
    ("agent", "neutral"), ("customer", "angry"),
    ("agent", "calm"), ("customer", "angry"),
]
ACTORS = {"agent": 3, "customer": 6}


def clip(data, actor, emotion, take):
    code = EMOTIONS[emotion]
    intensity = 1 if code == 1 else 2
    statement, repetition = 1 + take % 2, 1 + (take // 2) % 2
    name = f"03-01-{code:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.flac"
    audio, rate = sf.read(data / f"Actor_{actor:02d}" / name, dtype="float32")
    assert rate == 16000, name
    return audio, name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=pathlib.Path, required=True)
    ap.add_argument("--out", type=pathlib.Path, required=True)
    args = ap.parse_args()
    channels = {"agent": [], "customer": []}
    turns, t, takes = [], 0.0, {}
    for speaker, emotion in SCRIPT:
        take = takes.get((speaker, emotion), 0)
        takes[(speaker, emotion)] = take + 1
        audio, name = clip(args.data, ACTORS[speaker], emotion, take)
        other = "customer" if speaker == "agent" else "agent"
        channels[speaker].append(audio)
        channels[other].append(np.zeros_like(audio))
        turns.append({"speaker": speaker, "emotion": emotion, "file": name, "start": t, "end": t + len(audio) / 16000})
        t += len(audio) / 16000
    stereo = np.stack([np.concatenate(channels["agent"]), np.concatenate(channels["customer"])], axis=1)
    sf.write(args.out, stereo, 16000, subtype="PCM_16")
    args.out.with_suffix(".script.json").write_text(json.dumps(turns, indent=1))
    print(f"{args.out}: {t:.1f} s, {len(turns)} turns (agent: left, customer: right)")


if __name__ == "__main__":
    main()
