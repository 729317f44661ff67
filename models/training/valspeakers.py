# SPDX-License-Identifier: MPL-2.0
"""Do more training speakers help? Lever (h) of the model card, judged without the test speakers.

    python3 -m training.valspeakers --rate 16000 --recipe ablate16k-recipe-last-e42 \\
        --candidates ablate16k-valtrain0-e42 ablate16k-valtrain1-e42

A candidate run (`train ablate --val-to-train k`) trained on one of the two validation speakers of each corpus as
well; the other two judge it. The recipe's run of the same fold and seed is judged on the same two speakers: their
mean UAR (whole clips, from the per-speaker history of `train.speaker_uars`) at the last epoch of each run. Writes
models/results/val-speakers-rule-<R>k.json. Nothing here trains or loads a model.
"""

import argparse
import json

import numpy as np

from . import common

RUNS = common.CACHE_DIR / "runs"


def last_uars(history: list[dict]) -> dict:
    """Each validation speaker's UAR at the last epoch of a run's history."""
    if not history or "speakers" not in history[-1]:
        raise ValueError("the history has no per-speaker UAR (a run trained before train.speaker_uars)")
    return history[-1]["speakers"]


def judged(history: list[dict], speakers: list[str]) -> float:
    """Mean UAR of these speakers at the last epoch of a run's history."""
    last = last_uars(history)
    missing = [s for s in speakers if s not in last]
    if missing:
        raise ValueError(f"the run has no UAR for {missing}")
    return float(np.mean([last[s] for s in speakers]))


def compare(recipe: dict, candidate: dict) -> dict:
    """One comparison: the candidate's validation speakers judge both runs (records of the same fold and seed)."""
    if (recipe["seed"], recipe["config"]["epochs"]) != (candidate["seed"], candidate["config"]["epochs"]):
        raise ValueError("the runs differ in seed or epochs")
    speakers = sorted(last_uars(candidate["history"]))
    if len(speakers) != 2 or sorted(s.split(":")[0] for s in speakers) != ["emodb", "ravdess"]:
        raise ValueError(f"a candidate is judged by one speaker of each corpus, not {speakers}")
    base, cand = judged(recipe["history"], speakers), judged(candidate["history"], speakers)
    return {"judge": speakers, "recipe": round(base, 5), "candidate": round(cand, 5), "gain": round(cand - base, 5)}


def summary(rows: list[dict]) -> dict:
    g = np.array([r["gain"] for r in rows])
    return {"comparisons": len(rows), "recipe": round(float(np.mean([r["recipe"] for r in rows])), 4),
            "candidate": round(float(np.mean([r["candidate"] for r in rows])), 4), "gain": round(float(g.mean()), 4),
            "gain_sd": round(float(g.std(ddof=1)), 4) if len(g) > 1 else None,
            "ahead": int((g > 0).sum()), "behind": int((g < 0).sum()), "ties": int((g == 0).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--recipe", required=True, help="the recipe's run tag under models/.cache/runs")
    ap.add_argument("--candidates", nargs="+", required=True, help="run tags trained with --val-to-train")
    args = ap.parse_args()
    rows = []
    for tag in args.candidates:
        for f in sorted((RUNS / tag).glob("fold*_seed*.json")):
            base = RUNS / args.recipe / f.name
            if not base.exists():
                raise SystemExit(f"{args.recipe} has no {f.stem}")
            rows.append({"run": f"{tag}/{f.stem}",
                         **compare(json.loads(base.read_text()), json.loads(f.read_text()))})
    if not rows:
        raise SystemExit("no candidate run under these tags")
    out = {"rate": args.rate, "recipe": args.recipe, "candidates": args.candidates, "summary": summary(rows),
           "rows": rows}
    common.write_rule_result(f"val-speakers-rule-{args.rate // 1000}k", out)


if __name__ == "__main__":
    main()
