"""Grouped-query heads in every path: the numbers of K and V repeated, without repeating them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer import AttentionInputs, ExperimentConfig, compare
from explorer.experiments.budget import Workload
from explorer.experiments.compare import synthetic_inputs
from explorer.experiments.control import control_runs
from explorer.experiments.sweep import sweep
from explorer.reference.fused_pass import _Slabs

BASE = ExperimentConfig(
    seq_len=40, head_dim=8, num_heads=6, num_kv_heads=2, num_features=16, dtype="float64",
    device="cpu", input_scale=0.5,
)  # fmt: skip
SCALARS = [  # every number of ErrorMetrics (the per-row arrays are checked through them)
    f.name
    for f in dataclasses.fields(compare(BASE).metrics)
    if f.type in ("float", "float | None", "int")
]


def repeated(inputs: AttentionInputs) -> AttentionInputs:
    """The same heads with K and V repeated per query head: the old, copying representation."""
    g = inputs.group
    return dataclasses.replace(
        inputs, k=np.repeat(inputs.k, g, axis=0), v=np.repeat(inputs.v, g, axis=0)
    )


def test_synthetic_grouped_inputs_have_fewer_key_heads():
    data = synthetic_inputs(BASE)
    assert data.q.shape == (6, 40, 8) and data.k.shape == (2, 40, 8) and data.v.shape == (2, 40, 8)
    assert data.group == 3 and data.head(4).k.shape == (1, 40, 8)
    np.testing.assert_array_equal(data.head(4).k, data.k[1:2])  # query head 4 uses key head 1
    with pytest.raises(ValueError, match="divide"):
        ExperimentConfig(num_heads=6, num_kv_heads=4)


@pytest.mark.parametrize("name", ["positive", "oprf", "trig", "elu_plus_one"])
@pytest.mark.parametrize("mask", [{}, {"causal": True}, {"causal": True, "window": 5}])
def test_grouped_heads_equal_repeated_keys_in_compare(name, mask):
    config = dataclasses.replace(BASE, feature_map=name, **mask)
    data = synthetic_inputs(config)
    grouped, plain = compare(config, data), compare(config, repeated(data))
    np.testing.assert_allclose(grouped.exact_output, plain.exact_output, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grouped.approx_output, plain.approx_output, rtol=1e-10, atol=1e-12)
    for field in SCALARS:
        a, b = getattr(grouped.metrics, field), getattr(plain.metrics, field)
        if a is None or not np.isfinite(a):
            assert a == b, field
        else:
            assert a == pytest.approx(b, rel=1e-9, abs=1e-14), field
    np.testing.assert_allclose(grouped.maps.approx, plain.maps.approx, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        grouped.statistics.mean_pair_sq_sum, plain.statistics.mean_pair_sq_sum, rtol=1e-12
    )


@pytest.mark.parametrize("causal", [False, True])
def test_grouped_exact_output_equals_sdpa_enable_gqa(causal):
    config = dataclasses.replace(BASE, causal=causal)
    data = synthetic_inputs(config)
    q, k, v = (torch.from_numpy(a)[None] for a in (data.q, data.k, data.v))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)[0]
    np.testing.assert_allclose(compare(config, data).exact_output, ref.numpy(), atol=1e-12)
    sampled = compare(dataclasses.replace(config, row_sample=7), data)  # SDPA's own GQA path
    np.testing.assert_allclose(sampled.exact_output, ref.numpy(), atol=1e-12)


def test_key_slabs_are_views_not_copies():
    keys = torch.randn(2, 1, 5, 3)  # (h_kv, 1, ·, ·) against query heads (2, 3)
    slabs = _Slabs(keys, torch.Size([2, 3]))
    assert slabs.run() == 3
    one = slabs.take(slice(3, 6))  # the heads of key head 1 share one slab
    assert one.data_ptr() == keys[1, 0].data_ptr() and one.shape == (5, 3)


def test_sweeps_controls_and_budget_take_grouped_heads():
    table = sweep(BASE, {"num_features": [8, 16]}, seeds=(0, 1))
    assert len(table) == 4 and table.output_relative_error.notna().all()
    real, control = control_runs(BASE, synthetic_inputs(BASE), draws=2)
    assert len(real) == len(control) == 2
    workload = Workload.of(BASE)
    assert workload.heads == 6 and workload.seq_len == 40
