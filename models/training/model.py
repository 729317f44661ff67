# SPDX-License-Identifier: MPL-2.0
"""ResLSTM-SA: residual LSTM with soft attention (F = 48 features, hidden 64, 10 labels -> 48,938 parameters;
46,902 with the 46 features of the models before pitch).

    x (B,T,F) --normalise (training-actor mean/std, buffers)--> z
    LSTM1(F->F)(z) + z  --BatchNorm1d(F)-->  LSTM2(F->H)  -> h_t
    alpha_t = softmax_t(u^T h_t),  c = sum_t alpha_t h_t
    c --BatchNorm1d(H)--> dropout --> Linear(H->n_labels) --> / temperature -> logits

The temperature (a buffer, 1 during training) is fitted after training on the
validation speakers (NLL minimisation, "temperature scaling"; train.py on whole
clips, then evaluate.py on the element's windows) so that the probabilities
are calibrated; it does not change any argmax.

The feature normalisation lives inside the module (and therefore inside the
exported ONNX graph), so the element feeds raw extractor features.

The shipped models are an `Ensemble`: two seeds of ResLSTM-SA in one graph, the mean of their
probabilities. Options and a second member, measured and not shipped (MODEL_CARD.md): `stats_pool`
(the attention-weighted standard deviation of h_t joins c; 49,706 parameters), and
`Fused` (ResLSTM-SA with a linear `FunctionalHead` on statistics of the window).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


class ResLSTMSA(nn.Module):
    def __init__(self, n_features: int = 48, hidden: int = 64, n_classes: int = 10, dropout: float = 0.3,
                 stats_pool: bool = False):
        super().__init__()
        self.n_features, self.hidden, self.n_classes = n_features, hidden, n_classes
        # attentive statistics pooling: the attention-weighted standard deviation of h_t joins the
        # weighted mean (c), so the classifier also sees how much the sequence varies
        self.stats_pool = stats_pool
        pooled = 2 * hidden if stats_pool else hidden
        self.register_buffer("feat_mean", torch.zeros(n_features))
        self.register_buffer("feat_std", torch.ones(n_features))
        self.register_buffer("temperature", torch.ones(()))
        self.lstm1 = nn.LSTM(n_features, n_features, batch_first=True)
        self.bn1 = nn.BatchNorm1d(n_features)
        self.lstm2 = nn.LSTM(n_features, hidden, batch_first=True)
        self.att_u = nn.Parameter(torch.empty(hidden))
        self.bn2 = nn.BatchNorm1d(pooled)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(pooled, n_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lstm in (self.lstm1, self.lstm2):
            h = lstm.hidden_size
            for gate in range(4):  # PyTorch gate order: input, forget, cell, output
                rows = slice(gate * h, (gate + 1) * h)
                nn.init.xavier_normal_(lstm.weight_ih_l0.data[rows])
                nn.init.orthogonal_(lstm.weight_hh_l0.data[rows])
            nn.init.zeros_(lstm.bias_ih_l0)
            nn.init.zeros_(lstm.bias_hh_l0)
            lstm.bias_ih_l0.data[h : 2 * h] = 1.0  # forget-gate bias 1 (sum of both biases)
        nn.init.normal_(self.att_u, std=self.hidden**-0.5)
        nn.init.xavier_normal_(self.fc.weight)
        nn.init.zeros_(self.fc.bias)

    def set_normalisation(self, mean, std, floor: float = 1e-5) -> None:
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32).clamp_min(floor)
        self.feat_mean.copy_(mean)
        self.feat_std.copy_(std)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.feat_mean) / self.feat_std

    def pooled(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention-pooled vector (B, pooled) and the attention (B,T) of already-normalised features."""
        h1, _ = self.lstm1(z)
        r = h1 + z
        r = self.bn1(r.transpose(1, 2)).transpose(1, 2)
        h2, _ = self.lstm2(r)
        scores = torch.matmul(h2, self.att_u)  # (B,T)
        alpha = torch.softmax(scores, dim=1)
        context = torch.sum(alpha.unsqueeze(-1) * h2, dim=1)
        if self.stats_pool:
            var = torch.sum(alpha.unsqueeze(-1) * h2 * h2, dim=1) - context * context
            context = torch.cat([context, torch.sqrt(var.clamp_min(1e-5))], dim=1)
        return context, alpha

    def classify(self, context: torch.Tensor) -> torch.Tensor:
        """Logits (B,n_labels) of pooled vectors."""
        return self.fc(self.dropout(self.bn2(context))) / self.temperature

    def forward_normalised(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B,n_labels) and attention (B,T) of already-normalised features."""
        context, alpha = self.pooled(z)
        return self.classify(context), alpha

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B,n_labels) and attention (B,T) of raw extractor features (B,T,F)."""
        return self.forward_normalised(self.normalise(x))


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None


class SpeakerAdversary(nn.Module):
    """Names the speaker of a pooled vector; its gradient reaches the network reversed and scaled
    (Ganin & Lempitsky 2015), so the network learns to leave the speaker unnamed. Training only:
    not part of any exported model."""

    def __init__(self, pooled: int, n_speakers: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(pooled, hidden), nn.ReLU(), nn.Linear(hidden, n_speakers))

    def forward(self, context: torch.Tensor, weight: float) -> torch.Tensor:
        return self.net(_ReverseGradient.apply(context, weight))


FUNCTIONALS = 5  # per feature: mean, std, 10th and 90th percentile, mean absolute frame-to-frame change


def functionals(z: torch.Tensor) -> torch.Tensor:
    """(B, 5F) statistics over time of z (B,T,F), as numpy computes them (np.std, np.percentile's linear
    interpolation); the mean absolute change is 0 for a single frame. Only tensor ops on the sequence's
    own shape, so the exported graph takes any T."""
    t = torch.ones_like(z[0, :, 0]).sum()  # T as a tensor: traced, not a constant
    mean = z.mean(dim=1)
    std = torch.sqrt(((z - mean.unsqueeze(1)) ** 2).mean(dim=1))
    ordered = torch.sort(z, dim=1).values
    pct = []
    for q in (0.1, 0.9):
        pos = (t - 1.0) * q
        lo = torch.floor(pos)
        hi = torch.minimum(lo + 1.0, t - 1.0)
        frac = pos - lo
        a = torch.index_select(ordered, 1, lo.long().reshape(1)).squeeze(1)
        b = torch.index_select(ordered, 1, hi.long().reshape(1)).squeeze(1)
        pct.append(a + (b - a) * frac)
    change = (z[:, 1:] - z[:, :-1]).abs().sum(dim=1) / torch.clamp(t - 1.0, min=1.0)
    return torch.cat([mean, std, pct[0], pct[1], change], dim=1)


class FunctionalHead(nn.Module):
    """A linear model on utterance functionals of the normalised features (functionals.py fits it with
    scikit-learn; its weights are buffers): log-probabilities over the emotions it was fitted on, a large
    negative value for the other outputs (non-speech among them)."""

    def __init__(self, n_features: int, n_classes: int):
        super().__init__()
        d = FUNCTIONALS * n_features
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))
        self.register_buffer("weight", torch.zeros(n_classes, d))
        self.register_buffer("bias", torch.full((n_classes,), -1e4))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = (functionals(z) - self.mean) / self.scale
        return torch.log_softmax(x @ self.weight.T + self.bias, dim=1)


class Fused(nn.Module):
    """Two members in one graph: ResLSTM-SA and a FunctionalHead on the same normalised window. A window
    ResLSTM-SA calls non-speech keeps ResLSTM-SA's probabilities, so it stays gated; otherwise the
    non-speech probability is ResLSTM-SA's and the emotions share the rest by the normalised geometric mean
    of both members' emotion probabilities (equal weights). Fusion can thus only add gating: where the
    members disagree the best fused emotion can fall below non-speech (rarely: a few windows in
    thousands). `temperature` (a buffer) then scales the fused log-probabilities (so at a temperature
    other than 1 the non-speech probability is no longer ResLSTM-SA's, its argmax is); the member keeps
    its own. Same interface as ResLSTMSA."""

    def __init__(self, lstm: ResLSTMSA, non_speech: int):
        super().__init__()
        self.lstm, self.head = lstm, FunctionalHead(lstm.n_features, lstm.n_classes)
        self.n_features, self.n_classes, self.non_speech = lstm.n_features, lstm.n_classes, non_speech
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("emotion", torch.arange(lstm.n_classes) != non_speech)

    @property
    def hidden(self):
        return self.lstm.hidden

    @property
    def feat_mean(self):
        return self.lstm.feat_mean

    @property
    def feat_std(self):
        return self.lstm.feat_std

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm.normalise(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.normalise(x)
        logits, alpha = self.lstm.forward_normalised(z)
        lp = torch.log_softmax(logits, dim=1)
        mixed = torch.where(self.emotion, 0.5 * lp + 0.5 * self.head(z), torch.full_like(lp, -1e4))
        emotions = torch.log_softmax(mixed, dim=1) + torch.logsumexp(
            torch.where(self.emotion, lp, torch.full_like(lp, -1e4)), dim=1, keepdim=True)
        out = torch.where(self.emotion, emotions, lp)
        # a window ResLSTM-SA calls non-speech keeps its output, so it stays gated whatever the head says
        gated = torch.argmax(lp, dim=1, keepdim=True) == self.non_speech
        return torch.where(gated, lp, out) / self.temperature, alpha


class Ensemble(nn.Module):
    """Members of one recipe (e.g. two seeds of a fold's ResLSTM-SA) in one graph, same interface as ResLSTMSA.
    The window is normalised once, by the ensemble's own feat_mean/feat_std, and every member's
    forward_normalised sees it (the element feeds one adapted stream, so the members share one adaptation
    prior: the runs store the pooled statistics of the members' normalisation frames, see ensemble.py). Each
    member keeps its own temperature; the output is the mean of the members' probabilities over all labels
    (non-speech included, so a window is gated when the mean's argmax is non-speech), as log-probabilities
    divided by the ensemble's `temperature` (fitted by ensemble.py on whole validation clips, then refitted on
    validation windows by evaluate.py). The attention is the members' mean."""

    def __init__(self, members: list[ResLSTMSA]):
        super().__init__()
        first = members[0]
        if any((m.n_features, m.n_classes) != (first.n_features, first.n_classes) for m in members):
            raise ValueError("ensemble members differ in their inputs or labels")
        self.members = nn.ModuleList(members)
        self.n_features, self.n_classes = first.n_features, first.n_classes
        self.register_buffer("feat_mean", first.feat_mean.clone())
        self.register_buffer("feat_std", first.feat_std.clone())
        self.register_buffer("temperature", torch.ones(()))

    @property
    def hidden(self):
        return self.members[0].hidden

    set_normalisation = ResLSTMSA.set_normalisation
    normalise = ResLSTMSA.normalise

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_normalised(self.normalise(x))

    def forward_normalised(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities (B,n_labels), scaled by the temperature, and attention of normalised features."""
        lps, alphas = [], []
        for m in self.members:
            logits, alpha = m.forward_normalised(z)
            lps.append(torch.log_softmax(logits, dim=1))
            alphas.append(alpha)
        mean = torch.logsumexp(torch.stack(lps), dim=0) - math.log(len(self.members))  # log of the mean probability
        return mean / self.temperature, torch.stack(alphas).mean(dim=0)


class ExportWrapper(nn.Module):
    """ONNX interface: features (B,T,F) -> probabilities (B,n_labels), attention (B,T)."""

    def __init__(self, model: ResLSTMSA):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor):
        logits, attention = self.model(features)
        return torch.softmax(logits, dim=1), attention


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


if __name__ == "__main__":
    m = ResLSTMSA()
    print(f"ResLSTM-SA h{m.hidden}: {count_parameters(m)} parameters")
