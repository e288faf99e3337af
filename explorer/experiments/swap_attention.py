"""Attention replacements for a model's layers: exact, uniform, or linear with a feature map.

Each replacement takes one ``hf_attention.AttentionCall`` and returns the layer's output
(b, l, h, e), computed by the explorer's own code, never the model's:

* ``exact``: Y = softmax(Q Kᵀ·scale + mask) V by ``attention.exact.softmax_attention``
  (causal, sliding window, soft-cap as the call says), the control that must equal the model;
* ``uniform``: y_i = mean of the v_j that query i may see (the baseline every error is set
  against: attention that has learnt nothing);
* a feature map: Ŷ = D⁻¹ φ(Q)(φ(K)ᵀ V) by ``attention.linear.linear_attention`` with
  x = q·√scale, y = k·√scale (the model's own ``scaling``), causal prefix sums where the model
  is causal, the lagged prefix of a sliding window. One W (m, d) per layer, shared by its heads
  (as Performer does); it comes from ``layer_stream(seed, layer)``.

Grouped-query heads broadcast without copies: q (b, h_kv, g, l, d) against k, v
(b, h_kv, 1, s, ·), query head i using key head i // g (transformers' ``repeat_kv``). Padding:
the mask's visible keys must be one contiguous run per sequence (right or left padding); each
sequence is computed on its run alone, and padded query rows get zeros (no measure reads them).
Unsupported, with a clear error: soft-capped logits c·tanh(t/c) under a feature map (no random
features estimate that kernel); in causal layers, maps fitted to all of a head's tokens (oprf:
A* from the mean |x_i + y_j|² would let each position see the later ones); a key/value cache
(l ≠ s); masks other than causal/window plus padding. The stabilisers of the exponential maps
(a per-feature maximum over all keys) cancel exactly in D⁻¹φ(Q)(φ(K)ᵀV), so they leak nothing.
Everything is computed in float64 and cast back by the dispatcher.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch

from explorer.attention.exact import softmax_attention
from explorer.attention.linear import linear_attention
from explorer.errors import ExplorerError
from explorer.inputs.hf_attention import AttentionCall, allowed, padding
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import get_projection
from explorer.streams import Stream, stream

WORK = torch.float64
LAYER_BRANCH = 2**31  # stream path (LAYER_BRANCH, layer): never a block index of a plain draw
Kernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, AttentionCall], torch.Tensor]


class SwapError(ExplorerError):
    """A layer whose attention the chosen replacement cannot compute: one line with why."""


def layer_stream(seed: int, layer: int) -> Stream:
    """The features stream of one layer: ``stream("features", seed, LAYER_BRANCH, layer)``.

    Distinct layers get independent W from one seed; W's blocks then come from its children
    (``Projection.draw``), so the path never equals that of a draw outside a model.
    """
    return stream("features", seed, LAYER_BRANCH, layer)


def _runs(call: AttentionCall) -> list[tuple[int, int]]:
    """Per sequence, the run [a, c) of keys its mask lets any query see (all keys: no mask)."""
    b, s = call.query.shape[0], call.key.shape[-2]
    if call.query.shape[-2] != s:
        raise SwapError(
            f"layer {call.layer}: {call.query.shape[-2]} queries against {s} keys (a key/value "
            "cache) is not supported: run the whole text in one forward pass"
        )
    mask = padding(call)
    if mask is None:
        return [(0, s)] * b
    mask = mask.expand(b, -1, -1, -1)
    seen = mask.any(dim=(1, 2))  # (b, s)
    runs = []
    for row, keys in enumerate(seen):
        index = keys.nonzero().squeeze(-1)
        if index.numel() == 0:
            raise SwapError(f"layer {call.layer}: sequence {row} sees no key at all")
        a, c = int(index[0]), int(index[-1]) + 1
        if index.numel() != c - a:
            raise SwapError(f"layer {call.layer}: the padding mask is not one run of keys")
        run = replace(call, query=call.query[:1, :, a:c], key=call.key[:1, :, a:c])
        expected = allowed(run)  # (n, n): causal and window alone
        if not bool((mask[row][:, a:c, a:c] == expected).all()):
            raise SwapError(
                f"layer {call.layer}: the model's mask is not causal/window plus padding "
                "(unsupported mask)"
            )
        runs.append((a, c))
    return runs


def _grouped(call: AttentionCall, kernel: Kernel) -> torch.Tensor:
    """``kernel(q, k, v, call)`` on grouped heads, run by run. Shapes: → (b, l, h, e)."""
    q, k, v = (t.to(WORK) for t in (call.query, call.key, call.value))
    b, h, l, d = q.shape
    h_kv, e = k.shape[1], v.shape[-1]
    if h % h_kv:
        raise SwapError(f"layer {call.layer}: {h} query heads do not group over {h_kv} key heads")
    q = q.reshape(b, h_kv, h // h_kv, l, d)  # (b, h_kv, g, l, d)
    k, v = k.unsqueeze(2), v.unsqueeze(2)  # (b, h_kv, 1, s, ·)
    runs = _runs(call)
    if all(run == (0, l) for run in runs):
        out = kernel(q, k, v, call)  # (b, h_kv, g, l, e)
    else:
        out = q.new_zeros(b, h_kv, h // h_kv, l, e)
        for row, (a, c) in enumerate(runs):
            part = kernel(q[row : row + 1, ..., a:c, :], k[row : row + 1, ..., a:c, :],
                          v[row : row + 1, ..., a:c, :], call)  # fmt: skip
            out[row : row + 1, ..., a:c, :] = part
    return out.reshape(b, h, l, e).transpose(1, 2)  # (b, l, h, e)


def _exact(q, k, v, call: AttentionCall) -> torch.Tensor:
    return softmax_attention(
        q, k, v, causal=call.causal, scale=call.scaling, window=call.window, cap=call.softcap
    )


def _uniform(q, k, v, call: AttentionCall) -> torch.Tensor:
    """y_i = Σ_{j visible} v_j / count_i by prefix sums: C(t) = Σ_{j<t} v_j. (…, l, e)."""
    s = v.shape[-2]
    if not call.causal:
        return v.mean(dim=-2, keepdim=True).expand(*q.shape[:-1], v.shape[-1])
    prefix = torch.cat([torch.zeros_like(v[..., :1, :]), v.cumsum(dim=-2)], dim=-2)  # (…, s+1, e)
    stop = torch.arange(1, s + 1)  # query i sees keys < i + 1 ...
    start = stop - call.window if call.window is not None else torch.zeros_like(stop)
    start = start.clamp(min=0)  # ... and keys ≥ i − w + 1
    sums = prefix[..., stop, :] - prefix[..., start, :]  # (…, s, e)
    out = sums / (stop - start).to(v.dtype).unsqueeze(-1)
    return out.expand(*q.shape[:-1], v.shape[-1])


def exact_replacement(call: AttentionCall) -> torch.Tensor:
    """The explorer's exact softmax attention for one call. Shapes: → (b, l, h, e)."""
    return _grouped(call, _exact)


def uniform_replacement(call: AttentionCall) -> torch.Tensor:
    """Each query averages the values it may see. Shapes: → (b, l, h, e)."""
    return _grouped(call, _uniform)


def feature_replacement(
    feature_map: str, *, num_features: int, projection: str, seed: int
) -> Callable[[AttentionCall], torch.Tensor]:
    """Linear attention with ``feature_map`` at m features, W drawn per layer (``layer_stream``)."""
    fmap, kind = get_feature_map(feature_map), get_projection(projection)
    draws: dict[tuple[int, int], torch.Tensor] = {}  # (layer, d) → W, drawn once per run

    def weights(layer: int, head_dim: int) -> torch.Tensor | None:
        if not fmap.uses_projection:
            return None
        if (layer, head_dim) not in draws:
            draws[layer, head_dim] = kind.draw(
                num_features, head_dim, stream=layer_stream(seed, max(layer, 0))
            ).to(WORK)  # (m, d)
        return draws[layer, head_dim]

    def kernel(q, k, v, call: AttentionCall) -> torch.Tensor:
        if call.softcap is not None:
            raise SwapError(
                f"layer {call.layer} soft-caps its logits (c·tanh(t/c), c = {call.softcap:g}): "
                "no feature map estimates that kernel; use exact or uniform for this model"
            )
        if call.causal and fmap.fits_to_inputs:
            # FAVOR++'s A*, FAVOR#'s Ψ, a learned map's fit: all from every query and key
            raise SwapError(
                f"layer {call.layer} is causal, and {feature_map} fits its features to all the "
                "head's queries and keys: earlier tokens would see later ones; "
                "use positive, hyperbolic or trig for causal models"
            )
        root = math.sqrt(call.scaling)
        w = weights(call.layer, q.shape[-1])
        features = fmap(q * root, k * root, None if w is None else w.to(q.device))
        return linear_attention(features, v, causal=call.causal, window=call.window).output

    def replacement(call: AttentionCall) -> torch.Tensor:
        return _grouped(call, kernel)

    return replacement
