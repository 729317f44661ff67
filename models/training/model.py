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
"""
from __future__ import annotations

import torch
import torch.nn as nn


class ResLSTMSA(nn.Module):
    def __init__(self, n_features: int = 48, hidden: int = 64, n_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        self.n_features, self.hidden, self.n_classes = n_features, hidden, n_classes
        self.register_buffer("feat_mean", torch.zeros(n_features))
        self.register_buffer("feat_std", torch.ones(n_features))
        self.register_buffer("temperature", torch.ones(()))
        self.lstm1 = nn.LSTM(n_features, n_features, batch_first=True)
        self.bn1 = nn.BatchNorm1d(n_features)
        self.lstm2 = nn.LSTM(n_features, hidden, batch_first=True)
        self.att_u = nn.Parameter(torch.empty(hidden))
        self.bn2 = nn.BatchNorm1d(hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, n_classes)
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

    def forward_normalised(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B,n_labels) and attention (B,T) of already-normalised features."""
        h1, _ = self.lstm1(z)
        r = h1 + z
        r = self.bn1(r.transpose(1, 2)).transpose(1, 2)
        h2, _ = self.lstm2(r)
        scores = torch.matmul(h2, self.att_u)  # (B,T)
        alpha = torch.softmax(scores, dim=1)
        context = torch.sum(alpha.unsqueeze(-1) * h2, dim=1)
        logits = self.fc(self.dropout(self.bn2(context))) / self.temperature
        return logits, alpha

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B,n_labels) and attention (B,T) of raw extractor features (B,T,F)."""
        return self.forward_normalised(self.normalise(x))


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
