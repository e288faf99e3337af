"""Swapped attention inside tiny random-weight models and MiniLM: exact equals the model, uniform
equals an independent uniform attention, causal layers never see later tokens, and drift falls
with m where |x + y|² is small."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest
import torch

from explorer.experiments import swap_attention as sa  # noqa: E402
from explorer.experiments.swap_measures import hidden_relative_error  # noqa: E402
from explorer.experiments.swap_models import forward, load_swap_model, tokenize  # noqa: E402
from explorer.inputs.hf_attention import AttentionCall, allowed, padding, recording  # noqa: E402
from tests.core.experiments.tiny_models import CAUSAL, KINDS, WINDOW, tiny

TEXTS = ["a short one", "the cat sat on the mat and looked at the dog by the door"]


def model(kind: str):
    return load_swap_model("minilm") if kind == "minilm" else tiny(kind)


def run(kind: str, replacement=None, texts=TEXTS, layers=None):
    m = model(kind)
    batch = tokenize(m, texts, max_tokens=64)
    if replacement is None:
        return forward(m, batch)
    with recording(replacement=replacement, layers=layers):
        return forward(m, batch)


@pytest.mark.parametrize("kind", [*KINDS, "minilm"])
def test_the_exact_swap_equals_the_unmodified_model(kind):
    # Padded batch of two texts: the padding mask is respected (real tokens compared).
    reference, swapped = run(kind), run(kind, sa.exact_replacement)
    mask = reference.mask
    torch.testing.assert_close(swapped.hidden[mask], reference.hidden[mask], atol=1e-5, rtol=1e-5)
    if reference.logits is not None:
        torch.testing.assert_close(
            swapped.logits[mask], reference.logits[mask], atol=1e-5, rtol=1e-5
        )


def independent_uniform(call: AttentionCall) -> torch.Tensor:
    """Weights 1/count over allowed(call) ∧ padding(call), key heads repeated. (b, l, h, e)."""
    visible = allowed(call)  # (l, s)
    mask = padding(call)
    if mask is not None:
        visible = visible & mask  # (b, 1, l, s)
    weights = visible.to(torch.float64).expand(call.query.shape[0], 1, *visible.shape[-2:])
    weights = weights / weights.sum(-1, keepdim=True).clamp(min=1)
    group = call.query.shape[1] // call.key.shape[1]
    values = call.value.to(torch.float64).repeat_interleave(group, dim=1)  # (b, h, s, e)
    return (weights @ values).transpose(1, 2)


@pytest.mark.parametrize("kind", [*KINDS, "minilm"])
def test_the_uniform_swap_equals_an_independent_uniform_attention(kind):
    records: list[AttentionCall] = []
    with recording(records=records):
        run(kind)
    assert {r.layer for r in records} == set(range(model(kind).num_layers))
    if kind == "mistral":
        assert all(r.window == WINDOW for r in records)
    for call in records:
        ours, theirs = sa.uniform_replacement(call), independent_uniform(call)
        real = padding(call)[:, 0].any(-2) if call.mask is not None else None  # (b, s): seen
        if real is not None:  # padded query rows: zeros in ours (nothing reads them)
            ours, theirs = ours[real], theirs[real]
        torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=1e-12)
    # Through the whole model: last-bit differences of the float32 outputs grow through the
    # layers' LayerNorms (uniform attention flattens the states), to a few 1e-5 in 6 layers.
    reference = run(kind, independent_uniform)
    swapped = run(kind, sa.uniform_replacement)
    mask = reference.mask
    torch.testing.assert_close(swapped.hidden[mask], reference.hidden[mask], atol=2e-4, rtol=2e-4)


MAPS = ("positive", "trig", "hyperbolic", "relu", "elu_plus_one")


@pytest.mark.parametrize("kind", CAUSAL)
def test_causal_models_never_see_later_tokens(kind):
    m = tiny(kind)
    first = tokenize(m, [TEXTS[1]], max_tokens=64)
    later = {k: v.clone() for k, v in first.items()}
    later["input_ids"][0, -2] = 2000  # a later token changes ([SEP] stays last)
    replacements = {"exact": sa.exact_replacement, "uniform": sa.uniform_replacement}
    for name in MAPS:
        replacements[name] = sa.feature_replacement(
            name, num_features=64, projection="orthogonal", seed=0
        )
    for name, replacement in replacements.items():
        with recording(replacement=replacement):
            a, b = forward(m, first), forward(m, later)
        # Exactly equal before the change: the maps' stabilisers (a per-feature maximum over
        # all keys) cancel in D⁻¹φ(Q)(φ(K)ᵀV) and leave no trace after the float32 cast.
        assert torch.equal(a.hidden[:, :-2], b.hidden[:, :-2]), name
        assert torch.equal(a.logits[:, :-2], b.logits[:, :-2]), name
        assert not torch.allclose(a.hidden[:, -2:], b.hidden[:, -2:]), name  # the test can fail

    def leaky(call: AttentionCall) -> torch.Tensor:  # the same map, causality dropped
        return sa.feature_replacement("positive", num_features=64, projection="orthogonal", seed=0)(
            replace(call, causal=False, window=None, mask=None)
        )

    with recording(replacement=leaky):
        a, b = forward(m, first), forward(m, later)
    assert not torch.allclose(a.hidden[:, :-2], b.hidden[:, :-2])  # what the test would catch


def scaled(replacement, factor: float):
    """The replacement on q and k scaled by ``factor`` (scaling × factor²): small |x + y|²."""
    return lambda call: replacement(replace(call, scaling=call.scaling * factor**2))


@pytest.mark.parametrize("name", ["positive", "trig"])
@pytest.mark.parametrize("kind", [*KINDS, "minilm"])
def test_drift_at_4096_features_is_well_below_drift_at_16(kind, name):
    # q and k scaled by 0.25: |x + y|² ≲ 1, so positive features have a relative variance of
    # about (e^{|x+y|²} − 1)/m (trig's grows with |x − y|², as small here), normalisers stay
    # far from 0, and the output error falls like m^(-1/2): 16× from m = 16 to
    # 4096. Compounding over the layers is smooth at these small errors, so requiring a 4×
    # drop of the mean over 3 seeds leaves room for the seeds' spread (a few tens of %).
    reference = run(kind, scaled(sa.exact_replacement, 0.25), texts=TEXTS[1:])
    drift = {}
    for m in (16, 4096):
        errors = []
        for seed in range(3):
            fm = sa.feature_replacement(name, num_features=m, projection="iid", seed=seed)
            errors.append(hidden_relative_error(reference, run(kind, scaled(fm, 0.25), TEXTS[1:])))
        drift[m] = statistics.fmean(errors)
    assert drift[4096] < drift[16] / 4, drift
    assert drift[16] > 1e-4, drift  # the swap does change the model at m = 16


def test_layers_draw_independent_features_from_the_features_stream():
    assert sa.layer_stream(3, 1) == sa.layer_stream(3, 1)
    assert sa.layer_stream(3, 1).purpose == "features"
    assert len({sa.layer_stream(s, layer) for s in range(3) for layer in range(3)}) == 9
    records: list[AttentionCall] = []
    with recording(records=records):
        run("llama")
    call = records[0]
    fm = sa.feature_replacement("positive", num_features=8, projection="iid", seed=0)
    other = sa.feature_replacement("positive", num_features=8, projection="iid", seed=1)
    assert not torch.allclose(fm(call), other(call))
    assert not torch.allclose(fm(call), fm(replace(call, layer=1)))  # layer 1: its own W


def call_with(**changes) -> AttentionCall:
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 5, 4, generator=gen) for _ in range(3))
    fields = dict(layer=0, query=q, key=k, value=v, scaling=0.5, causal=False, window=None,
                  softcap=None, mask=None)  # fmt: skip
    return AttentionCall(**(fields | changes))


def test_what_cannot_be_swapped_is_refused_in_one_line():
    fm = sa.feature_replacement("positive", num_features=8, projection="iid", seed=0)
    with pytest.raises(sa.SwapError, match="soft-caps"):
        fm(call_with(softcap=30.0))
    assert sa.exact_replacement(call_with(softcap=30.0)).shape == (1, 5, 2, 4)
    oprf = sa.feature_replacement("oprf", num_features=8, projection="iid", seed=0)
    with pytest.raises(sa.SwapError, match="causal"):
        oprf(call_with(causal=True))
    assert oprf(call_with()).shape == (1, 5, 2, 4)
    saderf = sa.feature_replacement("saderf", num_features=8, projection="iid", seed=0)
    with pytest.raises(sa.SwapError, match="causal"):  # Ψ is fitted to every query and key
        saderf(call_with(causal=True))
    holes = torch.ones(1, 1, 5, 5, dtype=torch.bool)
    holes[..., 2] = False  # a hidden key in the middle: not padding
    with pytest.raises(sa.SwapError, match="one run"):
        sa.uniform_replacement(call_with(mask=holes))
    odd = torch.ones(1, 1, 5, 5, dtype=torch.bool).tril()  # causal mask, call says not causal
    with pytest.raises(sa.SwapError, match="unsupported mask"):
        sa.exact_replacement(call_with(mask=odd))
    with pytest.raises(sa.SwapError, match="cache"):
        sa.exact_replacement(call_with(query=torch.zeros(1, 2, 1, 4)))
