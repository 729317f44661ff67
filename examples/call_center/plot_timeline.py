#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Draw each speaker's emotion over time from emotiondetect's JSON lines
(the `emotions` example with channel-mode=independent).

    python3 plot_timeline.py timeline.jsonl timeline.png [call.script.json]

Top: the emotion segments per speaker; below: each speaker's window
probabilities of the four most frequent emotions. Needs matplotlib.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"neutral": "#9e9e9e", "calm": "#4caf50", "happy": "#ffc107", "sad": "#2196f3",
          "angry": "#f44336", "fearful": "#9c27b0", "disgust": "#795548", "surprised": "#00bcd4"}


def main(jsonl, png, script=None):
    lines = [json.loads(l) for l in open(jsonl) if l.strip()]
    speakers = sorted({l.get("speaker", f"channel {l['channel']}") for l in lines if "channel" in l})
    fig, axes = plt.subplots(1 + len(speakers), 1, figsize=(12, 3 + 2.2 * len(speakers)), sharex=True)
    top = axes[0]
    for row, speaker in enumerate(speakers):
        for seg in (l for l in lines if l["type"] == "emotion-segment" and l.get("speaker", f"channel {l['channel']}") == speaker):
            start, end = seg["start"] / 1e9, seg["end"] / 1e9
            top.barh(row, end - start, left=start, color=COLORS.get(seg["emotion"], "k"), edgecolor="white")
            top.text((start + end) / 2, row, seg["emotion"], ha="center", va="center", fontsize=8)
    if script:
        for turn in json.load(open(script)):
            row = speakers.index(turn["speaker"]) if turn["speaker"] in speakers else None
            if row is not None:
                top.plot([turn["start"], turn["end"]], [row + 0.45] * 2, color=COLORS.get(turn["emotion"], "k"), lw=3)
        top.set_title("emotion segments (thin lines: the script)")
    else:
        top.set_title("emotion segments")
    top.set_yticks(range(len(speakers)), speakers)
    for ax, speaker in zip(axes[1:], speakers):
        windows = [l for l in lines if l["type"] == "emotion" and l.get("speaker", f"channel {l['channel']}") == speaker]
        if windows:
            labels = windows[0]["labels"]
            mid = [(w["timestamp"] + w["duration"] / 2) / 1e9 for w in windows]
            for i, label in enumerate(labels):
                ax.plot(mid, [w["probabilities"][i] for w in windows], ".-", color=COLORS.get(label), label=label)
        ax.set_ylabel(speaker)
        ax.set_ylim(0, 1)
    axes[1].legend(ncol=4, fontsize=8, loc="upper left")
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print(f"{png}: {len(speakers)} speakers")


if __name__ == "__main__":
    main(*sys.argv[1:])
