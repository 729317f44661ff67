#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""What a competent Python user would write instead of emotiondetect:
librosa features computed once over the whole file, the same 3 s windows
every 1 s, and onnxruntime (one thread) on the same model, in batches.

    python3 benches/python_baseline.py FILE.wav [MODEL.onnx]

Prints the CPU time and x real time. Needs librosa, soundfile, numpy and
onnxruntime (pip). Called by `cargo bench --bench throughput -- versus-python`.
"""
import json
import sys
import time

import librosa
import numpy as np
import onnxruntime as ort
import soundfile as sf


def main(path, model_path="models/reslstm-sa-16k.onnx"):
    cpu0, wall0 = time.process_time(), time.perf_counter()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    p = json.loads(session.get_modelmeta().custom_metadata_map["emotiondetect.features"])
    y, sr = sf.read(path, dtype="float32")
    assert sr == p["sample_rate"]
    S = np.abs(librosa.stft(y, n_fft=p["n_fft"], hop_length=p["hop_length"], window="hann", center=False)) ** 2
    mel = librosa.feature.melspectrogram(S=S, sr=sr, n_mels=p["n_mels"], fmin=p["fmin"], fmax=p["fmax"])
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, amin=p["amin"], top_db=None), n_mfcc=p["n_mfcc"])
    chroma = librosa.feature.chroma_stft(S=S, sr=sr, n_chroma=p["n_chroma"], tuning=0.0)
    feats = np.concatenate([mfcc, chroma]).T.astype(np.float32)  # frames x 46
    window, interval, hop, n_fft = 3 * sr, sr, p["hop_length"], p["n_fft"]
    starts = range(0, len(y) - window + 1, interval)
    first = [(-(-s // hop)) for s in starts]
    count = (window - n_fft) // hop + 1
    probs = []
    batch = 32
    for i in range(0, len(first), batch):
        x = np.stack([feats[f:f + count] for f in first[i:i + batch]])
        probs.append(session.run(["probabilities"], {"features": x})[0])
    probs = np.concatenate(probs)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    seconds = len(y) / sr
    print(f"python baseline: {seconds / 60:.0f} min, {len(probs)} windows, CPU {cpu:.2f} s, wall {wall:.2f} s, "
          f"{seconds / cpu:.0f}x real time")


if __name__ == "__main__":
    main(*sys.argv[1:])
