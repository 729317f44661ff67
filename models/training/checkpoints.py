# SPDX-License-Identifier: MPL-2.0
"""Does choosing a run's checkpoint on its validation speakers help, against keeping the last epoch?

    python3 -m training.checkpoints --rate 16000 --tags ablate16k-impulses-spk-e42 ablate16k-impulses-spk-e42-f234

With --epochs A B (lever (i), a longer schedule): each run's validation figures at epoch B against epoch A of the
same run, judged by the same speakers (a run of B epochs passes through the A-epoch run's states); writes
models/results/epochs-rule-<R>k.json.

A run's checkpoint is the epoch its validation speakers (2 RAVDESS actors, 2 EmoDB speakers) score best, and a
figure on those speakers at that epoch flatters it. Here each split of a run's validation speakers into a choosing
pair (one speaker of each corpus) and a judging pair (the other two) gives an honest comparison: the judging pair's
mean UAR at the epoch the choosing pair's mean UAR picks (ties: the earlier), against at the last epoch. Reads the
per-speaker history `train.speaker_uars` records (runs trained before it have none); writes
models/results/checkpoint-rule-<R>k.json. Nothing here trains or loads a model.
"""

import argparse
import itertools
import json

import numpy as np

from . import common

RUNS = common.CACHE_DIR / "runs"


def splits(speakers: list[str]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Every (choosing pair, judging pair) with one speaker of each corpus in each pair ("corpus:speaker" keys)."""
    by_corpus = {}
    for s in speakers:
        by_corpus.setdefault(s.split(":")[0], []).append(s)
    if sorted(by_corpus) != ["emodb", "ravdess"] or any(len(v) != 2 for v in by_corpus.values()):
        raise ValueError(f"need two validation speakers of each corpus, not {sorted(speakers)}")
    out = []
    for r, e in itertools.product(range(2), range(2)):
        choose = (by_corpus["ravdess"][r], by_corpus["emodb"][e])
        judge = (by_corpus["ravdess"][1 - r], by_corpus["emodb"][1 - e])
        out.append((choose, judge))
    return out


def cross_fit(history: list[dict]) -> list[dict]:
    """For each split of the validation speakers: the epoch the choosing pair picks, and the judging pair's mean UAR
    there and at the last epoch."""
    if not history or "speakers" not in history[0]:
        raise ValueError("the history has no per-speaker UAR (a run trained before train.speaker_uars)")
    speakers = sorted(history[0]["speakers"])
    table = np.array([[h["speakers"][s] for s in speakers] for h in history])  # epochs x speakers
    col = {s: k for k, s in enumerate(speakers)}
    out = []
    for choose, judge in splits(speakers):
        chosen = table[:, [col[s] for s in choose]].mean(axis=1)
        judged = table[:, [col[s] for s in judge]].mean(axis=1)
        epoch = int(np.argmax(chosen))  # the first of equal maxima: the earlier epoch
        out.append({"choose": list(choose), "judge": list(judge), "chosen_epoch": epoch + 1,
                    "judged_at_chosen": round(float(judged[epoch]), 5), "judged_at_last": round(float(judged[-1]), 5),
                    "last_epoch": len(history)})
    return out


def summary(pairs: list[dict]) -> dict:
    d = np.array([p["judged_at_last"] - p["judged_at_chosen"] for p in pairs])
    return {"pairs": len(pairs), "judged_at_chosen": round(float(np.mean([p["judged_at_chosen"] for p in pairs])), 4),
            "judged_at_last": round(float(np.mean([p["judged_at_last"] for p in pairs])), 4),
            "last_minus_chosen": round(float(d.mean()), 4), "last_ahead": int((d > 0).sum()),
            "last_behind": int((d < 0).sum()), "ties": int((d == 0).sum())}


EPOCH_KEYS = ("score", "ravdess", "emodb", "nonspeech_classified")


def epoch_gain(history: list[dict], early: int, late: int) -> dict:
    """A run's validation figures (whole clips) at epoch `late` minus those at epoch `early` (1-based)."""
    if len(history) < late or early < 1 or early >= late:
        raise ValueError(f"need epochs {early} < {late} within a history of {len(history)}")
    a, b = history[early - 1], history[late - 1]
    if (a["epoch"], b["epoch"]) != (early, late):
        raise ValueError("the history is not one entry per epoch")
    return {k: {"early": a[k], "late": b[k], "gain": round(b[k] - a[k], 5)} for k in EPOCH_KEYS}


def same_start(history: list[dict], baseline: list[dict]) -> bool:
    """Whether a longer run's first epochs are exactly a shorter run's history (every recorded figure): the longer
    run passed through the shorter one's states."""
    return len(history) >= len(baseline) > 0 and history[:len(baseline)] == baseline


def epoch_summary(rows: list[dict]) -> dict:
    """Means over the runs, how many runs gained and lost, and the gains' spread: `sd` the runs' sample standard
    deviation, `se` the standard error of the mean gain (sd / sqrt(runs); None for one run). A mean gain within
    about two standard errors is what pairs of runs give by chance (lever (i) passed at 16 kHz on +0.011 with a
    standard error of 0.011, and the test speakers did not confirm it)."""
    out = {"runs": len(rows)}
    for k in EPOCH_KEYS:
        g = np.array([r[k]["gain"] for r in rows])
        sd = float(g.std(ddof=1)) if len(g) > 1 else None
        out[k] = {"early": round(float(np.mean([r[k]["early"] for r in rows])), 4),
                  "late": round(float(np.mean([r[k]["late"] for r in rows])), 4), "gain": round(float(g.mean()), 4),
                  "ahead": int((g > 0).sum()), "behind": int((g < 0).sum()),
                  "sd": None if sd is None else round(sd, 4),
                  "se": None if sd is None else round(sd / np.sqrt(len(g)), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--tags", nargs="+", required=True, help="run tags under models/.cache/runs")
    ap.add_argument("--epochs", type=int, nargs=2, metavar=("A", "B"), help="compare epoch B with epoch A")
    ap.add_argument("--same-as", metavar="TAG", help="with --epochs: check that each run's first epochs equal the "
                    "history of the run of the same fold and seed under TAG (a shorter schedule)")
    args = ap.parse_args()
    if args.epochs:
        rows, same = {}, {}
        for tag in args.tags:
            files = sorted((RUNS / tag).glob("fold*_seed*.json"))
            if not files:
                raise SystemExit(f"no run under {tag}")
            for f in files:
                history = json.loads(f.read_text())["history"]
                rows[f"{tag}/{f.stem}"] = epoch_gain(history, *args.epochs)
                if args.same_as:
                    base = RUNS / args.same_as / f.name
                    same[f"{tag}/{f.stem}"] = base.exists() and same_start(
                        history, json.loads(base.read_text())["history"])
        out = {"rate": args.rate, "tags": args.tags, "epochs": args.epochs, "summary": epoch_summary(list(rows.values())),
               "runs": rows}
        if args.same_as:
            out["same_start_as"] = {"tag": args.same_as, "runs": same, "all": all(same.values())}
            print(f"first epochs equal {args.same_as}'s: {sum(same.values())} of {len(same)} runs")
        common.write_rule_result(f"epochs-rule-{args.rate // 1000}k", out)
        return
    runs, pairs = {}, []
    for tag in args.tags:
        for f in sorted((RUNS / tag).glob("fold*_seed*.json")):
            record = json.loads(f.read_text())
            if "ensemble" in record:
                continue
            fit = cross_fit(record["history"])
            runs[f"{tag}/{f.stem}"] = {"best_epoch": record["best"]["epoch"], "splits": fit}
            pairs += fit
    if not pairs:
        raise SystemExit("no run with a history under these tags")
    out = {"rate": args.rate, "tags": args.tags, "summary": summary(pairs), "runs": runs}
    common.write_rule_result(f"checkpoint-rule-{args.rate // 1000}k", out)


if __name__ == "__main__":
    main()
