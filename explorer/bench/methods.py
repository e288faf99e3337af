"""The benchmarked attention implementations on one shared input: one read-only registry.

Methods (all map q, k, v (b, h, l, d) to (b, h, l, e) on the same device and dtype):
  sdpa               torch.nn.functional.scaled_dot_product_attention (exact, never L×L on CPU)
  naive              softmax(QKᵀ/√d + mask)V with the whole L×L matrix (exact)
  favor              our FAVOR+, ``explorer.attention.favor.favor_attention`` (Performer Lemma 1)
  performer_pytorch  lucidrains' ``FastAttention`` given our W (its eps = 1e-4 aside, the same
                     estimator); optional, from requirements-bench.txt
  roofline           only the matrix products favor does, same shapes and blocks, no exp,
                     no reductions, no copies: the time favor cannot beat (returns no output)
  compare            the explorer's own comparison, ``explorer.compare`` without display maps
                     (φ, linear attention, and one fused pass for the exact output and every
                     error metric); returns its exact output, so vs_sdpa shows it is exact
  compare_sampled    the same with the attention-matrix metrics on ``SAMPLED_ROWS`` query rows
                     per head (``row_sample``; output errors still over every row)
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch
import torch.nn.functional as F

from explorer.attention.favor import favor_attention, favor_chunk
from explorer.bench.spec import BenchSpec
from explorer.experiments.compare import ExperimentConfig, compare
from explorer.inputs.attention_inputs import AttentionInputs

SAMPLED_ROWS = 1024  # query rows per head of compare_sampled
Call = Callable[[], torch.Tensor | None]


class Unavailable(Exception):
    """A method that cannot run here (not installed, too big): the row keeps the reason."""


def naive_attention(q, k, v, *, causal: bool) -> torch.Tensor:
    """softmax(QKᵀ/√d + mask)V with the whole (…, l, l) score matrix in memory."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))  # (b, h, l, l)
    if causal:
        hidden = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).triu(1)
        scores.masked_fill_(hidden, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def performer_attention(q, w, *, causal: bool) -> Callable[..., torch.Tensor]:
    """performer-pytorch's FastAttention with its projection replaced by our W."""
    try:
        from performer_pytorch import FastAttention
    except Exception as error:  # ImportError, or a broken optional dependency
        raise Unavailable(f"performer-pytorch not installed ({type(error).__name__})") from None
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a note about its CUDA kernel
        module = FastAttention(q.shape[-1], nb_features=w.shape[0], causal=causal)
    module.to(device=q.device, dtype=w.dtype)
    module.projection_matrix.copy_(w)
    return module


def favor_products(q, k, v, w, *, causal: bool) -> Callable[[], None]:
    """The roofline: favor's matrix products (same shapes, blocks, out= buffers), nothing else."""
    b, h, l, d = q.shape
    n, s, e, m, dtype = b * h, k.shape[-2], v.shape[-1], w.shape[0], w.dtype
    c = min(favor_chunk(q.device, causal), max(l, s))
    x = q.reshape(n, l, d).to(dtype)
    y1 = torch.cat([k, k.norm(dim=-1, keepdim=True)], -1).reshape(n, s, d + 1).to(dtype)
    v1 = torch.cat([v, torch.ones_like(v[..., :1])], -1).reshape(n, s, e + 1).to(dtype)
    w_q, w_k = w.T.contiguous(), torch.cat([w.T, w.T[:1]]).contiguous()  # (d, m), (d + 1, m)
    flat = torch.empty(4, n * c * max(m, c, e + 1), dtype=dtype, device=q.device)
    state = torch.zeros(n, m, e + 1, dtype=dtype, device=q.device)

    def front(i: int, *shape: int) -> torch.Tensor:  # contiguous, like favor's reused buffers
        return flat[i, : math.prod(shape)].view(shape)

    def run() -> None:
        for a in range(0, 0 if causal else s, c):
            r = min(s, a + c) - a
            fk = torch.matmul(y1[:, a : a + r], w_k, out=front(0, n, r, m))
            state.baddbmm_(fk.transpose(-2, -1), v1[:, a : a + r])
        for a in range(0, l, c):
            r = min(l, a + c) - a
            fq = torch.matmul(x[:, a : a + r], w_q, out=front(1, n, r, m))
            both = torch.bmm(fq, state, out=front(2, n, r, e + 1))
            if causal:
                fk = torch.matmul(y1[:, a : a + r], w_k, out=front(0, n, r, m))
                within = torch.bmm(fq, fk.transpose(-2, -1), out=front(3, n, r, r))
                both.baddbmm_(within, v1[:, a : a + r])
                state.baddbmm_(fk.transpose(-2, -1), v1[:, a : a + r])

    return run


def explorer_compare(
    spec: BenchSpec, q, k, v, *, row_sample: int | None = None
) -> Callable[[], torch.Tensor]:
    """``compare`` on q, k, v (b, h, l, d) as (b·h)-head inputs, its W drawn from spec.seed."""

    def heads(t: torch.Tensor) -> np.ndarray:
        return t.reshape(-1, *t.shape[-2:]).cpu().numpy()  # (b·h, l, d)

    inputs = AttentionInputs(heads(q.float()), heads(k.float()), heads(v.float()), name="bench")
    config = ExperimentConfig(
        num_features=spec.num_features,
        seed=spec.seed,
        causal=spec.causal,
        device=str(q.device),
        dtype=spec.dtype,
        row_sample=row_sample,
    )

    def call() -> torch.Tensor:
        exact = compare(config, inputs, with_maps=False).exact_output  # (b·h, l, e)
        return torch.from_numpy(exact).reshape(v.shape).to(v.device)  # (b, h, l, e)

    return call


def _sdpa(spec: BenchSpec, q, k, v, w) -> Call:
    return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=spec.causal)


def _naive(spec: BenchSpec, q, k, v, w) -> Call:
    need = 2 * q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] * q.element_size()
    if need > spec.naive_max_bytes:
        raise Unavailable(f"skipped: the L×L matrices need {need / 2**30:.1f} GiB")
    return lambda: naive_attention(q, k, v, causal=spec.causal)


def _favor(spec: BenchSpec, q, k, v, w) -> Call:
    return lambda: favor_attention(q, k, v, w, causal=spec.causal).output


def _performer(spec: BenchSpec, q, k, v, w) -> Call:
    module = performer_attention(q, w, causal=spec.causal)

    def call() -> torch.Tensor:
        with torch.no_grad():
            return module(q, k, v)

    return call


@dataclass(frozen=True, kw_only=True)
class BenchMethod:
    """One registry entry: how to build a zero-argument call on the shared inputs."""

    name: str
    label: str
    exact: bool  # computes softmax attention exactly (vs_sdpa ≈ rounding)
    build: Callable[..., Call]  # (spec, q, k, v, w) → call; may raise Unavailable


METHODS: MappingProxyType[str, BenchMethod] = MappingProxyType(
    {
        "sdpa": BenchMethod(name="sdpa", label="torch SDPA", exact=True, build=_sdpa),
        "naive": BenchMethod(name="naive", label="naive L×L", exact=True, build=_naive),
        "favor": BenchMethod(name="favor", label="our FAVOR+", exact=False, build=_favor),
        "performer_pytorch": BenchMethod(
            name="performer_pytorch", label="performer-pytorch", exact=False, build=_performer
        ),
        "roofline": BenchMethod(
            name="roofline",
            label="FAVOR+ products only",
            exact=False,
            build=lambda spec, q, k, v, w: favor_products(q, k, v, w, causal=spec.causal),
        ),
        "compare": BenchMethod(
            name="compare",
            label="explorer compare",
            exact=True,
            build=lambda spec, q, k, v, w: explorer_compare(spec, q, k, v),
        ),
        "compare_sampled": BenchMethod(
            name="compare_sampled",
            label=f"compare, {SAMPLED_ROWS} sampled rows",
            exact=True,
            build=lambda spec, q, k, v, w: explorer_compare(spec, q, k, v, row_sample=SAMPLED_ROWS),
        ),
    }
)


def make_method(name: str, spec: BenchSpec, q, k, v, w) -> Call:
    """A zero-argument call of one method on the given inputs (Unavailable if it cannot run)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: use one of {', '.join(METHODS)}")
    return METHODS[name].build(spec, q, k, v, w)
