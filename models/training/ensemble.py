# SPDX-License-Identifier: MPL-2.0
"""Ensembles of trained ResLSTM-SA runs in one graph (model.Ensemble): the shipped models are two seeds each.

    python3 -m training.ensemble --rate 16000 --src ablate16k-keepdc-music-e42 --dst ablate16k-keepdc-music-e42-ens2
    python3 -m training.ensemble --rate 16000 --src cv16k --dst cv16k-ens2 --folds 0 1 2 3 4
    python3 -m training.ensemble --rate 16000 --src final16k --dst final16k-ens2 --runs final final-seed1 --name final

For every fold F the runs <src>/fold<F>_seed<S> (--seeds, default 0 1) become one run <dst>/fold<F>_seed<first S>
(the name evaluate.py looks for; the record's `ensemble` lists the members). The combination is the mean of
the members' probabilities (each at its own temperature), fixed before any measurement.

Speaker adaptation: the element adapts one stream with one prior, so the members must share it. Seeds of
one fold do not: train.py normalises with the frames of one random version of every training clip, drawn
with the run's seed (the priors of seeds 0 and 1 differ by up to 0.04 of a standard deviation in mean and
4 % in standard deviation). The ensemble's prior (and its graph normalisation, which every member's
forward_normalised then sees) is the pooled statistics of the members' normalisation frames (equal counts:
the mean of their means, and the root of the mean of their second moments less the squared mean), so with
the speaker's statistics (n >> n0 frames) every member sees (x - m) / s as it was trained to, and with
none each member's input is off by half the members' difference.

Members trained without adaptation (adapt=0, global normalisation; only the cross-corpus variants so far): the
ensemble has no prior, and its graph normalises with the pooled statistics of the members' own normalisation, so
each member's input is off by half the members' difference (as above with no speaker statistics).

The temperature: fitted on the validation speakers' whole clips as train.py fits a run's (the ablation runs
keep that one, as their members do); `evaluate --refit-temperature cv --tag DST` then refits it on the
validation windows as for the CV runs.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from . import adapt, train
from .model import Ensemble


def normalisation(members: list, adaptations: list[str | None]) -> tuple[adapt.Prior | None, np.ndarray, np.ndarray, str]:
    """adapt.ensemble_normalisation of these members (models) and their records' `adaptation` entries."""
    return adapt.ensemble_normalisation([m.adaptation for m in members], adaptations,
                                        [m.feat_mean.numpy().astype(np.float64) for m in members],
                                        [m.feat_std.numpy().astype(np.float64) for m in members])


def config(rec: dict) -> train.Config:
    """A run's recipe; a key missing from an older record has Config's default, as the run had (members
    trained before `mix_lengths` existed lack it)."""
    return train.Config(**rec["config"])


def clean_data(rec: dict) -> train.Data:
    """The clean banks of a run's recipe, for its validation clips."""
    cfg = config(rec)
    return train.Data(rec["rate"], ["clean"], **cfg.front_end(), score_music=bool(cfg.score_music),
                      impulses=bool(cfg.impulses), alerts=bool(cfg.alerts))


def build(src: str, names: list[str], dst: str, name: str, data: train.Data | None = None) -> dict:
    """Writes the ensemble of src/names as dst/name (train.save_run) and returns its record."""
    if dst == src:
        raise SystemExit("the ensemble would replace its own members: give another --dst")
    members, recs = zip(*(train.load_run(src, n) for n in names))
    if any(not hasattr(m, "forward_normalised") for m in members):
        raise SystemExit(f"{src}: ensemble members must be ResLSTM-SA runs")
    same = ("split", "rate", "conditions", "features_params", "extractor_sha256")
    for r in recs[1:]:
        differ = [k for k in same if r[k] != recs[0][k]] + (["config"] if config(r) != config(recs[0]) else [])
        if differ:
            raise SystemExit(f"{src}: {names} differ in {differ}")
    model = Ensemble(list(members))
    prior, mean, std, how = normalisation(members, [r["adaptation"] for r in recs])
    # the graph's normalisation (as a ResLSTM-SA run's: its feat_mean/feat_std, float32)
    model.set_normalisation(mean, std, floor=0.0)
    model.adaptation = prior
    model.eval()
    rec0 = recs[0]
    cfg = config(rec0)
    data = data if data is not None else clean_data(rec0)
    # what the checkpoint record of a run holds, for the ensemble: its validation score on whole validation
    # clips (train.eval_seqs, the run's own prior) and the temperature fitted on them
    va = data.items(rec0["split"], "val")
    seqs = train.eval_seqs(data, va, prior, cfg.adapt_val_context)
    temperature = train.fit_temperature(model, data, va, seqs)
    best = {"epoch": [r["best"]["epoch"] for r in recs], **train.validation_score(data, va, train.predict(model, seqs))}
    record = {**{k: v for k, v in rec0.items() if k not in ("history", "temperature_fit", "temperature_clips")},
              "seed": [r["seed"] for r in recs], "best": best, "temperature": temperature,
              "val_best_epoch": [r.get("val_best_epoch", r["best"]["epoch"]) for r in recs],
              "n_parameters": sum(r["n_parameters"] for r in recs),
              "train_seconds": round(sum(r["train_seconds"] for r in recs), 1),
              "adaptation": prior.to_json() if prior is not None else None,
              "ensemble": {"members": [f"{src}/{n}" for n in names], "combine": "mean of the members' probabilities",
                           "member_temperatures": [r["temperature"] for r in recs],
                           "member_best": [r["best"] for r in recs],
                           "prior": how}}
    train.save_run(dst, name, record, model.state_dict())
    print(f"{dst}/{name}: {record['ensemble']['members']}, prior {record['ensemble']['prior']}, "
          f"val score {best['score']:.4f} (members {[round(r['best']['score'], 4) for r in recs]}), "
          f"T {temperature:.3f} (members {[round(r['temperature'], 3) for r in recs]})", flush=True)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--src", required=True, help="run tag whose fold<F>_seed<S> runs are the members")
    ap.add_argument("--dst", required=True, help="run tag of the ensembles")
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--runs", nargs="+", metavar="NAME", help="instead of folds: these runs of --src (e.g. final "
                    "final-seed1) become the one run --name of --dst")
    ap.add_argument("--name", help="with --runs: the ensemble's run name (e.g. final)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    if args.runs:
        if not args.name:
            raise SystemExit("--runs needs --name")
        build(args.src, args.runs, args.dst, args.name)
        return
    data = None
    for f in args.folds:
        names = [f"fold{f}_seed{s}" for s in args.seeds]
        if not all((train.RUNS_DIR / args.src / f"{n}.json").exists() for n in names):
            print(f"{args.src}: fold {f} lacks a member, skipped")
            continue
        rec = json.loads((train.RUNS_DIR / args.src / f"{names[0]}.json").read_text())
        if rec["rate"] != args.rate:
            raise SystemExit(f"{args.src} is a {rec['rate']} Hz tag")
        data = data if data is not None else clean_data(rec)
        build(args.src, names, args.dst, names[0], data)


if __name__ == "__main__":
    main()
