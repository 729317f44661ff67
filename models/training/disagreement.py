# SPDX-License-Identifier: MPL-2.0
"""Do the two members of an ensemble disagree more on audio unlike their training corpus? (card, *7*)

For each 16 kHz cross-corpus ensemble (xcorpus16k: RAVDESS-only, EmoDB-only), the classified element windows of
its own corpus's validation speakers (in the corpus) and of the other corpus (its final-split validation speakers,
and the rest), 6 shared classes: accuracy and mean confidence of the ensemble, how often the members agree on the
top label, the total-variation distance between their probabilities, and accuracy and confidence where they agree
or not. Each member reads the window as the ensemble normalises it.

    python3 -m training.disagreement     # -> models/results/disagreement-16k.json
"""
from __future__ import annotations

import copy
import json

import numpy as np
import torch

from . import calibration, common, evaluate, extract, train

RATE = 16000
RUNS = (("ravdess-only", "ravdess", "emodb"), ("emodb-only-nobucket", "emodb", "ravdess"))


def members_of(ensemble) -> list:
    """The members as models of their own, each normalising and adapting as the ensemble does."""
    out = []
    for m in ensemble.members:
        m = copy.deepcopy(m)
        m.feat_mean.copy_(ensemble.feat_mean)
        m.feat_std.copy_(ensemble.feat_std)
        m.adaptation = ensemble.adaptation
        out.append(m)
    return out


def summary(ensemble, bank: extract.Bank, idx: list[int], labels: list[int]) -> dict:
    pe = evaluate.window_probs(ensemble, bank, idx)
    per_member = [evaluate.window_probs(m, bank, idx) for m in members_of(ensemble)]
    keep = [calibration.gated(c) for c in pe]
    p = np.concatenate([np.asarray(c["win"])[k] for c, k in zip(pe, keep)])
    a, b = (np.concatenate([np.asarray(c["win"])[k] for c, k in zip(pm, keep)]) for pm in per_member)
    y = np.concatenate([[common.to_shared6(l)] * int(k.sum()) for l, k in zip(labels, keep)]).astype(int)
    conf, right = calibration.outcomes(p, y, six=True)
    tv = 0.5 * np.abs(a - b).sum(axis=1)
    agree = a.argmax(axis=1) == b.argmax(axis=1)

    def part(mask):
        return {"windows": int(mask.sum()), "accuracy": round(float(right[mask].mean()), 4) if mask.any() else None,
                "mean_confidence": round(float(conf[mask].mean()), 4) if mask.any() else None}

    return {"windows": int(tv.size), "accuracy": round(float(right.mean()), 4),
            "mean_confidence": round(float(conf.mean()), 4), "top_label_agreement": round(float(agree.mean()), 4),
            "tv_distance_quartiles": [round(float(v), 4) for v in np.quantile(tv, [0.25, 0.5, 0.75])],
            "members_agree": part(agree), "members_disagree": part(~agree)}


def main() -> None:
    torch.set_num_threads(1)
    out = {"rate": RATE, "tag": train.tag_of("xcorpus", RATE), "how": __doc__.split("\n\n")[1]}
    for name, own, other in RUNS:
        ensemble, rec = train.load_run(out["tag"], name)
        idx, y = evaluate.idx_of(own, rec["split"][own]["val"])
        shared = [k for k, l in enumerate(y) if common.to_shared6(l) >= 0]
        sets = {"own corpus, validation speakers": (own, [idx[k] for k in shared], [y[k] for k in shared])}
        idx, y = evaluate.shared6_clips(other)
        for label, k in zip(("other corpus, its validation speakers", "other corpus, the rest"),
                            evaluate.heldout_split(other, idx)):
            sets[label] = (other, [idx[j] for j in k], [y[j] for j in k])
        for label, (corpus, i, l) in sets.items():
            out[f"{name}: {label}"] = summary(ensemble, evaluate.recipe_bank(corpus, "clean", RATE), i, l)
            print(name, label, json.dumps(out[f"{name}: {label}"]), flush=True)
    path = common.RESULTS_DIR / f"disagreement-{RATE // 1000}k.json"
    common.write_json(path, out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
