# SPDX-License-Identifier: MPL-2.0
"""The element's `min-speech-ratio` gate, measured with the element's own voice-activity flags.

With `min-speech-ratio` (by default 0.05 for a model with `non-speech`, 0.2 without), the element classifies a
window only if at least that share of its frames are speech by the rule-based VAD (core/src/vad.rs),
before the model's non-speech gate. The other evaluations leave that rule out (windows.py); this one
adds it back: every bank holds the extractor's per-frame VAD flags (`--speech`, the flags the element
computes on the same samples), so a window's speech ratio is the share of its frames flagged, as in
the element for a clip played from its start. The models run in PyTorch, not ONNX Runtime, and the
audio is not decoded and resampled by GStreamer, so counts can differ from the element's by a few
windows in thousands (held-out non-speech: 12 of 3595 here against 9 of 3600 through the element).

For each ratio in RATIOS, over the CV ensembles (and the shipped model) on their validation speakers
(selection) and on the CV test speakers (report):
- the share of loud speech windows classified, per condition (clean, noise, reverberation, telephone);
- the UAR of the classified windows (argmax over the corpus's labels), and of clips decided by the
  element's summary under the same gate (a clip with no classified window falls back to its loud
  windows, as in evaluate.decide);
- the share of loud neutral and calm windows labelled angry (clean, white and babble 10 dB);
- the share of loud non-speech windows classified (ns-val for selection, ns-test for the report).

    python3 -m training.speech_gate --rate 16000     # -> models/results/speech-gate-16k.json
"""
from __future__ import annotations

import argparse
import functools
import json

import numpy as np

from . import calibration, common, evaluate, extract, train

RATIOS = (0.2, 0.1, 0.05, 0.0)
# What ships (core/src/analysis.rs, AUTO_MIN_SPEECH_RATIO_WITH_GATE). The rule below chose 0; a check made
# afterwards, outside the rule, found the models classifying at 0 steady sounds unlike their non-speech training
# (whose hum always has harmonics and noise) that the frame detector never calls speech: a constant offset and a
# pure 50 Hz tone (every window, 16 kHz), such a tone with harmonics on an offset at 8 kHz. So the element asks a
# few speech frames of a window: the next ratio in the rule's order, which passed it too.
SHIPPED = 0.05
SHIPPED_WHY = ("the rule's choice (0) let a constant offset and a pure 50 Hz tone (16 kHz), and such a tone on an "
               "offset (8 kHz), through the model's gate (checked after the choice); 0.05, the next ratio that "
               "passed the rule, keeps them out")
FALSE_ALARM_CONDITIONS = ("clean", "white10", "babble10")


def speech_ratios(bank: extract.Bank, i: int) -> tuple[np.ndarray, np.ndarray]:
    """The element's speech ratio of each window of clip i (the share of its frames the VAD flags), and whether
    the window holds any frame (the element classifies none without)."""
    sp = bank.clip_speech(i)
    spans = [(j0, j1) for _, _, j0, j1, _ in bank.windows(i)]
    return (np.array([sp[j0:j1].mean() if j1 > j0 else 0.0 for j0, j1 in spans]),
            np.array([j1 > j0 for j0, j1 in spans], dtype=bool))


def with_ratios(model, bank: extract.Bank, idx) -> list[dict]:
    """evaluate.window_probs, each clip with its windows' speech ratios and whether they hold frames."""
    preds = evaluate.window_probs(model, bank, idx)
    for c, i in zip(preds, idx):
        c["ratio"], c["framed"] = speech_ratios(bank, int(i))
    return preds


def classified(c: dict, r: float) -> np.ndarray:
    """The windows the element classifies at min-speech-ratio r."""
    return evaluate.gated(c) & c["framed"] & (c["ratio"] >= r)


class Tally:
    """Counts pooled over runs for one set of speech clips at one ratio."""

    def __init__(self):
        self.loud = self.cls = self.neutral = self.angry = 0
        self.win_true, self.win_pred = [], []
        self.clip_uars = []

    def add(self, preds: list[dict], y: list[int], labels: list[int], r: float) -> None:
        keep = functools.partial(classified, r=r)
        rate = evaluate.classified_rate(preds, keep)
        self.loud, self.cls = self.loud + rate["windows"], self.cls + rate["classified"]
        p, truth = calibration.classified_windows(preds, y, keep=keep)
        self.win_pred.extend(common.restricted_argmax(p, labels) if len(p) else [])
        self.win_true.extend(truth)
        fa = evaluate.angry_rate(preds, y, keep=keep)
        self.neutral, self.angry = self.neutral + fa["windows"], self.angry + fa["angry"]
        decided = np.stack([evaluate.decide(c, keep)[0] for c in preds])
        cm = common.confusion(y, common.restricted_argmax(decided, labels), common.N_LABELS)
        self.clip_uars.append(common.metrics_from_cm(cm)["uar"])

    def report(self) -> dict:
        cm = common.confusion(self.win_true, self.win_pred, common.N_LABELS)
        return {"loud_windows": self.loud, "classified_share": round(self.cls / max(self.loud, 1), 4),
                "window_uar": round(common.metrics_from_cm(cm)["uar"], 4) if self.win_true else None,
                "clip_uar": round(float(np.mean(self.clip_uars)), 4),
                "neutral_calm_windows": self.neutral,
                "neutral_calm_angry_share": round(self.angry / self.neutral, 4) if self.neutral else None}


def nonspeech_share(preds: list[dict], r: float) -> dict:
    rate = evaluate.classified_rate(preds, functools.partial(classified, r=r))
    return {"loud_windows": rate["windows"], "classified": rate["classified"],
            "classified_share": round(rate["classified_share"], 4)}


def measure(runs: list[tuple[str, object, dict]], part: str, rate: int) -> dict:
    """Every ratio's figures over `runs` on their `part` speakers ("val" or "test")."""
    conditions = ["clean"] + extract.TEST_CONDITIONS + (["tel16"] if rate == 16000 else [])
    tallies = {r: {} for r in RATIOS}
    ns_group = "ns-val" if part == "val" else "ns-test"
    ns_bank = evaluate.recipe_bank(ns_group, "clean", rate)
    ns = []  # every run's non-speech windows (the ratio only gates them)
    for name, model, rec in runs:
        print(part, name, flush=True)
        sets = [("emodb", "clean")] + [("ravdess", c) for c in conditions]
        for corpus, cond in sets:
            idx, y = evaluate.idx_of(corpus, rec["split"][corpus][part])
            preds = with_ratios(model, evaluate.recipe_bank(corpus, cond, rate), idx)
            for r in RATIOS:
                tallies[r].setdefault(f"{corpus} {cond}", Tally()).add(preds, y, common.EVAL_LABELS[corpus], r)
        ns.extend(with_ratios(model, ns_bank, range(len(ns_bank))))
    out = {}
    for r in RATIOS:
        rep = {k: t.report() for k, t in tallies[r].items()}
        fa = [tallies[r][f"{c} {cond}"] for c in ("ravdess", "emodb") for cond in FALSE_ALARM_CONDITIONS
              if f"{c} {cond}" in tallies[r]]
        neutral = sum(t.neutral for t in fa)
        out[str(r)] = {"sets": rep,
                       "neutral_calm_angry_share": round(sum(t.angry for t in fa) / max(neutral, 1), 4),
                       "neutral_calm_windows": neutral,
                       "nonspeech": nonspeech_share(ns, r)}
    return out


def choose(val: dict) -> dict:
    """The rule, written before any figure was computed: the smallest ratio whose validation figures keep
    non-speech classified <= 1 %, neutral/calm windows labelled angry <= 2.5 %, and the mean of the RAVDESS and
    EmoDB clean window UAR within 0.02 of that at the current default (0.2)."""
    def clean_uar(r):
        s = val[str(r)]["sets"]
        return (s["ravdess clean"]["window_uar"] + s["emodb clean"]["window_uar"]) / 2
    base = clean_uar(0.2)
    checks = {}
    for r in RATIOS:
        v = val[str(r)]
        checks[str(r)] = {"nonspeech_ok": v["nonspeech"]["classified_share"] <= 0.01,
                          "angry_ok": v["neutral_calm_angry_share"] <= 0.025,
                          "clean_uar_ok": clean_uar(r) >= base - 0.02}
    passing = [r for r in RATIOS if all(checks[str(r)].values())]
    return {"checks": checks, "chosen": min(passing) if passing else 0.2}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=16000, choices=(16000, 8000))
    args = ap.parse_args()
    rate = args.rate
    cv = [(f"cv fold {f}", m, r) for f, m, r in evaluate.cv_runs(rate)]
    final = train.load_run(train.tag_of("final", rate), "final")
    val = measure(cv + [("final", *final)], "val", rate)
    decision = choose(val)
    print(json.dumps(decision, indent=1), flush=True)
    test = measure(cv, "test", rate)
    out = {"rate": rate, "ratios": list(RATIOS), "validation": val, "decision": decision,
           "shipped": {"min_speech_ratio": SHIPPED, "why": SHIPPED_WHY}, "cv_test": test}
    evaluate.write_json(common.RESULTS_DIR / f"speech-gate-{rate // 1000}k.json", out)
    for part, res in (("validation", val), ("cv test", test)):
        for r in RATIOS:
            v = res[str(r)]
            print(part, r, {k: (s["classified_share"], s["window_uar"], s["clip_uar"]) for k, s in v["sets"].items()},
                  "angry", v["neutral_calm_angry_share"], "non-speech", v["nonspeech"]["classified_share"], flush=True)


if __name__ == "__main__":
    main()
