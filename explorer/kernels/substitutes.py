"""Substitute kernels: feature maps that do not estimate softmax (labelled so everywhere).

Performer-ReLU's generalized attention (random, relu(Wx)/√m) and elu(x) + 1 (Katharopoulos et
al. 2020, deterministic linear attention).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Pair = tuple[torch.Tensor, torch.Tensor]


def relu_features(x, y, w, *, stabilize: bool = True) -> Pair:
    """Performer-ReLU generalized attention: relu(Wx)/√m (a substitute kernel)."""
    norm = 1.0 / math.sqrt(w.shape[0])
    return F.relu(x @ w.T) * norm, F.relu(y @ w.T) * norm


def elu_plus_one_features(x, y, w, *, stabilize: bool = True) -> Pair:
    """elu(x) + 1 (Katharopoulos et al. 2020): deterministic linear attention, no W."""
    return F.elu(x) + 1.0, F.elu(y) + 1.0
