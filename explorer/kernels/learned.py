"""A feature map fitted to the head (Hedgehog-style): φ(x) = [softmax(Ax + b), softmax(−Ax − b)].

Zhang et al., ICLR 2024, "The Hedgehog & the Porcupine": a small trainable map whose linear
attention φ(x_i)·φ(y_j)/Σ_j' φ(x_i)·φ(y_j') is trained to match the head's softmax attention
P_ij = exp(x_i·y_j)/Σ_j' exp(x_i·y_j') by minimising the cross-entropy −Σ_j P_ij log P̂_ij (here
its equal-minimiser KL(P_i ‖ P̂_i), averaged over the fitting rows). A ∈ ℝ^{m×d} and b ∈ ℝ^m per
query head, 2m positive features (each half sums to 1). A deterministic substitute fitted to
the data, not an estimator: it approximates the attention of these queries and keys, nothing
more, and it says so with the rows it was not fitted on.

Fitting: the **even** query rows 0, 2, 4, … (at most ``FIT_ROWS``, evenly spaced among them)
against every key, unmasked and uncapped (the kernel exp(x·y) up to a per-query factor, which
holds for every mask); ``held_out_rows`` (the odd rows 1, 3, 5, …) are the rows every metric of
a fitted map covers. A₀ = W/√d from the seed's projection W (the ``features`` stream, so the
usual seeds and nested draws apply), b₀ = 0; ``FIT_STEPS`` full-batch Adam steps at
``LEARNING_RATE``, in float64 on the CPU whatever the device (the same numbers everywhere), then
φ is computed in the caller's dtype on its device. Heads are independent tensor slices of one
optimisation (Adam is element-wise, the loss a sum over heads).
Shapes: x (..., l, d), y (..., s, d), W (m, d) → A (..., m, d), φ(x) (..., l, 2m), φ(y) (..., s, 2m)
with ... the query heads (under grouped heads each query head fits its own keys' features).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from explorer.errors import ExplorerError

FIT_STEPS = 200  # full-batch Adam steps
LEARNING_RATE = 0.05  # Adam's step size on A and b
FIT_ROWS = 256  # at most this many (even) query rows are fitted on
Pair = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class FitReport:
    """How a fitted map was trained and how well, on the fitting and the held-out rows."""

    steps: int
    seconds: float  # wall clock of the fit (CPU, float64)
    feature_dim: int  # 2m
    fit_rows: int  # query rows fitted on, per head
    held_out_rows: int  # query rows the metrics cover, per head
    held_out_scored: int  # of them, the rows behind held_out_loss (≤ FIT_ROWS, evenly spaced)
    # the objective: mean KL(P ‖ P̂) of the unmasked softmax over every key, before and after
    fit_loss: tuple[float, float]  # on the fitting rows
    held_out_loss: tuple[float, float]  # on held_out_scored rows (masked metrics: ErrorMetrics)

    @property
    def rows_note(self) -> str:
        return (
            f"fitted on {self.fit_rows} even query rows, evaluated on the {self.held_out_rows} "
            "held-out odd rows"
        )

    @property
    def summary(self) -> str:
        return (
            f"learned map: {self.steps} Adam steps in {self.seconds:.2f} s, "
            f"{self.feature_dim} features; {self.rows_note}; held-out KL "
            f"{self.held_out_loss[0]:.3g} → {self.held_out_loss[1]:.3g}"
        )


def _spaced(rows: torch.Tensor) -> torch.Tensor:
    """At most ``FIT_ROWS`` of the sorted ``rows``, evenly spaced (all of them if fewer)."""
    if len(rows) <= FIT_ROWS:
        return rows
    picks = torch.linspace(0, len(rows) - 1, FIT_ROWS).round().long()  # (FIT_ROWS,)
    return rows[picks]


def fit_rows(num_rows: int) -> torch.Tensor:
    """The sorted query rows a map is fitted on: even rows, at most ``FIT_ROWS`` evenly spaced."""
    return _spaced(torch.arange(0, num_rows, 2))  # of the ⌈l/2⌉ even rows


def fit_bytes(heads: int, num_rows: int, key_len: int) -> int:
    """Memory of one fit at once: ~6 float64 (heads, rows, s) tensors (P, K, their grads)."""
    return 6 * 8 * heads * min(-(-num_rows // 2), FIT_ROWS) * key_len


def held_out_rows(num_rows: int) -> torch.Tensor:
    """The query rows the metrics of a fitted map cover: the odd rows 1, 3, 5, … (sorted)."""
    if num_rows < 2:
        raise ExplorerError(
            "a learned feature map needs at least 2 query rows: it is fitted on the even rows "
            f"and evaluated on the odd ones, and this input has {num_rows}"
        )
    return torch.arange(1, num_rows, 2)


def fit_work(heads: int, num_rows: int, key_len: int, num_features: int, head_dim: int) -> int:
    """Multiply-adds of one fit: steps × heads × rows × (s·2m + (rows + s)·m·d), forward and
    backward (×3)."""
    rows = min(-(-num_rows // 2), FIT_ROWS)
    per_step = rows * key_len * 2 * num_features + (rows + key_len) * num_features * head_dim
    return 3 * FIT_STEPS * heads * per_step


def _phi(t: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[softmax(At + b), softmax(−At − b)] over the features. Shapes: (..., n, d) → (..., n, 2m)."""
    z = t @ a.transpose(-2, -1) + b  # (..., n, m)
    return torch.cat([torch.softmax(z, dim=-1), torch.softmax(-z, dim=-1)], dim=-1)


def _kl(x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over heads and rows of KL(P_i ‖ P̂_i) for queries x (..., r, d), keys y (..., s, d)."""
    log_p = torch.log_softmax(x @ y.transpose(-2, -1), dim=-1)  # (..., r, s)
    k = _phi(x, a, b) @ _phi(y, a, b).transpose(-2, -1)  # (..., r, s), entries > 0
    log_q = k.log() - k.sum(-1, keepdim=True).log()
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def fit_map(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> tuple[Pair, FitReport]:
    """Fit A, b per query head to the attention of x on y; (φ(x), φ(y)) and the fit's report."""
    start = time.perf_counter()
    num_rows, (m, d) = x.shape[-2], w.shape
    held = held_out_rows(num_rows)
    rows = fit_rows(num_rows)
    scored = _spaced(held)  # the held-out loss on ≤ FIT_ROWS of them: (heads, rows, s) bounded
    with torch.inference_mode(False), torch.enable_grad():
        x64 = x.detach().to("cpu", torch.float64).clone()  # (..., l, d): never an inference tensor
        y64 = y.detach().to("cpu", torch.float64).clone()  # (..., s, d)
        batch = torch.broadcast_shapes(x64.shape[:-2], y64.shape[:-2])
        a = (w.detach().to("cpu", torch.float64) / math.sqrt(d)).expand(*batch, m, d).clone()
        b = torch.zeros(*batch, 1, m, dtype=torch.float64)
        a.requires_grad_(True)
        b.requires_grad_(True)
        x_fit, x_held = x64[..., rows, :], x64[..., scored, :]
        with torch.no_grad():
            before = float(_kl(x_fit, y64, a, b)), float(_kl(x_held, y64, a, b))
        optimiser = torch.optim.Adam([a, b], lr=LEARNING_RATE)
        for _ in range(FIT_STEPS):
            optimiser.zero_grad(set_to_none=True)
            loss = _kl(x_fit, y64, a, b) * math.prod(batch)  # a sum over heads: independent fits
            loss.backward()
            optimiser.step()
        a, b = a.detach(), b.detach()
        after = float(_kl(x_fit, y64, a, b)), float(_kl(x_held, y64, a, b))
    seconds = time.perf_counter() - start
    a, b = a.to(x.device, x.dtype), b.to(x.device, x.dtype)
    report = FitReport(
        steps=FIT_STEPS,
        seconds=seconds,
        feature_dim=2 * m,
        fit_rows=len(rows),
        held_out_rows=len(held),
        held_out_scored=len(scored),
        fit_loss=(before[0], after[0]),
        held_out_loss=(before[1], after[1]),
    )
    return (_phi(x, a, b), _phi(y, a, b)), report
