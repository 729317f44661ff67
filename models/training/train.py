# SPDX-License-Identifier: MPL-2.0
"""Train ResLSTM-SA on RAVDESS + EmoDB + generated non-speech, at 16 kHz or 8 kHz (telephone).

One pipeline for both rates: `--rate 16000` uses the 16 kHz features of the
clips, `--rate 8000` the narrowband features of the same clips sent through
the telephone channel (extract.py). Every training clip comes in 2 versions
(clean + 1 augmented copy, DEFAULT_CONDITIONS; extract.py builds 3 copies,
the ablation used them); each time a clip is drawn one version is picked at
random. Batches hold clips of one length class (config `bucket`). Validation and test clips are the
clean (16 kHz) or deterministic telephone (8 kHz) version.

Loss: cross-entropy over each example's own corpus labels plus `non-speech`
(common.CORPUS_MASK; the other logits are masked out); non-speech examples
over all labels. Checkpoint: the epoch with the best validation score, the
mean over the validation corpora of the UAR over that corpus's labels (ties:
lower validation loss). Temperature: fitted on the validation clips (NLL of
the masked logits), then refitted on the validation speakers' element windows
by `evaluate --refit-temperature` (the shipped and CV runs). Run from models/ (torch uses one thread; run under nice):

    python3 -m training.train cv --rate 16000 [--folds 0 1 2 3 4] [--seed 0]
    python3 -m training.train xcorpus --rate 16000     # RAVDESS-only and EmoDB-only models
    python3 -m training.train final --rate 16000       # the shipped model (then training.export)
    python3 -m training.train ablate --rate 16000 --name clean-only --conditions clean

Checkpoints and run records go to models/.cache/runs/<tag>/ (not in git).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import re
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import adapt, common, extract
from .data import DEFAULT_CONDITIONS, Data, Speakers, class_weights, corpus_label
from .lengths import first, length_classes, nonspeech_to_short, sequence
from .model import Ensemble, Fused, ResLSTMSA, SpeakerAdversary, count_parameters

RUNS_DIR = common.CACHE_DIR / "runs"
CONFIG_PATH = Path(__file__).resolve().parent / "config.json"


@dataclass
class Config:
    hidden: int = 64
    epochs: int = 98
    batch_size: int = 32
    lr: float = 1e-2
    weight_decay: float = 0.0
    dropout: float = 0.3
    t0: int = 14
    t_mult: int = 2
    eta_min: float = 1e-5
    grad_clip: float = 1.0
    crop: int = 75
    label_smoothing: float = 0.0
    time_masks: int = 2
    time_mask_max: int = 8
    feat_masks: int = 1
    feat_mask_max: int = 6
    # > 0: mixup of the normalised features within a batch, lambda ~ Beta(alpha, alpha), each side's loss over
    # its own corpus's labels (two ablation runs at 0.2 only, not adopted)
    mixup_alpha: float = 0.0
    noise_std: float = 0.0
    # 1: batches hold clips of one length class only (at least `crop` frames, or shorter: EmoDB's 2 s
    # clips), so a short clip no longer cuts the whole batch's crop to its length
    bucket: int = 0
    # with buckets: each epoch, this share of the long clips joins the short class (cropped to its length),
    # and this share of the short clips (EmoDB's 2 s) is joined end to end with another training clip of the
    # same speaker and emotion and goes to the long class; 0: every clip stays in its own class. Without it,
    # the model never hears EmoDB speech in a window as long as the element's (3 s), nor RAVDESS or
    # non-speech in a short one, and clip length alone tells the corpora and non-speech apart.
    mix_lengths: float = 0.0
    # with buckets (not with mix_lengths): each epoch, each long non-speech training clip joins the short class
    # with this probability (cropped to the short batch's length; lengths.nonspeech_to_short), so short batches
    # are not EmoDB speech alone; 0: every clip in its own class (the recipe)
    ns_short: float = 0.0
    # 1: speaker adaptation (adapt.py): each example is standardised by its speaker's statistics, as the
    # element does during a stream; the context is `prior_frames` frames of the training statistics plus
    # the speech of 0 (share `adapt_p0`) or a log-uniform number of other clips of the same speaker
    adapt: int = 0
    prior_frames: float = 100.0
    adapt_p0: float = 0.2
    # validation: the number of other clips of the speaker the statistics rest on
    adapt_val_context: int = 8
    # 1: the extractor's pitch and voicing features follow MFCC and chroma (48 features); 0: 46 (ablations)
    pitch: int = 1
    # 1: the extractor removes each frame's mean first (a DC offset changes nothing); 0: as before (ablations)
    remove_dc: int = 1
    # 1: the non-speech training clips include the real-score music (extract.NS_SCORES); 0: generated only
    score_music: int = 1
    # 1: the non-speech training and validation clips include the impulsive ones (extract.NS_IMPULSES: typing,
    # clicks, knocks, percussion; impulses.py); 0: without, as the runs before them (the checkpoint's temperature
    # is fitted on the validation clips). evaluate.validation_row measures every run on all of them.
    impulses: int = 0
    # 1: the non-speech training and validation clips include the ringing and alert ones (extract.NS_ALERTS:
    # ringers, ring tones, chimes, alarms, buzzers; alerts.py); 0: without, as the runs before them
    alerts: int = 0
    # 1: attentive statistics pooling (model.py): the weighted standard deviation of h_t joins the
    # attention's weighted mean (49,706 parameters); 0: the paper's soft attention alone
    stats_pool: int = 0
    # > 0: a speaker adversary (model.SpeakerAdversary) reads the pooled vector of each speech example through a
    # gradient reversal layer whose weight rises from 0 to this value over the run (2 / (1 + e^(-10 p)) - 1 of it,
    # p the share of steps done); training only, not exported. 0: none (the recipe)
    speaker_adv: float = 0.0
    # > 0: two more outputs on the pooled vector (training only, not exported) predict the binary arousal and valence
    # of speech examples (common.AROUSAL, common.VALENCE); their binary cross-entropy, this weight, joins the loss.
    # With either of these two, gradient clipping (grad_clip) bounds the norm of all gradients together, the extra
    # layers' with the network's
    av_weight: float = 0.0
    # > 0: the checkpoint is an exponential moving average of the weights and batch-norm statistics, this
    # decay per optimiser step; validation and the chosen epoch use the average (0: the weights as trained).
    # Measured at 0.995, not adopted (MODEL_CARD.md)
    ema: float = 0.0
    # knowledge distillation: a run tag whose runs (an ensemble, ensemble.py) teach this one; the teacher of
    # run NAME is <teacher>/NAME with its seed suffix made 0 (fold2_seed1 -> fold2_seed0, final-seed1 ->
    # final), trained on the same split. Loss: (1 - distill_weight) * cross-entropy + distill_weight *
    # distill_t^2 * KL(teacher || student), both at temperature distill_t over the example's labels; the
    # teacher sees the crop before SpecAugment. Off when empty.
    teacher: str = ""
    distill_weight: float = 0.5
    distill_t: float = 2.0
    # 1: each example's loss weighted by the inverse frequency of its label among its corpus's training
    # examples (every corpus's labels then weigh alike, as UAR counts them; non-speech examples weigh 1)
    class_balance: int = 0
    # fewer features than the feature CLI's (extract.subset; ablations only, export refuses them): the
    # first n_mfcc MFCC, and the chroma (12) or none (0)
    n_mfcc: int = extract.N_MFCC
    n_chroma: int = extract.N_CHROMA
    # which epoch the run keeps: "best", the one its validation speakers score best (ties: lower validation loss);
    # "last", the final epoch, at the end of a cosine cycle (validation then only fits the temperature). The record's
    # `best` holds the kept epoch's figures either way, and `val_best_epoch` the epoch "best" would keep. "last"
    # passed its rule at 16 and 8 kHz and ships (checkpoints.py, MODEL_CARD.md)
    checkpoint: str = "best"

    @classmethod
    def load(cls, overrides: list[str] = (), rate: int | None = None) -> "Config":
        """config.json, then its `rate_overrides` for `rate`, then `overrides` (KEY=VALUE)."""
        doc = json.loads(CONFIG_PATH.read_text()) if CONFIG_PATH.exists() else {}
        by_rate = doc.pop("rate_overrides", {})
        cfg = cls(**{**doc, **(by_rate.get(str(rate), {}) if rate else {})})
        types = {f.name for f in fields(cls)}
        for o in overrides:
            k, v = o.split("=", 1)
            if k not in types:
                raise SystemExit(f"unknown hyperparameter {k}")
            cur = getattr(cfg, k)
            setattr(cfg, k, type(cur)(float(v)) if isinstance(cur, int) else type(cur)(v))
        return cfg

    def front_end(self) -> dict:
        """The extractor options of this recipe, for extract.load."""
        return extract.load_options(bool(self.pitch), bool(self.remove_dc), self.n_mfcc, self.n_chroma)


# ---------------------------------------------------------------------------
# data


def front_end(rate: int) -> dict:
    """The extractor options of the recipe at a rate (config.json with its rate overrides), for extract.load."""
    return Config.load(rate=rate).front_end()


def front_end_params(rate: int) -> dict:
    """The feature parameters of the rate's recipe, as run records store them."""
    return json.loads(extract.Extractor(rate, **front_end(rate)).params_json())


def make_batch(data: Data, items, crop: int, rng: np.random.Generator, cfg: Config | None = None,
               prior: adapt.Prior | None = None, speakers: Speakers | None = None):
    conds = [data.conditions[int(rng.integers(len(data.conditions)))] for _ in items]
    both = [sequence(data, it, c) for it, c in zip(items, conds)]
    seqs = [f for f, _ in both]
    L = min(crop, min(s.shape[0] for s in seqs))
    x = np.empty((len(seqs), L, seqs[0].shape[1]), dtype=np.float32)
    for k, s in enumerate(seqs):
        start = int(rng.integers(0, s.shape[0] - L + 1))
        x[k] = s[start:start + L]
        if prior is not None:
            # what the element has seen when this crop's window is classified: the speech of the
            # speaker's earlier clips (0 or a log-uniform number of them) and of this clip up to the crop's end
            pool = speakers.others(data, items[k], rng)
            n = 0 if (rng.random() < cfg.adapt_p0 or not pool) else int(round(np.exp(rng.uniform(0, np.log(len(pool))))))
            before = data.context(pool, n, rng, data.conditions)
            stats = adapt.streaming_stats(s, both[k][1], start + L, before)
            x[k] = adapt.apply(x[k], stats, prior)
    y = torch.tensor([data.label(first(it)) for it in items])
    m = torch.from_numpy(np.stack([data.mask(first(it)) for it in items]))
    return torch.from_numpy(x), y, m


def spec_augment(z: torch.Tensor, cfg: Config, rng: np.random.Generator) -> torch.Tensor:
    """Time and feature masks on normalised features (masked values are 0 = the mean)."""
    B, T, Fdim = z.shape
    mask = np.ones((B, T, Fdim), dtype=np.float32)
    for b in range(B):
        for _ in range(cfg.time_masks):
            w = int(rng.integers(0, cfg.time_mask_max + 1))
            if 0 < w < T:
                s = int(rng.integers(0, T - w + 1))
                mask[b, s:s + w, :] = 0
        for _ in range(cfg.feat_masks):
            w = int(rng.integers(0, cfg.feat_mask_max + 1))
            if 0 < w < Fdim:
                s = int(rng.integers(0, Fdim - w + 1))
                mask[b, :, s:s + w] = 0
    z = z * torch.from_numpy(mask)
    if cfg.noise_std > 0:
        z = z + cfg.noise_std * torch.randn_like(z)
    return z


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return logits.masked_fill(~mask, -1e4)


@torch.inference_mode()
def predict(model: ResLSTMSA, seqs: list[np.ndarray], logits_out: bool = False, max_batch: int = 64) -> np.ndarray:
    """Probabilities (or logits) [n, n_labels] of whole sequences; equal lengths are batched (same as batch 1)."""
    model.eval()
    out = np.zeros((len(seqs), model.n_classes), dtype=np.float32)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_len.setdefault(s.shape[0], []).append(i)
    for _, members in sorted(by_len.items()):
        for k in range(0, len(members), max_batch):
            chunk = members[k:k + max_batch]
            logits, _ = model(torch.from_numpy(np.stack([seqs[i] for i in chunk])))
            out[chunk] = (logits if logits_out else torch.softmax(logits, dim=1)).numpy()
    return out


def speaker_uars(data: Data, items, probs: np.ndarray) -> dict:
    """UAR of each validation speaker's clips ("corpus:speaker"), argmax over the corpus's labels: lets a
    checkpoint rule be judged on speakers that did not choose it (the history keeps them per epoch)."""
    out = {}
    for k, it in enumerate(items):
        corpus, speaker = data.speaker(it)
        if corpus != "nonspeech":
            out.setdefault(f"{corpus}:{speaker}", []).append(k)
    return {key: round(corpus_uar(data, items, idx, probs, key.split(":")[0]), 5) for key, idx in sorted(out.items())}


def corpus_uar(data: Data, items, idx: list[int], probs: np.ndarray, corpus: str) -> float:
    """UAR of items[idx] with the argmax over `corpus`'s labels."""
    y = [data.label(items[k]) for k in idx]
    pred = common.restricted_argmax(probs[idx], common.EVAL_LABELS[corpus])
    return common.metrics_from_cm(common.confusion(y, pred, common.N_LABELS))["uar"]


def validation_score(data: Data, items, probs: np.ndarray) -> dict:
    """UAR per validation corpus (argmax over its labels), their mean, and the non-speech gate rates."""
    out = {}
    corpora = [data.corpus(it) for it in items]
    for corpus in ("ravdess", "emodb"):
        idx = [k for k, c in enumerate(corpora) if c == corpus]
        if idx:
            out[corpus] = corpus_uar(data, items, idx, probs, corpus)
            out[f"{corpus}_gated"] = float(np.mean(probs[idx].argmax(1) == common.NON_SPEECH))
    ns = [k for k, c in enumerate(corpora) if c == "nonspeech"]
    if ns:
        out["nonspeech_classified"] = float(np.mean(probs[ns].argmax(1) != common.NON_SPEECH))
    out["score"] = float(np.mean([out[c] for c in ("ravdess", "emodb") if c in out]))
    return out


def eval_seqs(data: Data, items, prior: adapt.Prior | None, context: int, seed: int = 0) -> list[np.ndarray]:
    """Whole clean clips of validation items, adapted (if `prior`) with `context` other clips of the speaker."""
    if prior is None:
        return [data.features(it) for it in items]
    speakers = Speakers(data, items)
    out = []
    for k, it in enumerate(items):
        rng = np.random.default_rng([seed, k])
        before = data.context(speakers.others(data, it, rng), context, rng, ["clean"])
        f = data.features(it)
        out.append(adapt.apply(f, adapt.streaming_stats(f, data.speech(it), f.shape[0], before), prior))
    return out


@torch.inference_mode()
def fit_temperature(model: ResLSTMSA, data: Data, items, seqs: list[np.ndarray]) -> float:
    """Temperature minimising the NLL of the validation clips' masked logits (grid over [0.25, 25])."""
    model.temperature.fill_(1.0)
    logits = torch.from_numpy(predict(model, seqs, logits_out=True)).double()
    mask = torch.from_numpy(np.stack([data.mask(it) for it in items]))
    logits = logits.masked_fill(~mask, -1e4)
    y = torch.tensor([data.label(it) for it in items])
    grid = torch.exp(torch.linspace(np.log(0.25), np.log(25.0), 481, dtype=torch.float64))
    nll = torch.stack([F.cross_entropy(logits / t, y) for t in grid])
    t = float(grid[int(torch.argmin(nll))])
    model.temperature.fill_(t)
    return t


def teacher_of(cfg: Config, name: str, split: dict):
    """The teacher of run `name` (cfg.teacher), checked to have been trained on the same split; None without."""
    if not cfg.teacher:
        return None
    model, rec = load_run(cfg.teacher, re.sub(r"-seed\d+$", "", re.sub(r"_seed\d+$", "_seed0", name)))
    if rec["split"] != split:
        raise SystemExit(f"teacher {cfg.teacher} of {name} was trained on another split")
    return model


def train_run(data: Data, split: dict, cfg: Config, seed: int, desc: str = "", teacher=None) -> tuple[dict, dict]:
    """Train one model on split[*]['train'] speakers (+ non-speech), choose its epoch on split[*]['val'];
    `teacher` (a model, cfg.teacher's run) adds the distillation loss."""
    common_seed(seed)
    rng = np.random.default_rng(seed)
    tr, va = data.items(split, "train"), data.items(split, "val")
    # normalisation: the training clips' frames, one random version per clip
    frames = np.concatenate([data.features(it, data.conditions[int(rng.integers(len(data.conditions)))])
                             for it in tr]).astype(np.float64)
    model = ResLSTMSA(frames.shape[1], cfg.hidden, common.N_LABELS, cfg.dropout, bool(cfg.stats_pool))
    model.set_normalisation(frames.mean(axis=0), frames.std(axis=0))
    del frames
    prior = (adapt.Prior(model.feat_mean.numpy().astype(np.float64), model.feat_std.numpy().astype(np.float64),
                         cfg.prior_frames).rounded() if cfg.adapt else None)
    speakers = Speakers(data, tr) if cfg.adapt else None
    params = list(model.parameters())
    adversary, speaker_ids = None, {}
    if cfg.speaker_adv > 0:
        if cfg.mixup_alpha > 0:
            raise SystemExit("the speaker adversary reads one speaker per example: not with mixup")
        for it in tr:
            if data.corpus(first(it)) != "nonspeech":
                speaker_ids.setdefault(data.speaker(first(it)), len(speaker_ids))
        adversary = SpeakerAdversary(model.bn2.num_features, len(speaker_ids))
        params += list(adversary.parameters())
    av_head = None
    if cfg.av_weight > 0:
        if cfg.mixup_alpha > 0:
            raise SystemExit("arousal and valence are read per example: not with mixup")
        av_head = torch.nn.Linear(model.bn2.num_features, 2)
        params += list(av_head.parameters())
        av_target = torch.tensor([[common.AROUSAL[name], common.VALENCE[name]] if name in common.AROUSAL else [-1, -1]
                                  for name in common.LABELS], dtype=torch.float32)
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=cfg.t0, T_mult=cfg.t_mult,
                                                                 eta_min=cfg.eta_min)
    if teacher is not None and cfg.mixup_alpha > 0:
        raise SystemExit("distillation reads the unmixed crop: not with mixup")
    if cfg.class_balance and (teacher is not None or cfg.mixup_alpha > 0):
        raise SystemExit("class_balance weighs the plain cross-entropy: not with distillation or mixup")
    weights = class_weights(data, tr) if cfg.class_balance else None
    if cfg.mix_lengths and not cfg.bucket:
        raise SystemExit("mix_lengths moves clips between the length classes of bucket=1")
    if not 0.0 <= cfg.ns_short <= 1.0:
        raise SystemExit(f"ns_short is a probability, not {cfg.ns_short}")
    if cfg.ns_short and (not cfg.bucket or cfg.mix_lengths):
        raise SystemExit("ns_short moves non-speech between the length classes of bucket=1, without mix_lengths")
    nonspeech = np.array([data.corpus(it) == "nonspeech" for it in tr])
    long = np.array([data.features(it).shape[0] >= cfg.crop for it in tr])
    if cfg.bucket:
        buckets = [np.flatnonzero(long), np.flatnonzero(~long)]
    else:
        buckets = [np.arange(len(tr))]
    va_seqs = eval_seqs(data, va, prior, cfg.adapt_val_context)
    va_y = torch.tensor([data.label(it) for it in va])
    va_mask = torch.from_numpy(np.stack([data.mask(it) for it in va]))
    best, best_state, history = {"score": -1.0, "loss": math.inf, "epoch": -1}, None, []
    if cfg.checkpoint not in ("best", "last"):
        raise SystemExit(f"checkpoint is best or last, not {cfg.checkpoint!r}")
    average = {k: v.detach().clone() for k, v in model.state_dict().items()} if cfg.ema > 0 else None
    averaged = {k for k, _ in model.named_parameters()} | {k for k in model.state_dict() if ".running_" in k}
    t_start = time.time()
    steps_done, steps_total = 0, None
    for epoch in range(cfg.epochs):
        model.train()
        batches = []
        if cfg.mix_lengths:
            for c in length_classes(data, tr, long, cfg.mix_lengths, rng):
                batches += [c[k:k + cfg.batch_size] for k in range(0, len(c), cfg.batch_size)]
        else:
            for b in (nonspeech_to_short(long, nonspeech, cfg.ns_short, rng) if cfg.ns_short else buckets):
                perm = b[rng.permutation(len(b))]
                batches += [[tr[i] for i in perm[k:k + cfg.batch_size]] for k in range(0, len(perm), cfg.batch_size)]
        order = rng.permutation(len(batches)) if cfg.bucket else range(len(batches))
        if steps_total is None:
            steps_total = cfg.epochs * len(batches)
        tot = 0.0
        for step, bi in enumerate(order):
            sel = batches[bi]
            if len(sel) < 2:
                continue
            x, y, m = make_batch(data, sel, cfg.crop, rng, cfg, prior, speakers)
            clean = model.normalise(x)
            z = spec_augment(clean, cfg, rng)
            if cfg.mixup_alpha > 0:
                # mixup of normalised features within the batch (one length); each side's loss over its own
                # corpus's labels
                lam, other = float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha)), torch.from_numpy(rng.permutation(len(sel)))
                z = lam * z + (1.0 - lam) * z[other]
            if adversary is None and av_head is None:
                logits, _ = model.forward_normalised(z)
            else:
                context, _ = model.pooled(z)
                logits = model.classify(context)
            if weights is not None:
                w = torch.tensor([weights[corpus_label(data, it)] for it in sel])
                loss = (w * F.cross_entropy(masked_logits(logits, m), y, reduction="none",
                                            label_smoothing=cfg.label_smoothing)).mean()
            else:
                loss = F.cross_entropy(masked_logits(logits, m), y, label_smoothing=cfg.label_smoothing)
            if cfg.mixup_alpha > 0:
                loss = lam * loss + (1.0 - lam) * F.cross_entropy(masked_logits(logits, m[other]), y[other],
                                                                  label_smoothing=cfg.label_smoothing)
            if teacher is not None:
                # the adapted crop normalised by the student's prior is (x - m) / s, as the teacher's own
                # prior would give it (ensemble.py), so the teacher reads the same normalised frames
                with torch.no_grad():
                    target = torch.softmax(masked_logits(teacher.forward_normalised(clean)[0], m) / cfg.distill_t, 1)
                kd = F.kl_div(torch.log_softmax(masked_logits(logits, m) / cfg.distill_t, 1), target,
                              reduction="batchmean") * cfg.distill_t ** 2
                loss = (1.0 - cfg.distill_weight) * loss + cfg.distill_weight * kd
            if adversary is not None:
                speech = [k for k, it in enumerate(sel) if data.corpus(first(it)) != "nonspeech"]
                if speech:
                    p = steps_done / steps_total
                    weight = cfg.speaker_adv * (2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0)
                    who = torch.tensor([speaker_ids[data.speaker(first(sel[k]))] for k in speech])
                    loss = loss + F.cross_entropy(adversary(context[speech], weight), who)
            if av_head is not None:
                target = av_target[y]
                speech = target[:, 0] >= 0
                if speech.any():
                    loss = loss + cfg.av_weight * F.binary_cross_entropy_with_logits(av_head(context[speech]),
                                                                                    target[speech])
            steps_done += 1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step(epoch + (step + 1) / len(order))
            if average is not None:
                with torch.no_grad():
                    for k, v in model.state_dict().items():
                        if k in averaged:
                            average[k].mul_(cfg.ema).add_(v, alpha=1.0 - cfg.ema)
                        else:  # fixed buffers (normalisation, temperature) and counters stay exact
                            average[k].copy_(v)
            tot += float(loss.detach()) * len(sel)
        if average is not None:
            trained = copy.deepcopy(model.state_dict())
            model.load_state_dict(average)
        logits_va = torch.from_numpy(predict(model, va_seqs, logits_out=True))
        v_loss = float(F.cross_entropy(masked_logits(logits_va, va_mask), va_y))
        probs_va = torch.softmax(logits_va, 1).numpy()
        v = validation_score(data, va, probs_va)
        history.append({"epoch": epoch + 1, "train_loss": round(tot / len(tr), 5), "val_loss": round(v_loss, 5),
                        **{k: round(val, 5) for k, val in v.items()}, "speakers": speaker_uars(data, va, probs_va)})
        if v["score"] > best["score"] or (v["score"] == best["score"] and v_loss < best["loss"]):
            best = {"score": v["score"], "loss": v_loss, "epoch": epoch + 1, **v}
            if cfg.checkpoint == "best":
                best_state = copy.deepcopy(model.state_dict())
        if cfg.checkpoint == "last" and epoch + 1 == cfg.epochs:
            val_best_epoch = best["epoch"]
            best = {"score": v["score"], "loss": v_loss, "epoch": epoch + 1, **v}
            best_state = copy.deepcopy(model.state_dict())
        if average is not None:
            model.load_state_dict(trained)
        if (epoch + 1) % 10 == 0 or epoch == 0:
            print(f"  {desc} epoch {epoch + 1}: loss {tot / len(tr):.3f} val {json.dumps(history[-1])} "
                  f"({time.time() - t_start:.0f} s)", flush=True)
    model.load_state_dict(best_state)
    temperature = fit_temperature(model, data, va, va_seqs)
    state = copy.deepcopy(model.state_dict())
    record = {
        "seed": seed, "split": split, "config": asdict(cfg), "rate": data.rate, "conditions": data.conditions,
        "n_parameters": count_parameters(model), "labels": common.LABELS, "best": best,
        "val_best_epoch": val_best_epoch if cfg.checkpoint == "last" else best["epoch"],
        "temperature": temperature, "train_seconds": round(time.time() - t_start, 1), "history": history,
        "features_params": json.loads(data.params_json), "extractor_sha256": data.extractor_sha256,
        "n_train": len(tr), "n_val": len(va), "adaptation": prior.to_json() if prior is not None else None,
    }
    return record, state


def common_seed(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save_run(tag: str, name: str, record: dict, state: dict) -> Path:
    d = RUNS_DIR / tag
    d.mkdir(parents=True, exist_ok=True)
    torch.save(state, d / f"{name}.pt")
    (d / f"{name}.json").write_text(json.dumps(record, separators=(",", ":")))
    return d / f"{name}.json"


def load_run(tag: str, name: str) -> tuple[ResLSTMSA, dict]:
    d = RUNS_DIR / tag
    record = json.loads((d / f"{name}.json").read_text())
    cfg = record["config"]
    state = torch.load(d / f"{name}.pt", weights_only=True)
    fused = "head" in record  # functionals.attach: ResLSTM-SA and a functional head in one graph
    if "ensemble" in record:  # ensemble.py: several ResLSTM-SA runs of one recipe in one graph
        model = Ensemble([ResLSTMSA(state["feat_mean"].shape[0], cfg["hidden"], common.N_LABELS, cfg["dropout"],
                                    bool(cfg.get("stats_pool", 0))) for _ in record["ensemble"]["members"]])
    else:
        model = ResLSTMSA(state["lstm.feat_mean" if fused else "feat_mean"].shape[0], cfg["hidden"], common.N_LABELS,
                          cfg["dropout"], bool(cfg.get("stats_pool", 0)))
    if fused:
        model = Fused(model, common.NON_SPEECH)
    model.load_state_dict(state)
    model.eval()
    # the speaker adaptation the model was trained with (None: global normalisation only)
    model.adaptation = adapt.Prior.from_json(record["adaptation"]) if record.get("adaptation") else None
    return model, record


def run_and_save(data: Data, tag: str, name: str, split: dict, cfg: Config, seed: int, force: bool) -> dict:
    path = RUNS_DIR / tag / f"{name}.json"
    if path.exists() and (RUNS_DIR / tag / f"{name}.pt").exists() and not force:
        r = json.loads(path.read_text())
        if "ensemble" in r or "head" in r:
            raise SystemExit(f"{tag}/{name} is a composite run (ensemble.py, functionals.py), not this recipe's: "
                             "train under another --tag, or --force to replace it")
        # a key missing from an older record has its default (Config's), as the run had; except the keys
        # added with their feature, which runs before them did without
        before = {"pitch": 0, "remove_dc": 0, "score_music": 0, "impulses": 0, "alerts": 0}
        if (Config(**{**before, **r["config"]}) == cfg and r.get("seed") == seed and r.get("split") == split
                and r["conditions"] == data.conditions
                and r.get("extractor_sha256") == data.extractor_sha256 and r.get("features_params") == json.loads(data.params_json)):
            print(f"{tag}/{name}: cached")
            return r
    r, state = train_run(data, split, cfg, seed, desc=f"{tag}/{name}", teacher=teacher_of(cfg, name, split))
    save_run(tag, name, r, state)
    b = r["best"]
    print(f"{tag}/{name}: epoch {b['epoch']} val score {b['score']:.4f} "
          f"({', '.join(f'{k} {v:.3f}' for k, v in b.items() if k not in ('epoch', 'score', 'loss'))}) "
          f"T {r['temperature']:.2f} ({r['train_seconds']:.0f} s)", flush=True)
    return r


def tag_of(kind: str, rate: int) -> str:
    return f"{kind}{rate // 1000}k"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cmd", choices=("cv", "xcorpus", "final", "ablate"))
    ap.add_argument("--rate", type=int, choices=(16000, 8000), default=16000)
    ap.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--conditions", nargs="+", default=DEFAULT_CONDITIONS)
    ap.add_argument("--name", default="", help="ablation name; xcorpus and final: suffix of the run names "
                    "(e.g. -seed1 for a second seed)")
    ap.add_argument("--only", choices=("ravdess", "emodb"), help="xcorpus: train only the model of this corpus")
    ap.add_argument("--tag", help="cv, xcorpus, final: save the runs under this tag instead of <cmd><R>k (e.g. "
                    "students of the ensembles under <cmd><R>k, --set teacher=<cmd><R>k)")
    ap.add_argument("--val-to-train", type=int, choices=(0, 1), metavar="K",
                    help="ablate: train on the K-th validation speaker of each corpus too (judged on the other)")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    cfg = Config.load(args.set, args.rate)
    data = Data(args.rate, args.conditions, **cfg.front_end(), score_music=bool(cfg.score_music),
                impulses=bool(cfg.impulses), alerts=bool(cfg.alerts))
    print(f"config {json.dumps(asdict(cfg))}; conditions {data.conditions}; rate {args.rate}")
    if args.cmd == "cv":
        for f in args.folds:
            run_and_save(data, args.tag or tag_of("cv", args.rate), f"fold{f}_seed{args.seed}", common.cv_split(f), cfg,
                         args.seed, args.force)
    elif args.cmd == "ablate":
        if args.tag:
            raise SystemExit("ablate names its tag ablate<R>k-<name>")
        for f in args.folds:
            split = common.cv_split(f)
            for c in split.values():
                c["test"] = []  # validation only: the test speakers are never looked at
            if args.val_to_train is not None:
                split = common.move_val_to_train(split, args.val_to_train)
            run_and_save(data, f"ablate{args.rate // 1000}k-{args.name}", f"fold{f}_seed{args.seed}", split, cfg,
                         args.seed, args.force)
    elif args.cmd == "xcorpus":
        fin = common.final_split()
        for corpus in ("ravdess", "emodb"):
            if args.only in (None, corpus):
                run_and_save(data, args.tag or tag_of("xcorpus", args.rate), f"{corpus}-only{args.name}", {corpus: fin[corpus]},
                             cfg, args.seed, args.force)
    else:
        run_and_save(data, args.tag or tag_of("final", args.rate), f"final{args.name}", common.final_split(), cfg, args.seed,
                     args.force)


if __name__ == "__main__":
    main()
