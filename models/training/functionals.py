# SPDX-License-Identifier: MPL-2.0
"""A reference point, not a model we ship: a linear classifier on utterance functionals of the same features.

What can the features themselves carry, speaker-independently, without the
recurrent model? Each clean clip's frames (the rate's recipe bank, those the
models train on) are adapted as the evaluation adapts a test clip: the speech
statistics of `context` other clips of its speaker plus the clip's own speech
(evaluate.context_stats, adapt.streaming_stats), warm-started with a prior of
the frames of every clip outside the test fold (100 frames, as the models). Of the adapted speech
frames it takes five functionals per feature (mean, standard deviation, 10th
and 90th percentile, mean absolute frame-to-frame change) and fits a
logistic regression (C = 0.1, standardised inputs) on every speaker outside
the test fold (the models' validation speakers included: 2 RAVDESS actors and
2 EmoDB speakers more than the models train on): once on both corpora together (the joint label set, as the models
train; argmax over the test corpus's own labels, as evaluate.py scores), once
on the test corpus alone. Nothing is chosen, so no validation speakers are
held out. Scores are whole clips, UAR per test fold, mean and std over the 5
folds (the models' CV figures are element windows).

    python3 -m training.functionals --rate 16000    # -> models/results/functionals-16k.json (about 1 min)

The same kind of linear model as a second member of a trained ResLSTM-SA run
(model.Fused; MODEL_CARD.md, Honest selection; tried, not shipped):

    --fusion TAG... [--on val|test]   clip-level diagnostic: each run's decisions fused with a head
    --attach KIND|TAG                 fit the head of every run and write the fused runs (attach_all)
    --xcorpus TAG                     cross-corpus figures of fused cross-corpus runs
    --val-false-alarms TAG...         neutral and calm validation windows labelled angry
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from . import adapt, common, extract

CONTEXTS = (8, -1)
CONTEXT = 8  # evaluate.CONTEXT: the test clips' adaptation
# the versions of the training clips the head is fitted on: every cached one (clean and three augmented),
# chosen on validation speakers over the run's own (clean + 1) and clean alone (MODEL_CARD.md)
HEAD_CONDITIONS = ("clean", "aug1", "aug2", "aug3")
C_REG = 0.1
PRIOR_FRAMES = 100.0


def functionals(z: np.ndarray) -> np.ndarray:
    """Five statistics per feature of adapted speech frames z [T, F] (T >= 2)."""
    return np.concatenate([z.mean(0), z.std(0), np.percentile(z, 10, axis=0), np.percentile(z, 90, axis=0),
                           np.abs(np.diff(z, axis=0)).mean(0)])


def standardised(f: np.ndarray, sp: np.ndarray, start: int, upto: int, before: adapt.Stats,
                 prior: adapt.Prior) -> np.ndarray:
    """Frames start..upto of f (float64), standardised by the statistics the element holds when the window
    ending before frame `upto` is classified: `before` plus the clip's speech so far, warm-started with
    `prior` (what the graph's normalisation turns the element's adapted frames into)."""
    m, s = adapt.mean_std(adapt.streaming_stats(f, sp, upto, before), prior)
    return (np.asarray(f[start:upto], dtype=np.float64) - m) / s


def run_names(tag: str) -> list[str]:
    """The runs under .cache/runs/TAG."""
    from . import train

    return [path.stem for path in sorted((train.RUNS_DIR / tag).glob("*.json"))]


def clip_rows(bank: extract.Bank, context: int, prior: adapt.Prior, idx=None, speech_only: bool = True) -> np.ndarray:
    """Functionals of clips `idx` (default all), adapted with `context` other clips of the speaker; of their
    speech frames only, or (`speech_only` False) of all their frames, as a graph fed the element's window would."""
    from . import evaluate

    rows = []
    for i in range(len(bank)) if idx is None else map(int, idx):
        f, sp = bank.clip(i), bank.clip_speech(i).astype(bool)
        z = standardised(f, sp, 0, f.shape[0], evaluate.context_stats(bank, i, context), prior)
        rows.append(functionals(z[sp] if speech_only and sp.sum() >= 2 else z))
    return np.stack(rows)


def fit_regression(x: np.ndarray, y: np.ndarray, c_reg: float = C_REG):
    """(scaler, regression): the logistic regression on standardised functionals."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    return scaler, LogisticRegression(C=c_reg, max_iter=5000).fit(scaler.transform(x), y)


def fit(x: np.ndarray, y: np.ndarray):
    """fit_regression as a function from rows to [n, N_LABELS] probabilities."""
    scaler, lr = fit_regression(x, y)

    def probs(rows: np.ndarray) -> np.ndarray:
        out = np.zeros((rows.shape[0], common.N_LABELS))
        out[:, lr.classes_] = lr.predict_proba(scaler.transform(rows))
        return out
    return probs


def uar(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def run(rate: int) -> dict:
    from . import evaluate

    banks = {c: evaluate.recipe_bank(c, "clean", rate) for c in ("ravdess", "emodb")}
    clips = {c: extract.clips_of(c) for c in banks}
    label = {c: np.array([k.label for k in clips[c]]) for c in banks}
    fold = {c: np.array([k.group for k in clips[c]]) for c in banks}
    out = {"rate": rate, "C": C_REG, "prior_frames": PRIOR_FRAMES, "functionals": 5}
    for context in CONTEXTS:
        folds = {(mode, c): [] for mode in ("joint", "alone") for c in banks}
        for k in range(5):
            train_frames = np.concatenate([banks[c].clip(i) for c in banks for i in np.flatnonzero(fold[c] != k)])
            prior = adapt.Prior(train_frames.mean(0), train_frames.std(0), PRIOR_FRAMES)
            x = {c: clip_rows(banks[c], context, prior) for c in banks}
            for mode in ("joint", "alone"):
                for c in banks:
                    fit_on = list(banks) if mode == "joint" else [c]
                    xt = np.concatenate([x[d][fold[d] != k] for d in fit_on])
                    yt = np.concatenate([label[d][fold[d] != k] for d in fit_on])
                    pred = common.restricted_argmax(fit(xt, yt)(x[c][fold[c] == k]), common.EVAL_LABELS[c])
                    folds[(mode, c)].append(uar(label[c][fold[c] == k], pred))
        out[f"context {'all' if context < 0 else context}"] = {
            f"{mode} {c}": {"mean": round(float(np.mean(v)), 4), "std": round(float(np.std(v)), 4),
                            "folds": [round(u, 4) for u in v]} for (mode, c), v in folds.items()}
    return out


def window_rows(bank: extract.Bank, prior: adapt.Prior, idx) -> tuple[np.ndarray, np.ndarray]:
    """Functionals of the element windows of clips `idx` (all their frames, normalised by the statistics
    the element would hold at each window's end: CONTEXT other clips of the speaker plus the clip's speech
    so far), computed by the graph's own model.functionals, and the clip of each row."""
    import torch

    from . import evaluate
    from .model import functionals as graph_functionals

    rows, owner = [], []
    for i in map(int, idx):
        f, sp = np.asarray(bank.clip(i), dtype=np.float64), bank.clip_speech(i)
        before = evaluate.context_stats(bank, i, CONTEXT)
        for _, _, j0, j1, _ in bank.windows(i):
            if j1 - j0 < 2:
                continue
            z = torch.from_numpy(standardised(f, sp, j0, j1, before, prior))[None]
            rows.append(graph_functionals(z)[0].numpy())
            owner.append(i)
    return np.stack(rows), np.array(owner)


def attach(src_tag: str, name: str, dst_tag: str, c_reg: float = C_REG, conditions: list[str] | None = None) -> dict:
    """Fits a functional head for run src_tag/name on the element windows of its own training speakers'
    clips in HEAD_CONDITIONS (clean and augmented; both corpora, or the one it trained on) and writes
    ResLSTM-SA and the head as one model (model.Fused) to dst_tag/name, temperature 1 (evaluate
    --refit-temperature refits it on windows)."""
    import torch

    from . import evaluate, train
    from .model import Ensemble, Fused

    model, rec = train.load_run(src_tag, name)
    if isinstance(model, (Fused, Ensemble)) or model.adaptation is None:
        raise SystemExit(f"{src_tag}/{name}: attach needs a ResLSTM-SA run with speaker adaptation")
    rate = rec["rate"]
    x, y = [], []
    for corpus, speakers in rec["split"].items():
        clips = extract.clips_of(corpus)
        for condition in conditions or HEAD_CONDITIONS:
            bank = evaluate.recipe_bank(corpus, condition, rate)
            if bank.feats.shape[1] != model.n_features:
                raise SystemExit(f"{src_tag}/{name}: not a run of the rate's recipe")
            rows, owner = window_rows(bank, model.adaptation, [i for i, c in enumerate(clips)
                                                               if c.speaker in speakers["train"]])
            x.append(rows)
            y.append(np.array([clips[i].label for i in owner]))
    x, y = np.concatenate(x), np.concatenate(y)
    scaler, lr = fit_regression(x, y, c_reg)
    assert len(lr.classes_) > 2, "two classes: coef_ would have one row"
    fused = Fused(model, common.NON_SPEECH)
    with torch.no_grad():
        fused.head.mean.copy_(torch.from_numpy(scaler.mean_))
        fused.head.scale.copy_(torch.from_numpy(scaler.scale_))
        fused.head.weight[torch.from_numpy(lr.classes_)] = torch.from_numpy(lr.coef_).float()
        fused.head.bias[torch.from_numpy(lr.classes_)] = torch.from_numpy(lr.intercept_).float()
    record = {**rec, "head": {"windows": int(len(y)), "conditions": list(conditions or HEAD_CONDITIONS),
                              "labels": [common.LABELS[c] for c in lr.classes_], "C": c_reg, "context": CONTEXT,
                              "functionals": 5, "source": f"{src_tag}/{name}", "lstm_temperature": rec["temperature"]},
              "temperature": 1.0, "temperature_clips": 1.0}
    record.pop("temperature_fit", None)
    train.save_run(dst_tag, name, record, fused.state_dict())
    return record["head"]


def attach_all(kind: str, rate: int, suffix: str = "-fused", **head) -> None:
    """`kind` cv, final or xcorpus: the runs of <kind><R>k are kept under <kind><R>k-lstm (copied there the
    first time) and replaced by the fused models, so every other command reads the fused ones; a rerun
    fits the heads again from the kept ResLSTM-SA runs. An ablation tag instead writes <tag>-fused."""
    import shutil

    from . import train

    if kind in ("cv", "final", "xcorpus"):
        dst = train.tag_of(kind, rate)
        src = dst + "-lstm"
        if not (train.RUNS_DIR / src).exists():
            shutil.copytree(train.RUNS_DIR / dst, train.RUNS_DIR / src)
        # a run of dst without a head that differs from its copy was trained after the copy was made:
        # fusing the copy would overwrite it
        for name in run_names(dst):
            path, kept = (train.RUNS_DIR / t / f"{name}.json" for t in (dst, src))
            if "head" not in json.loads(path.read_text()) and (not kept.exists()
                                                               or kept.read_bytes() != path.read_bytes()):
                raise SystemExit(f"{dst}/{name} is a ResLSTM-SA run newer than {src}: move {src} aside first")
    else:
        src, dst = kind, kind + suffix
    for name in run_names(src):
        print(dst, name, attach(src, name, dst, **head), flush=True)


def validation_false_alarms(rate: int, tags: list[str]) -> dict:
    """Neutral and calm windows of the runs' validation speakers labelled angry (the element's label), pooled
    over each tag's runs: clean clips of both corpora, and RAVDESS with white and babble noise at 10 dB."""
    from . import evaluate, train

    out = {}
    for tag in tags:
        counts = {}
        for name in run_names(tag):
            model, rec = train.load_run(tag, name)
            for corpus, conditions in (("ravdess", ("clean", "white10", "babble10")), ("emodb", ("clean",))):
                if corpus not in rec["split"]:
                    continue
                idx, y = evaluate.idx_of(corpus, rec["split"][corpus]["val"])
                for condition in conditions:
                    a = evaluate.angry_rate(evaluate.window_probs(model, evaluate.recipe_bank(corpus, condition, rate),
                                                                  idx), y, ("neutral", "calm"))
                    c = counts.setdefault(f"{corpus} {condition}", {"angry": 0, "windows": 0})
                    c["angry"] += int(a["angry"])
                    c["windows"] += int(a["windows"])
        out[tag] = counts
        print(tag, counts, flush=True)
    return out


def fuse(lstm: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Emotion probabilities of both members (non-speech 0 in both) combined by their normalised geometric
    mean, equal weights (fixed before any measurement)."""
    q = np.exp(0.5 * np.log(np.maximum(lstm, 1e-12)) + 0.5 * np.log(np.maximum(head, 1e-12)))
    q[:, common.NON_SPEECH] = 0.0
    return q / q.sum(axis=1, keepdims=True)


def fusion(rate: int, tags: list[str], part: str = "val") -> dict:
    """Each run of `tags` (its element summaries of the `part` speakers' clean clips, context 8, as
    evaluate.py) against the same run fused with a head fitted on the run's own training speakers' clean
    clips, adapted with the run's own prior (functionals of speech frames, or of all frames as a graph fed
    the element's windows would see them). Choices rest on part="val"; "test" reports CV runs."""
    from . import evaluate, train
    from .model import Fused

    banks = {c: evaluate.recipe_bank(c, "clean", rate) for c in ("ravdess", "emodb")}
    clips = {c: extract.clips_of(c) for c in banks}
    out = {}
    for tag in tags:
        rows = []
        for name in run_names(tag):
            model, rec = train.load_run(tag, name)
            if isinstance(model, Fused) or model.adaptation is None \
                    or model.n_features != banks["ravdess"].feats.shape[1]:
                raise SystemExit(f"{tag}/{name}: not a run of the rate's recipe with adaptation")
            split = rec["split"]
            row = {"run": name}
            for frames in ("speech", "all"):
                x, y, idx = {}, {}, {}
                for c in banks:
                    for sub in ("train", part):
                        idx[c, sub] = [i for i, k in enumerate(clips[c]) if k.speaker in split[c][sub]]
                        x[c, sub] = clip_rows(banks[c], CONTEXT, model.adaptation, idx[c, sub], frames == "speech")
                        y[c, sub] = np.array([clips[c][i].label for i in idx[c, sub]])
                head = fit(np.concatenate([x[c, "train"] for c in banks]),
                           np.concatenate([y[c, "train"] for c in banks]))
                for c in banks:
                    lstm = np.stack([evaluate.decide(w)[0]
                                     for w in evaluate.window_probs(model, banks[c], idx[c, part])])
                    h = head(x[c, part])
                    for member, p in (("lstm", lstm), (f"head {frames}", h), (f"fused {frames}", fuse(lstm, h))):
                        pred = common.restricted_argmax(p, common.EVAL_LABELS[c])
                        row[f"{c} {member}"] = round(uar(y[c, part], pred), 4)
            print(tag, row, flush=True)
            rows.append(row)
        out[f"{tag} {part}"] = {"runs": rows, "mean": {k: round(float(np.mean([r[k] for r in rows])), 4)
                                            for k in rows[0] if k != "run"}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=int, default=16000, choices=(16000, 8000))
    ap.add_argument("--fusion", nargs="+", metavar="TAG", help="run directories under .cache/runs")
    ap.add_argument("--on", choices=("val", "test"), default="val", help="--fusion: the speakers scored")
    ap.add_argument("--attach", metavar="KIND", help="cv, final, xcorpus or a run tag: fit the functional head "
                    "of each run and write the fused models (attach_all)")
    ap.add_argument("--head-c", type=float, default=C_REG, help="--attach: the regression's C")
    ap.add_argument("--head-conditions", nargs="+", help="--attach: the versions of the training clips "
                    "(default: HEAD_CONDITIONS)")
    ap.add_argument("--suffix", default="-fused", help="--attach with a run tag: the new tag's suffix")
    ap.add_argument("--xcorpus", metavar="TAG", help="the cross-corpus figures (evaluate.py's) of the runs under "
                    "TAG, e.g. xcorpus16k-fused; -> models/results/candidate-fused-<R>k.json")
    ap.add_argument("--val-false-alarms", nargs="+", metavar="TAG", help="neutral and calm validation windows "
                    "labelled angry, per tag; -> models/results/val-false-alarms-<R>k.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # as evaluate.py
    if args.val_false_alarms:
        path = common.RESULTS_DIR / f"val-false-alarms-{args.rate // 1000}k.json"
        common.write_json(path, validation_false_alarms(args.rate, args.val_false_alarms))
        return
    if args.xcorpus:
        from . import evaluate

        path = common.RESULTS_DIR / f"candidate-fused-{args.rate // 1000}k.json"
        res = {"cross_corpus": {args.xcorpus: evaluate.evaluate_xcorpus(args.rate, args.xcorpus)}}
        common.write_json(path, res)
        print(json.dumps(res, indent=1))
        return
    if args.attach:
        attach_all(args.attach, args.rate, args.suffix, c_reg=args.head_c, conditions=args.head_conditions)
        return
    if args.fusion:
        new = fusion(args.rate, args.fusion, args.on)
        res = common.merge_json(common.RESULTS_DIR / f"fusion-{args.rate // 1000}k.json", lambda d: d.update(new))
    else:
        res = run(args.rate)
        common.write_json(common.RESULTS_DIR / f"functionals-{args.rate // 1000}k.json", res)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
