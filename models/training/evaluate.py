# SPDX-License-Identifier: MPL-2.0
"""Every test figure of the model card, from the trained runs (nothing here trains).

    python3 -m training.evaluate --rate 16000     # writes models/results/summary-16k.json (+ .md)
    python3 -m training.evaluate --rate 8000      # writes models/results/summary-8k.json (+ .md)

Runs read from models/.cache/runs/: cv<R>k/fold<F>_seed<S> (--seeds; combined RAVDESS +
EmoDB folds), xcorpus16k/{ravdess-only, emodb-only}, final<R>k/final.
All window figures use windows.py (the element's rule, -60 dBFS silence
threshold, `non-speech` argmax = not classified; no rule-based VAD).

Per-clip decisions ("element"): the duration-weighted mean of the classified
windows' probabilities (non-speech removed), argmax over the corpus's labels
(RAVDESS 8, EmoDB 7, cross-corpus 6 with calm added to neutral). A clip with
no classified window falls back to all its loud windows (every clip gets a
decision); `coverage` is the share of clips with a classified window.

Speaker adaptation (models trained with it, adapt.py): a clip is treated as
part of a call with its speaker. The statistics when a window is classified
are those of CONTEXT other clips of the same speaker (same condition,
drawn with a seed per clip; -1: all of them) plus this clip's speech up to
the window's end, exactly as the element accumulates them. Non-speech clips
take their context from a RAVDESS speaker (hold music in a call).
"""
from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

import numpy as np
import torch

from . import adapt, calibration, channel, common, extract, speech_tests, train, windows
from .model import ResLSTMSA

NS = common.NON_SPEECH
ANGRY = common.LABELS.index("angry")
CONTEXT = 8  # other clips of the speaker before each clip (--context)
CONTEXT_SWEEP = (0, 2, 8, -1)
SEEDS = [0]  # CV runs pooled (--seeds): means and stds are over folds x seeds


@functools.lru_cache(maxsize=None)
def _clips(group: str) -> tuple:
    return tuple(extract.clips_of(group))


def recipe_bank(group: str, condition: str, rate: int) -> extract.Bank:
    """A bank with the features of the rate's recipe (config.json), those of the CV and final runs."""
    return extract.load(group, condition, rate, progress=False, **train.front_end(rate))


def run_bank(rec: dict, group: str, condition: str) -> extract.Bank:
    """A bank with the features a run was trained on (an ablation's may differ from the recipe's)."""
    return extract.load(group, condition, rec["rate"], progress=False, **extract.front_end(rec["features_params"]))


def context_stats(bank: extract.Bank, i: int, k: int, same_label: bool = False, besides: int | None = None) -> adapt.Stats:
    """Speech statistics of k other clips of clip i's speaker (-1: all), from the same bank; with
    `same_label` only clips of clip i's emotion (a speaker who holds one emotion all call); never clip
    `besides` either."""
    if bank.group in ("ravdess", "emodb"):
        pool_bank, clips = bank, _clips(bank.group)
        speaker = clips[i].speaker
    else:
        # the features of the bank being scored (an ablation run's may differ from the recipe's)
        pool_bank = extract.load("ravdess", "clean", bank.rate, progress=False, **extract.front_end(bank.params_json))
        clips, speaker = _clips("ravdess"), 1 + i % 24
    pool = [j for j, c in enumerate(clips) if c.speaker == speaker and not (pool_bank is bank and j in (i, besides))
            and (not same_label or c.label == clips[i].label)]
    rng = np.random.default_rng([7, i])
    chosen = pool if k < 0 else rng.choice(pool, size=min(k, len(pool)), replace=False)
    stats = pool_bank.speech_stats()
    return adapt.total((stats[int(j)] for j in chosen), bank.feats.shape[1])


def adapted(model: ResLSTMSA, f: np.ndarray, sp: np.ndarray, j1: int, before: adapt.Stats | None) -> np.ndarray:
    """Frames f as the element feeds them when a window ending before frame j1 is classified."""
    prior = getattr(model, "adaptation", None)
    if prior is None:
        return f
    return adapt.apply(f, adapt.streaming_stats(f, sp, j1, before), prior)


def window_probs(model: ResLSTMSA, bank: extract.Bank, idx, context: int | None = None,
                 same_label: bool = False) -> list[dict]:
    """Per clip: whole-clip probabilities, window probabilities, lengths and levels."""
    context = CONTEXT if context is None else context
    adapting = getattr(model, "adaptation", None) is not None
    seqs, owner = [], []
    out = []
    for k, i in enumerate(idx):
        i = int(i)
        wins = bank.windows(i)
        f, sp = bank.clip(i), bank.clip_speech(i)
        before = context_stats(bank, i, context, same_label) if adapting else None
        out.append({"lens": np.array([w[1] for w in wins]), "db": np.array([w[4] for w in wins])})
        seqs.append(adapted(model, f, sp, f.shape[0], before))
        owner.append((k, -1))
        for w, (_, _, j0, j1, _) in enumerate(wins):
            seqs.append(adapted(model, f, sp, j1, before)[j0:j1] if j1 > j0 else f[:1])
            owner.append((k, w))
    p = train.predict(model, seqs)
    for k in range(len(out)):
        out[k]["win"] = np.zeros((len(out[k]["lens"]), p.shape[1]))
    for (k, w), row in zip(owner, p):
        if w < 0:
            out[k]["clip"] = row
        else:
            out[k]["win"][w] = row
    return out


def joined_window_probs(model: ResLSTMSA, bank: extract.Bank, idx, frames: int = 74) -> list[dict]:
    """window_probs of short clips (EmoDB's 2 s) each joined end to end with another clip of the same speaker
    and emotion (seeded per clip; a clip without one, with itself), so that the element's 3 s windows fit: the first and the last `frames`
    frames of the joined features (about the windows at 0 and 1 s), adapted as in window_probs."""
    clips = _clips(bank.group)
    adapting = getattr(model, "adaptation", None) is not None
    out, seqs = [], []
    for i in map(int, idx):
        mates = [j for j, c in enumerate(clips) if j != i and (c.speaker, c.label) == (clips[i].speaker, clips[i].label)]
        j = int(np.random.default_rng([11, i]).choice(mates)) if mates else i  # none: the clip twice
        f = np.concatenate([bank.clip(i), bank.clip(j)])
        sp = np.concatenate([bank.clip_speech(i), bank.clip_speech(j)])
        before = context_stats(bank, i, CONTEXT, besides=j) if adapting else None
        n = f.shape[0]
        assert n >= frames, "joined clips shorter than a window"
        seqs += [adapted(model, f, sp, n, before)] + [adapted(model, f, sp, j1, before)[j1 - frames:j1]
                                                        for j1 in (frames, n)]
        out.append({"lens": np.array([frames, frames]),
                    "db": np.array([bank.windows(i)[0][4], bank.windows(j)[-1][4]])})
    p = train.predict(model, seqs)
    for k, c in enumerate(out):
        c["clip"], c["win"] = p[3 * k], p[3 * k + 1:3 * k + 3]
    return out


gated = calibration.gated


def decide(c: dict, keep=gated) -> tuple[np.ndarray, bool]:
    """(summary probabilities without non-speech, whether any window was classified) of one clip; `keep` gives
    the classified windows of a clip."""
    cls = keep(c)
    s = windows.summary(c["win"], c["lens"], cls, NS)
    if s is not None:
        return s, True
    loud = c["db"] >= windows.SILENCE_DBFS
    fallback = loud if loud.any() else np.ones_like(loud)
    return windows.summary(c["win"], c["lens"], fallback, NS), False


def corpus_scores(preds: list[dict], labels: list[int], eval_labels: list[int], six: bool = False) -> dict:
    """UAR per clip (whole clip) and per element windows; 6-class mode merges calm into neutral."""
    def argmax(p):
        p = np.asarray(p)
        if six:
            return np.argmax(common.shared6(p), axis=1)
        return common.restricted_argmax(p, eval_labels)
    y = np.array([common.to_shared6(l) for l in labels]) if six else np.array(labels)
    n = 6 if six else common.N_LABELS
    clip_p = np.stack([windows.emotion_probs(c["clip"], NS) for c in preds])
    dec = [decide(c) for c in preds]
    elem_p = np.stack([d[0] for d in dec])
    m_clip = common.metrics_from_cm(common.confusion(y, argmax(clip_p), n))
    m_elem = common.metrics_from_cm(common.confusion(y, argmax(elem_p), n))
    return {"clip_uar": m_clip["uar"], "element_uar": m_elem["uar"], "coverage": float(np.mean([d[1] for d in dec])),
            "clip": m_clip, "element": m_elem, "n": len(labels)}


def angry_rate(preds: list[dict], labels: list[int], which=("neutral", "calm"), keep=gated) -> dict:
    """Share of loud windows of neutral (and calm) clips that the element labels `angry` (classified by `keep`)."""
    target = {common.LABELS.index(w) for w in which}
    n = ang = non_speech = 0
    for c, l in zip(preds, labels):
        if l not in target:
            continue
        loud = c["db"] >= windows.SILENCE_DBFS
        p = c["win"][loud]
        n += len(p)
        non_speech += int(np.sum(p.argmax(1) == NS))
        ang += int(np.sum(keep(c)[loud] & (windows.emotion_probs(p, NS).argmax(1) == ANGRY)))
    return {"windows": n, "angry": ang, "angry_share": ang / max(n, 1), "gated_non_speech": non_speech / max(n, 1)}


def classified_rate(preds: list[dict], keep=gated) -> dict:
    n = cls = 0
    for c in preds:
        n += int(np.sum(c["db"] >= windows.SILENCE_DBFS))
        cls += int(np.sum(keep(c)))
    return {"windows": n, "classified": cls, "classified_share": cls / max(n, 1)}


def mean_std(v) -> dict:
    v = np.asarray(v, dtype=float)
    return {"mean": round(float(v.mean()), 4), "std": round(float(v.std(ddof=1)) if v.size > 1 else 0.0, 4),
            "runs": [round(float(x), 4) for x in v]}


def idx_of(group: str, speakers) -> tuple[list[int], list[int]]:
    clips = extract.clips_of(group)
    idx = [i for i, c in enumerate(clips) if c.speaker in set(speakers)]
    return idx, [clips[i].label for i in idx]


def cv_runs(rate: int, tag: str | None = None) -> list[tuple[int, ResLSTMSA, dict]]:
    tag = tag or train.tag_of("cv", rate)
    out = []
    for seed in SEEDS:
        for f in range(5):
            if (train.RUNS_DIR / tag / f"fold{f}_seed{seed}.json").exists():
                m, r = train.load_run(tag, f"fold{f}_seed{seed}")
                out.append((f, m, r))
    return out


def evaluate_cv(rate: int, conditions: list[str], ns_bank: extract.Bank, tag: str | None = None) -> dict:
    runs = cv_runs(rate, tag)
    res = {"folds": [f for f, _, _ in runs], "seeds": [r["seed"] for _, _, r in runs], "ravdess": {}, "emodb": {}, "robustness": {}, "false_alarms": {}}
    if not runs:
        return res
    per = {"ravdess": [], "emodb": []}
    rob = {c: [] for c in conditions}
    pooled = {c: ([], []) for c in conditions}
    fa = {"ravdess": [], "emodb": []}
    joined = []  # EmoDB test speakers in the element's 3 s windows (two clips of one emotion joined)
    nsr, imp, alr = [], [], []
    # the element's classified windows of every run, pooled per test set: are its confidences honest?
    cal = {k: ([], []) for k in ["ravdess", "emodb"] + [f"ravdess {c}" for c in conditions if c != "clean"]}
    sweep = {corpus: {k: [] for k in CONTEXT_SWEEP} for corpus in ("ravdess", "emodb")}
    recipe = train.front_end_params(rate)
    for f, model, rec in runs:
        split = rec["split"]
        if rec["features_params"] != recipe:
            raise SystemExit(f"cv fold {f} seed {rec['seed']} was trained on other features than config.json's "
                             f"recipe at {rate} Hz: retrain it or restore the recipe")
        for corpus in ("ravdess", "emodb"):
            idx, y = idx_of(corpus, split[corpus]["test"])
            bank = recipe_bank(corpus, "clean", rate)
            p = window_probs(model, bank, idx)
            per[corpus].append(corpus_scores(p, y, common.EVAL_LABELS[corpus]))
            pool_windows(cal[corpus], p, y)
            if corpus == "emodb":
                joined.append(corpus_scores(joined_window_probs(model, bank, idx), y, common.EMODB_LABELS)["element_uar"])
            fa[corpus].append(angry_rate(p, y, ("neutral", "calm")))
            if getattr(model, "adaptation", None) is not None:
                for k in CONTEXT_SWEEP:
                    q = p if k == CONTEXT else window_probs(model, bank, idx, k)
                    sweep[corpus][k].append(corpus_scores(q, y, common.EVAL_LABELS[corpus])["element_uar"])
        idx, y = idx_of("ravdess", split["ravdess"]["test"])
        for c in conditions:
            bank = recipe_bank("ravdess", c, rate)
            p = window_probs(model, bank, idx)
            s = corpus_scores(p, y, common.RAVDESS_LABELS)
            rob[c].append(s)
            if c != "clean":
                pool_windows(cal[f"ravdess {c}"], p, y)
            pooled[c][0].extend(y)
            pooled[c][1].extend(np.argmax(np.stack([decide(q)[0] for q in p])[:, :8], axis=1))
        nsr.append(classified_rate(window_probs(model, ns_bank, extract.ns_earlier(ns_bank.group))))
        imp.append(classified_rate(window_probs(model, ns_bank, extract.ns_impulses(ns_bank.group))))
        alr.append(classified_rate(window_probs(model, ns_bank, extract.ns_alerts(ns_bank.group))))
    for corpus in ("ravdess", "emodb"):
        res[corpus] = {"clip_uar": mean_std([s["clip_uar"] for s in per[corpus]]),
                       "element_uar": mean_std([s["element_uar"] for s in per[corpus]]),
                       "coverage": round(float(np.mean([s["coverage"] for s in per[corpus]])), 4),
                       "recall_element_pooled": pooled_recall([s["element"] for s in per[corpus]]),
                       "confusion_element_pooled": np.sum([np.asarray(s["element"]["confusion"]) for s in
                                                           per[corpus]], axis=0).tolist(),
                       "uar_element_pooled": round(common.metrics_from_cm(np.sum(
                           [np.asarray(s["element"]["confusion"]) for s in per[corpus]], axis=0))["uar"], 4)}
        tot = sum(a["windows"] for a in fa[corpus])
        res["false_alarms"][f"{corpus}_neutral_calm_windows_angry"] = round(sum(a["angry"] for a in fa[corpus]) / max(tot, 1), 4)
        res["false_alarms"][f"{corpus}_neutral_calm_windows"] = tot
    for c in conditions:
        res["robustness"][c] = {"clip_uar": mean_std([s["clip_uar"] for s in rob[c]]),
                                "element_uar": mean_std([s["element_uar"] for s in rob[c]]),
                                "coverage": round(float(np.mean([s["coverage"] for s in rob[c]])), 4),
                                "pooled_element_uar": round(common.metrics_from_cm(common.confusion(
                                    pooled[c][0], pooled[c][1], 8))["uar"], 4)}
    res["emodb"]["element_uar_joined_3s_windows"] = mean_std(joined)
    res["calibration"] = {k: calibration.report(np.concatenate(ps), np.concatenate(ys)) for k, (ps, ys) in cal.items()}
    res["context"] = CONTEXT
    res["context_sweep_element_uar"] = {corpus: {str(k): mean_std(v) for k, v in ks.items() if v}
                                        for corpus, ks in sweep.items()}
    # the earlier held-out non-speech, and the impulsive and the alert clips apart
    for key, rates in (("nonspeech_test_windows_classified", nsr), ("impulses_test_windows_classified", imp),
                       ("alerts_test_windows_classified", alr)):
        tot = sum(a["windows"] for a in rates)
        res["false_alarms"][key] = round(sum(a["classified"] for a in rates) / max(tot, 1), 4)
    return res


REFIT_CONDITIONS = ("clean", "aug1", "aug2")  # the versions of the validation clips a temperature is refitted on


def validation_windows(model: ResLSTMSA, rec: dict, rate: int, condition: str) -> tuple[np.ndarray, np.ndarray]:
    """The element's classified windows (probabilities, truth) of a run's validation speakers of both corpora,
    in one version of their clips, adapted as every test clip (CONTEXT other clips of the speaker)."""
    ps, ys = [], []
    for corpus in (c for c in ("ravdess", "emodb") if c in rec["split"]):  # a cross-corpus run has one
        idx, y = idx_of(corpus, rec["split"][corpus]["val"])
        p, yy = calibration.classified_windows(window_probs(model, run_bank(rec, corpus, condition), idx), y)
        ps.append(p)
        ys.append(yy)
    return np.concatenate(ps), np.concatenate(ys)


def at_clip_temperature(model: ResLSTMSA, rec: dict) -> float:
    """Sets the model to the temperature train.py fitted on whole validation clips (before any refit)."""
    t = rec.get("temperature_clips", rec["temperature"])
    model.temperature.fill_(t)
    return t


def refit_scale(model: ResLSTMSA, rec: dict, rate: int) -> float | None:
    """The logit scale that makes the element's confidences on a run's validation windows (REFIT_CONDITIONS)
    honest, relative to the model's current temperature (new temperature = current / scale); None: no refit
    (calibration.fit_scale)."""
    parts = [validation_windows(model, rec, rate, c) for c in REFIT_CONDITIONS]
    return calibration.fit_scale(np.concatenate([p for p, _ in parts]), np.concatenate([y for _, y in parts]))


def refit_temperatures(rate: int, kind: str, tag: str | None = None) -> dict:
    """Refits the temperature of the final runs (kind "final": the first seed and a second, final-seed1), of the CV runs of SEEDS (kind "cv") or of the
    cross-corpus runs (kind "xcorpus", 16 kHz) on their validation windows and writes it into the run (checkpoint buffer and record; the temperature fitted on
    whole clips stays in the record as `temperature_clips`). Labels never change, only confidences. `tag`: the runs
    of that kind under another tag (e.g. cv16k-ens2)."""
    tag = tag or train.tag_of(kind, rate)
    names = {"final": ["final", "final-seed1"],
             "xcorpus": ["ravdess-only", "emodb-only", "emodb-only-nobucket", "ravdess-only-seed1",
                         "emodb-only-nobucket-seed1"]}.get(
        kind, [f"fold{f}_seed{s}" for s in SEEDS for f in range(5)])
    out = {}
    for name in names:
        if not (train.RUNS_DIR / tag / f"{name}.json").exists():
            continue
        model, rec = train.load_run(tag, name)
        clips = at_clip_temperature(model, rec)  # always from the clip fit: a rerun gives the same value
        scale = refit_scale(model, rec, rate)
        new = clips if scale is None else clips / scale
        rec["temperature_clips"], rec["temperature"] = clips, new
        rec["temperature_fit"] = {"on": "validation speakers' element windows", "conditions": list(REFIT_CONDITIONS),
                                  "context": CONTEXT, "refitted": scale is not None}
        state = torch.load(train.RUNS_DIR / tag / f"{name}.pt", weights_only=True)
        state["temperature"] = torch.tensor(new, dtype=state["temperature"].dtype)
        train.save_run(tag, name, rec, state)
        out[name] = {"temperature_clips": round(clips, 4), "temperature": round(new, 4), "refitted": scale is not None}
        print(tag, name, out[name], flush=True)
    return out


def calibration_refit(rate: int) -> dict:
    """A temperature fitted on the element's windows of each CV run's validation speakers, clean and in two
    augmented versions (channel.augment: the training's noise, reverberation, EQ, band and gain draws), against
    the temperature train.py fitted on whole clean validation clips: the test windows' calibration with each.
    Validation: the third augmented version of the same speakers, never used for the fit. At 16 kHz also the
    cross-corpus runs on the other corpus, and the final model's confidences on the espeak-ng voices."""
    keys = ["val aug3", "ravdess", "emodb", "ravdess white10", "ravdess babble10", "ravdess reverb"] + \
        (["ravdess tel16"] if rate == 16000 else [])
    pools = {k: ([], [], []) for k in keys}  # probabilities at the clip-fitted temperature, the same refitted, truth
    scales = []
    for f, model, rec in cv_runs(rate):
        split = rec["split"]
        clips = at_clip_temperature(model, rec)
        sets = {"val aug3": [validation_windows(model, rec, rate, "aug3")]}
        for corpus in ("ravdess", "emodb"):
            tidx, ty = idx_of(corpus, split[corpus]["test"])
            conds = ["clean"] + ([k.split()[1] for k in keys if k.startswith("ravdess ")] if corpus == "ravdess" else [])
            for c in conds:
                key = corpus if c == "clean" else f"{corpus} {c}"
                sets.setdefault(key, []).append(calibration.classified_windows(
                    window_probs(model, run_bank(rec, corpus, c), tidx), ty))
        scale = refit_scale(model, rec, rate) or 1.0
        scales.append({"fold": f, "seed": rec["seed"], "temperature": round(clips, 4),
                       "refit_temperature": round(clips / scale, 4)})
        for k, parts in sets.items():
            for p, yy in parts:
                pools[k][0].append(p)
                pools[k][1].append(calibration.rescaled(p, scale))  # the run's windows at its own refit
                pools[k][2].append(yy)
    out = {"runs": scales, "fit_on": [f"validation speakers' windows, {c}" for c in REFIT_CONDITIONS], "sets": {}}
    for k, (ps, qs, ys) in pools.items():
        y = np.concatenate(ys)
        out["sets"][k] = {"own_temperature": calibration.report(np.concatenate(ps), y),
                          "refit": calibration.report(np.concatenate(qs), y)}
    if rate == 16000:
        tag = train.tag_of("xcorpus", rate)
        for name, test in (("ravdess-only", "emodb"), ("emodb-only-nobucket", "ravdess")):
            if not (train.RUNS_DIR / tag / f"{name}.json").exists():
                continue
            model, rec = train.load_run(tag, name)
            at_clip_temperature(model, rec)
            scale = refit_scale(model, rec, rate) or 1.0
            idx, labels = shared6_clips(test)
            p, y = calibration.classified_windows(window_probs(model, run_bank(rec, test, "clean"), idx),
                                                  labels, six=True)
            out["sets"][f"{name} -> {test}"] = {"own_temperature": calibration.report(p, y, six=True),
                                                "refit": calibration.report(p, y, scale, six=True)}
    final = train.tag_of("final", rate)
    if (train.RUNS_DIR / final / "final.json").exists():
        model, rec = train.load_run(final, "final")
        at_clip_temperature(model, rec)
        scale = refit_scale(model, rec, rate) or 1.0
        conf = {}
        for key, s_ in (("own_temperature", 1.0), ("refit", scale)):
            q = [calibration.rescaled(c["win"], s_)[windows.gate(c["win"], c["db"], NS)]
                 for c in audio_windows(model, espeak_bank(rate)[0], rate)]
            c_ = np.concatenate([x.max(axis=1) for x in q])
            conf[key] = {"windows": int(c_.size), "mean_confidence": round(float(c_.mean()), 4),
                         "share_confident": round(float(np.mean(c_ >= 0.5)), 4)}
        out["sets"]["espeak-ng voices, final model"] = conf
    return out


def pool_windows(into: tuple[list, list], preds: list[dict], labels: list[int], six: bool = False) -> None:
    p, y = calibration.classified_windows(preds, labels, six)
    into[0].append(p)
    into[1].append(y)


def shared6_clips(corpus: str) -> tuple[list[int], list[int]]:
    """(indices, labels) of a corpus's clips of the six shared classes: a cross-corpus test set."""
    clips = extract.clips_of(corpus)
    idx = [i for i, c in enumerate(clips) if common.to_shared6(c.label) >= 0]
    return idx, [clips[i].label for i in idx]


def evaluate_monotone(rate: int, tag: str | None = None) -> dict:
    """RAVDESS CV test speakers who hold one emotion: each clip's context is k other clips of the same
    speaker and the same emotion (RAVDESS has 7 more of each emotion per actor, 3 of neutral), against
    the mixed context of the headline figures. Pooled per-class recall of element decisions."""
    runs = cv_runs(rate, tag)
    if not runs or getattr(runs[0][1], "adaptation", None) is None:
        return {}
    bank = run_bank(runs[0][2], "ravdess", "clean")
    out = {}
    for name, k, same in (("no context", 0, False), (f"{CONTEXT} mixed clips", CONTEXT, False),
                          ("2 clips of the same emotion", 2, True), ("all clips of the same emotion", -1, True)):
        cms, angry, calm_windows = [], 0, 0
        for _, model, rec in runs:
            idx, y = idx_of("ravdess", rec["split"]["ravdess"]["test"])
            p = window_probs(model, bank, idx, k, same)
            cms.append(corpus_scores(p, y, common.RAVDESS_LABELS)["element"]["confusion"])
            a = angry_rate(p, y, ("neutral", "calm"))  # a speaker who stays neutral or calm
            angry, calm_windows = angry + a["angry"], calm_windows + a["windows"]
        m = common.metrics_from_cm(np.sum(np.asarray(cms), axis=0))
        out[name] = {"uar": round(m["uar"], 4),
                     "recall": {common.LABELS[j]: m["recall"][j] for j in common.RAVDESS_LABELS},
                     "neutral_calm_windows_angry": round(angry / max(calm_windows, 1), 4),
                     "neutral_calm_windows": calm_windows}
    return out


def pooled_recall(ms: list[dict]) -> list:
    cm = np.sum([np.asarray(m["confusion"]) for m in ms], axis=0)
    return common.metrics_from_cm(cm)["recall"]


def heldout_split(corpus: str, idx) -> tuple[list[int], list[int]]:
    """Positions in idx (clips of a corpus tested across corpora) of its final-split validation speakers' clips,
    held out to choose between recipes across corpora, and of the other speakers' clips, reported after."""
    clips = extract.clips_of(corpus)
    held = [clips[int(i)].speaker in set(common.FINAL_VAL[corpus]) for i in idx]
    return [j for j, h in enumerate(held) if h], [j for j, h in enumerate(held) if not h]


def evaluate_xcorpus(rate: int, tag: str | None = None) -> dict:
    tag = tag or train.tag_of("xcorpus", rate)
    out = {}
    for name, test in (("ravdess-only", "emodb"), ("emodb-only", "ravdess"), ("emodb-only-nobucket", "ravdess")):
        if not (train.RUNS_DIR / tag / f"{name}.json").exists():
            continue
        model, rec = train.load_run(tag, name)
        idx, y = shared6_clips(test)
        p = window_probs(model, run_bank(rec, test, "clean"), idx)
        s = corpus_scores(p, y, [], six=True)
        # the training corpus's own validation speakers, for reference
        own = "ravdess" if test == "emodb" else "emodb"
        # the test corpus split by speaker: its final-split validation speakers (held out to choose between recipes
        # across corpora) and the rest (reported after such a choice)
        test_clips = extract.clips_of(test)
        split = {}
        for part, k in zip(("val_speakers", "other_speakers"), heldout_split(test, idx)):
            sk = corpus_scores([p[j] for j in k], [y[j] for j in k], [], six=True)
            split[part] = {"speakers": sorted({test_clips[idx[j]].speaker for j in k}), "n": sk["n"],
                           "element_uar": round(sk["element_uar"], 4), "clip_uar": round(sk["clip_uar"], 4)}
        vi, vy = idx_of(own, rec["split"][own]["val"])
        out[f"{name} -> {test}"] = {"clip_uar": round(s["clip_uar"], 4), "element_uar": round(s["element_uar"], 4),
                                    "coverage": round(s["coverage"], 4), "n": s["n"],
                                    "recall_element": s["element"]["recall"],
                                    "calibration": calibration.report(*calibration.classified_windows(p, y, six=True),
                                                                      six=True),
                                    "val_uar_own_corpus": round(rec["best"][own], 4),
                                    "val_own_corpus_gated_non_speech": round(rec["best"][f"{own}_gated"], 4),
                                    "best_epoch": rec["best"]["epoch"], "by_speaker": split}
    return out


def nonspeech_detail(model: ResLSTMSA, bank: extract.Bank) -> dict:
    preds = window_probs(model, bank, range(len(bank)))
    by_kind: dict[str, list[dict]] = {}
    _, infos = extract.nonspeech_audio(bank.group)
    for p, info in zip(preds, infos):
        kind = info["kind"] if info["kind"] != "score" else f"score ({info['style']})"
        by_kind.setdefault(kind, []).append(p)
    out = {k: classified_rate(v) for k, v in sorted(by_kind.items())}
    # "all": the earlier clips (the figures before the impulsive ones); those apart
    out["all"] = classified_rate([preds[i] for i in extract.ns_earlier(bank.group)])
    out["impulses (all)"] = classified_rate([preds[i] for i in extract.ns_impulses(bank.group)])
    out["alerts (all)"] = classified_rate([preds[i] for i in extract.ns_alerts(bank.group)])
    return out


_ESPEAK_CACHE: dict = {}


def espeak_bank(rate: int) -> tuple[list[np.ndarray], list[str]]:
    if rate not in _ESPEAK_CACHE:
        audio, names = [], []
        for voice, text in speech_tests.VOICES:
            x = speech_tests.render(voice, text)
            audio.append(x if rate == 16000 else channel.telephone(x, "mu"))
            names.append(voice)
        _ESPEAK_CACHE[rate] = (audio, names)
    return _ESPEAK_CACHE[rate]


def audio_windows(model: ResLSTMSA, audio: list[np.ndarray], rate: int) -> list[dict]:
    """window_probs for raw audio (features computed here through the extractor)."""
    hop, n_fft = (640, 1280) if rate == 16000 else (320, 640)
    out = []
    # the rate's recipe: the final models the callers pass are trained with it
    with extract.Extractor(rate, **train.front_end(rate)) as ex:
        for x in audio:
            # one recording is one stream: adaptation starts from the prior and grows through it
            f, sp = ex.compute_with_speech(x)
            wins = windows.windows_of(x, rate)
            seqs = []
            for s, n, _ in wins:
                j0, j1 = windows.window_frames(s, n, hop, n_fft)
                j1 = min(j1, f.shape[0])
                seqs.append(adapted(model, f, sp, j1, None)[j0:j1])
            p = train.predict(model, seqs)
            out.append({"win": p, "lens": np.array([w[1] for w in wins]), "db": np.array([w[2] for w in wins]),
                        "clip": train.predict(model, [adapted(model, f, sp, f.shape[0], None)])[0]})
    return out


def espeak_eval(model: ResLSTMSA, rate: int) -> dict:
    audio, names = espeak_bank(rate)
    preds = audio_windows(model, audio, rate)
    per_voice = {}
    n = ang = cls = 0
    conf: list[float] = []
    for name, p in zip(names, preds):
        g = windows.gate(p["win"], p["db"], NS)
        q = windows.emotion_probs(p["win"], NS)
        lab = q.argmax(1)
        conf.extend(q.max(1)[g].tolist())
        a = int(np.sum(g & (lab == ANGRY)))
        loud = int(np.sum(p["db"] >= windows.SILENCE_DBFS))
        s = windows.summary(p["win"], p["lens"], g, NS)
        per_voice[name] = {"windows": loud, "classified": int(g.sum()), "angry": a,
                           "labels": {common.LABELS[k]: int(np.sum(g & (lab == k))) for k in set(lab[g].tolist())},
                           "summary": common.LABELS[int(np.argmax(s))] if s is not None else None}
        n, ang, cls = n + loud, ang + a, cls + int(g.sum())
    return {"windows": n, "classified": cls, "angry": ang, "angry_share": round(ang / max(n, 1), 4),
            "classified_mean_confidence": round(float(np.mean(conf)), 4) if conf else None,
            "classified_confidence_at_least_half": round(float(np.mean(np.asarray(conf) >= 0.5)), 4) if conf else None,
            "per_voice": per_voice}


def validation_row(model: ResLSTMSA, rec: dict, rate: int) -> dict:
    """A run's figures on its validation speakers only: its checkpoint score, its RAVDESS validation actors'
    element UAR under the degraded conditions, its EmoDB validation speakers in 2 s clips and in 3 s
    windows, and its gate on the non-speech validation clips."""
    # the run's own features: runs before the pitch features (or with pitch=0) take the 46 without,
    # runs before the frame mean removal (or with remove_dc=0) the features without it
    front = extract.front_end(rec["features_params"])

    def bank(group, condition):
        return extract.load(group, condition, rate, progress=False, **front)

    idx, y = idx_of("ravdess", rec["split"]["ravdess"]["val"])
    row = {"best_epoch": rec["best"]["epoch"], "val_score": round(rec["best"]["score"], 4),
           "val_ravdess": round(rec["best"]["ravdess"], 4), "val_emodb": round(rec["best"]["emodb"], 4)}
    for c in ("clean", "white10", "babble10", "reverb") + (("tel16",) if rate == 16000 else ()):
        p = window_probs(model, bank("ravdess", c), idx)
        row[f"ravdess_val_{c}"] = round(corpus_scores(p, y, common.RAVDESS_LABELS)["element_uar"], 4)
    ei, ey = idx_of("emodb", rec["split"]["emodb"]["val"])
    emo = bank("emodb", "clean")
    row["emodb_val_clean"] = round(corpus_scores(window_probs(model, emo, ei), ey,
                                                 common.EMODB_LABELS)["element_uar"], 4)
    # the same speakers in the element's 3 s windows: two clips of one emotion joined
    row["emodb_val_joined"] = round(corpus_scores(joined_window_probs(model, emo, ei), ey,
                                                  common.EMODB_LABELS)["element_uar"], 4)
    # the gate on the non-speech validation clips: the earlier ones (ns_val_classified: generated and real scores,
    # each apart too), and the impulsive and the alert ones apart
    nsv = bank("ns-val", "clean")
    earlier, n_gen = extract.ns_earlier("ns-val"), extract.NS_COUNT["ns-val"]
    parts = {"ns_val_generated_classified": gate_margins(model, nsv, range(n_gen)),
             "ns_val_scores_classified": gate_margins(model, nsv, range(n_gen, earlier.stop))}
    parts = {"ns_val_classified": np.concatenate(list(parts.values())), **parts,
             "ns_val_impulses_classified": gate_margins(model, nsv, extract.ns_impulses("ns-val")),
             "ns_val_alerts_classified": gate_margins(model, nsv, extract.ns_alerts("ns-val"))}
    for key, margins in parts.items():
        row[key] = round(float(np.mean(margins <= 0)), 4)
    sm = gate_margins(model, bank("ravdess", "clean"), idx)
    row["ravdess_val_windows_gated"] = round(float(np.mean(sm > 0)), 4)
    if getattr(model, "adaptation", None) is not None:  # the first clip of a call: no context
        rav = bank("ravdess", "clean")
        row["ravdess_val_clean_ctx0"] = round(corpus_scores(window_probs(model, rav, idx, 0), y,
                                                            common.RAVDESS_LABELS)["element_uar"], 4)
        row["emodb_val_clean_ctx0"] = round(corpus_scores(window_probs(model, emo, ei, 0), ey,
                                                          common.EMODB_LABELS)["element_uar"], 4)
    return row


def evaluate_ablation(rate: int, names: list[str]) -> dict:
    """Validation speakers only: validation_row of each ablation run (folds x SEEDS) and their means."""
    out = {}
    for name in names:
        tag = f"ablate{rate // 1000}k-{name}"
        rows = []
        for f, seed in ((f, seed) for seed in SEEDS for f in range(5)):
            if (train.RUNS_DIR / tag / f"fold{f}_seed{seed}.json").exists():
                model, rec = train.load_run(tag, f"fold{f}_seed{seed}")
                rows.append({"fold": f, "seed": seed, **validation_row(model, rec, rate)})
        if rows:
            keys = [k for k in rows[0] if k not in ("fold", "seed", "best_epoch")]
            out[name] = {"runs": rows, "mean": {k: round(float(np.mean([r[k] for r in rows])), 4) for k in keys}}
    return out


GATE_BIASES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def gate_margins(model: ResLSTMSA, bank: extract.Bank, idx) -> np.ndarray:
    """Per loud window: log p(non-speech) - max log p(emotion); the element gates a window where it is > 0."""
    p = window_probs(model, bank, idx)
    w = np.concatenate([c["win"][c["db"] >= windows.SILENCE_DBFS] for c in p if len(c["win"])])
    lp = np.log(np.clip(w, 1e-12, 1.0))
    return lp[:, common.NON_SPEECH] - np.delete(lp, common.NON_SPEECH, axis=1).max(1)


def gate_bias_sweep(rate: int) -> dict:
    """The shipped model's gate with a bias b added to the non-speech logit (not shipped: a measurement).
    Validation: the final model's validation speakers' speech windows gated and the non-speech validation
    windows classified; the non-speech test windows classified, for the record only."""
    model, _ = train.load_run(train.tag_of("final", rate), "final")
    speech = np.concatenate([gate_margins(model, recipe_bank(c, "clean", rate),
                                          idx_of(c, common.FINAL_VAL[c])[0]) for c in ("ravdess", "emodb")])
    ns = {}
    for g in ("ns-val", "ns-test"):
        bank = recipe_bank(g, "clean", rate)
        ns[g] = gate_margins(model, bank, extract.ns_earlier(g))
    rows = [{"bias": b, "val_speech_windows_gated": round(float(np.mean(speech + b > 0)), 4),
             "val_nonspeech_windows_classified": round(float(np.mean(ns["ns-val"] + b <= 0)), 4),
             "test_nonspeech_windows_classified": round(float(np.mean(ns["ns-test"] + b <= 0)), 4)}
            for b in GATE_BIASES]
    best = min(rows, key=lambda r: (r["val_speech_windows_gated"] + r["val_nonspeech_windows_classified"],
                                    r["bias"]))
    return {"windows": {"val_speech": int(speech.size), "val_nonspeech": int(ns["ns-val"].size),
                        "test_nonspeech": int(ns["ns-test"].size)},
            "rows": rows, "validation_choice": best["bias"]}


def files_eval(model: ResLSTMSA, rate: int) -> dict:
    """Window labels of the CI music fixtures and of the demo speech (8 kHz: through the telephone channel)."""
    import soundfile as sf

    paths = sorted((common.REPO_DIR / "tests" / "fixtures" / "music").glob("*.flac"))
    paths.append(common.REPO_DIR / "assets" / "demo-speech.wav")
    audio = []
    for p in paths:
        x, sr = sf.read(str(p), dtype="float64", always_2d=True)
        assert sr == 16000, p
        x = x.mean(axis=1)
        audio.append(x if rate == 16000 else channel.telephone(x, "mu"))
    out = {}
    for p, q in zip(paths, audio_windows(model, audio, rate)):
        g = windows.gate(q["win"], q["db"], NS)
        lab = windows.emotion_probs(q["win"], NS).argmax(1)
        out[p.name] = {"windows": len(g), "classified": int(g.sum()),
                       "labels": [common.LABELS[int(l)] if c else None for l, c in zip(lab, g)]}
    return out


def plot_confusions(cv: dict, path: Path) -> None:
    """Row-normalised pooled confusion matrices (element windows) of the CV test speakers, both corpora."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6))
    for ax, corpus in zip(axes, ("ravdess", "emodb")):
        labels = common.EVAL_LABELS[corpus]
        cm = np.asarray(cv[corpus]["confusion_element_pooled"], dtype=float)[np.ix_(labels, labels)]
        cm = 100 * cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=100)
        names = [common.LABELS[i] for i in labels]
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{cm[i, j]:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > 50 else "black")
        ax.set_xlabel("predicted (argmax over the corpus's labels)")
        ax.set_ylabel("true")
        ax.set_title(f"{'RAVDESS' if corpus == 'ravdess' else 'EmoDB'}: CV test speakers, element windows, % of row "
                     f"(UAR {cv[corpus]['uar_element_pooled']:.3f})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def old_model_eval(path: Path, rate: int) -> dict:
    """The previous shipped model (8 RAVDESS labels, no non-speech output, trained on RAVDESS actors
    except 3 and 6) on the new tests it never trained on: EmoDB (cross-corpus, 6 classes), EmoDB
    neutral windows labelled angry, espeak-ng windows labelled angry, non-speech test windows
    classified (every loud window is, since it has no gate)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    # Models before the pitch features take the first 46 columns (MFCC and chroma, which pitch leaves unchanged);
    # no model before them removed the frame mean.
    width = sess.get_inputs()[0].shape[2]

    def probs(seq: np.ndarray) -> np.ndarray:
        p8 = sess.run(["probabilities"], {"features": seq[None, :, :width].astype(np.float32)})[0][0]
        return np.concatenate([p8, np.zeros(common.N_LABELS - p8.size)])  # no boredom, no non-speech

    def clip_windows(bank, i):
        wins = bank.windows(i)
        return {"win": np.stack([probs(bank.clip(i)[j0:j1]) for _, _, j0, j1, _ in wins]),
                "lens": np.array([w[1] for w in wins]), "db": np.array([w[4] for w in wins]),
                "clip": probs(bank.clip(i))}

    out = {"model": str(path.name)}
    emo = extract.load("emodb", "clean", rate, progress=False, remove_dc=False)
    clips = extract.clips_of("emodb")
    preds = [clip_windows(emo, i) for i in range(len(emo))]
    keep = [k for k, c in enumerate(clips) if common.to_shared6(c.label) >= 0]
    s = corpus_scores([preds[k] for k in keep], [clips[k].label for k in keep], [], six=True)
    out["ravdess_model -> emodb (6 classes)"] = {"clip_uar": round(s["clip_uar"], 4),
                                                 "element_uar": round(s["element_uar"], 4)}
    out["emodb_neutral_windows_angry"] = angry_rate(preds, [c.label for c in clips], ("neutral",))
    audio, names = espeak_bank(rate)
    hop, n_fft = (640, 1280) if rate == 16000 else (320, 640)
    n = ang = 0
    with extract.Extractor(rate, remove_dc=False) as ex:
        for x in audio:
            f = ex.compute(x)
            for st, ln, db in windows.windows_of(x, rate):
                if db < windows.SILENCE_DBFS:
                    continue
                j0, j1 = windows.window_frames(st, ln, hop, n_fft)
                n += 1
                ang += int(np.argmax(probs(f[j0:j1])) == ANGRY)
    out["espeak_windows_angry"] = {"windows": n, "angry": ang, "angry_share": round(ang / max(n, 1), 4)}
    ns = extract.load("ns-test", "clean", rate, progress=False, remove_dc=False)
    db = ns.win_db[np.isin(ns.win_clip, extract.ns_earlier("ns-test"))]  # the earlier clips, not the impulsive
    loud = int(np.sum(db >= windows.SILENCE_DBFS))
    out["nonspeech_test_windows_classified"] = {"windows": int(db.size), "loud": loud,
                                                "share": round(loud / max(db.size, 1), 4)}
    return out


def cv_headline(cv: dict) -> dict:
    """The headline figures of evaluate_cv's result (empty without CV runs)."""
    head = {}
    if cv.get("ravdess"):
        head["ravdess_cv_uar_clip"] = cv["ravdess"]["clip_uar"]["mean"]
        head["ravdess_cv_uar_element"] = cv["ravdess"]["element_uar"]["mean"]
        head["emodb_cv_uar_clip"] = cv["emodb"]["clip_uar"]["mean"]
        head["emodb_cv_uar_element"] = cv["emodb"]["element_uar"]["mean"]
        head["emodb_cv_uar_element_3s_windows"] = cv["emodb"]["element_uar_joined_3s_windows"]["mean"]
        head["false_alarms"] = cv["false_alarms"]
        head["robustness_element_uar"] = {c: v["element_uar"]["mean"] for c, v in cv["robustness"].items()}
        head["calibration_windows_accuracy_confidence_ece"] = {
            k: [v["accuracy"], v["mean_confidence"], v["ece"]] for k, v in cv["calibration"].items()}
    return head


def fmt(ms: dict) -> str:
    return f"{ms['mean']:.3f} ± {ms['std']:.3f}"


def refuse_other_runs(where: str, tag: str, old: dict | None, new: dict, fields) -> None:
    """A tag whose stored entry holds other runs (the shipped models' tags keep the names of earlier runs that the
    card cites) is not overwritten: copy the runs under a tag of their own."""
    if old and any(old.get(f) != new.get(f) for f in fields):
        raise SystemExit(f"{tag}: {where} holds other runs under this tag ({fields[0]} {old.get(fields[0])}); "
                         "evaluate a copy of the runs under a new tag")


def main() -> None:
    global CONTEXT, SEEDS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--skip-cv", action="store_true")
    ap.add_argument("--gate-sweep", action="store_true", help="only measure the shipped model's non-speech gate "
                    "with a bias on the non-speech logit; writes models/results/gate-bias-<R>k.json")
    ap.add_argument("--seeds", type=int, nargs="+", default=SEEDS, help="CV seeds to pool")
    ap.add_argument("--context", type=int, default=CONTEXT, help="adapted models: other clips of the speaker "
                    "before each test clip (-1: all)")
    ap.add_argument("--ablation", nargs="+", metavar="NAME", help="only compare these ablation runs "
                    "(validation speakers only); writes models/results/ablation-<R>k.json")
    ap.add_argument("--refit-temperature", choices=("final", "cv", "xcorpus"), help="only refit the temperature of the "
                    "final run or of the CV runs (--seeds) on their validation speakers' element windows (clean and "
                    "two augmented versions) and write it into the runs; writes models/results/temperatures-KIND-<R>k.json")
    ap.add_argument("--tag", help="--refit-temperature: the runs under this tag instead of <KIND><R>k (writes "
                    "models/results/temperatures-TAG.json)")
    ap.add_argument("--cv-tags", nargs="+", metavar="TAG", help="only the CV figures (--seeds) of the runs under "
                    "each TAG instead of cv<R>k (e.g. cv16k-ens2, model.Ensemble); merged by 'TAG seeds S...' into "
                    "models/results/ensemble-<R>k.json")
    ap.add_argument("--calibration-refit", action="store_true", help="only compare each CV run's temperature "
                    "with one refitted on its validation speakers' windows, clean and augmented; writes "
                    "models/results/calibration-refit-<R>k.json")
    ap.add_argument("--final-runs", nargs="+", metavar="TAG", help="only compare the final runs in "
                    ".cache/runs/TAG/final (e.g. a retrain beside the shipped one) on the shipped model's validation "
                    "speakers; writes models/results/final-validation-<R>k.json")
    ap.add_argument("--xcorpus-tags", nargs="+", metavar="TAG", help="only the cross-corpus figures of the runs under "
                    "each TAG (e.g. a recipe variant trained with train xcorpus --tag TAG); merged by tag into "
                    "models/results/xcorpus-variants-<R>k.json")
    ap.add_argument("--old-model", type=Path, help="only score this previous ONNX model on the new tests; "
                    "writes models/results/old-model-<R>k.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    CONTEXT, SEEDS = args.context, args.seeds
    rate = args.rate
    if args.old_model:
        res = old_model_eval(args.old_model, rate)
        common.write_json(common.RESULTS_DIR / f"old-model-{rate // 1000}k.json", res)
        print(json.dumps(res, indent=1))
        return
    if args.refit_temperature:
        res = refit_temperatures(rate, args.refit_temperature, args.tag)
        path = common.RESULTS_DIR / (f"temperatures-{args.tag}.json" if args.tag else
                                     f"temperatures-{args.refit_temperature}-{rate // 1000}k.json")
        common.write_json(path, res)
        return
    if args.calibration_refit:
        res = calibration_refit(rate)
        path = common.RESULTS_DIR / f"calibration-refit-{rate // 1000}k.json"
        common.write_json(path, res)
        print(json.dumps(res["sets"], indent=1))
        return
    if args.final_runs:
        res = {tag: validation_row(*train.load_run(tag, "final"), rate) for tag in args.final_runs}

        def keep_other_runs(d: dict) -> None:
            for tag, row in res.items():
                refuse_other_runs("final-validation", tag, d.get(tag), row, ("best_epoch", "val_score"))
            d.update(res)

        common.merge_json(common.RESULTS_DIR / f"final-validation-{rate // 1000}k.json", keep_other_runs)
        print(json.dumps(res, indent=1))
        return
    if args.xcorpus_tags:
        path = common.RESULTS_DIR / f"xcorpus-variants-{rate // 1000}k.json"
        for tag in args.xcorpus_tags:
            res = evaluate_xcorpus(rate, tag)
            if not res:
                raise SystemExit(f"{tag}: no cross-corpus runs under {train.RUNS_DIR / tag}")

            def keep_other_runs(d: dict) -> None:
                old = d.get(tag, {})
                if set(old) - set(res):
                    raise SystemExit(f"{tag}: xcorpus-variants holds directions these runs lack "
                                     f"({', '.join(sorted(set(old) - set(res)))}); evaluate them under a new tag")
                for direction, row in res.items():
                    refuse_other_runs(f"xcorpus-variants ({direction})", tag, old.get(direction), row,
                                      ("best_epoch", "val_uar_own_corpus"))
                d[tag] = res

            common.merge_json(path, keep_other_runs, {"rate": rate})
            print(tag, json.dumps({k: {"all": v["element_uar"], **{p: q["element_uar"] for p, q in v["by_speaker"].items()}}
                                   for k, v in res.items()}), flush=True)
        return
    if args.gate_sweep:
        res = gate_bias_sweep(rate)
        common.write_json(common.RESULTS_DIR / f"gate-bias-{rate // 1000}k.json", res)
        print(json.dumps(res, indent=1))
        return
    if args.ablation:
        res = evaluate_ablation(rate, args.ablation)
        common.merge_json(common.RESULTS_DIR / f"ablation-{rate // 1000}k.json", lambda d: d.update(res))
        for k, v in res.items():
            print(k, json.dumps(v["mean"]))
        return
    ns_bank = recipe_bank("ns-test", "clean", rate)
    conditions = ["clean"] + extract.TEST_CONDITIONS + (["tel16"] if rate == 16000 else [])
    if args.cv_tags:
        path = common.RESULTS_DIR / f"ensemble-{rate // 1000}k.json"
        for tag in args.cv_tags:
            cv = evaluate_cv(rate, conditions, ns_bank, tag)
            key = f"{tag} seeds {' '.join(map(str, SEEDS))}"
            entry = {"headline": cv_headline(cv), "cv": cv, "monotone_calls": evaluate_monotone(rate, tag)}
            common.merge_json(path, lambda d: d.update({key: entry}), {"rate": rate, "labels": common.LABELS})
            print(key, json.dumps(entry["headline"], indent=1), flush=True)
        return
    out = {"rate": rate, "labels": common.LABELS, "silence_dbfs": windows.SILENCE_DBFS}
    if not args.skip_cv:
        out["cv"] = evaluate_cv(rate, conditions, ns_bank)
        out["monotone_calls"] = evaluate_monotone(rate)
    if rate == 16000:
        out["cross_corpus"] = evaluate_xcorpus(rate)
    if (train.RUNS_DIR / train.tag_of("final", rate) / "final.json").exists():
        model, rec = train.load_run(train.tag_of("final", rate), "final")
        out["final"] = {"best": rec["best"], "temperature": rec["temperature"],
                        "nonspeech_test": nonspeech_detail(model, ns_bank), "espeak": espeak_eval(model, rate),
                        "files": files_eval(model, rate)}
        if rate == 8000:
            m16, _ = train.load_run(train.tag_of("final", 16000), "final")
            a8, _ = espeak_bank(8000)
            up = [channel.upsample_16k(x) for x in a8]
            p = audio_windows(m16, up, 16000)
            n = sum(int(np.sum(q["db"] >= windows.SILENCE_DBFS)) for q in p)
            a = sum(int(np.sum(windows.gate(q["win"], q["db"], NS) &
                               (windows.emotion_probs(q["win"], NS).argmax(1) == ANGRY))) for q in p)
            out["final"]["espeak_mulaw_16k_model_upsampled"] = {"windows": n, "angry": a, "angry_share": round(a / max(n, 1), 4)}
    cv = out.get("cv", {})
    head = cv_headline(cv)
    for k, v in out.get("cross_corpus", {}).items():
        if k.startswith("emodb-only ->") and "emodb-only-nobucket -> ravdess" in out["cross_corpus"]:
            continue  # superseded: with length buckets it gated most of its own validation speech
        head[f"cross_corpus {k} (6 classes)"] = {"clip_uar": v["clip_uar"], "element_uar": v["element_uar"]}
    if "final" in out:
        head["espeak_windows_angry"] = out["final"]["espeak"]["angry_share"]
        head["nonspeech_test_windows_classified_final"] = round(out["final"]["nonspeech_test"]["all"]["classified_share"], 4)
    out["headline"] = head
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if cv.get("ravdess") and rate == 16000:
        plot_confusions(cv, common.MODELS_DIR / "confusion_matrix.png")
    path = common.RESULTS_DIR / f"summary-{rate // 1000}k.json"
    common.write_json(path, out)
    print(json.dumps(head, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
