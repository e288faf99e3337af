"""compare and sweep: reproducible, equal to independent references, and the m^(-1/2) law."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explorer.device import available_devices, resolve_device
from explorer.errors import InputError
from explorer.experiments.compare import ExperimentConfig, compare, synthetic_inputs
from explorer.experiments.sweep import sweep
from explorer.inputs.attention_inputs import AttentionInputs

SMALL = ExperimentConfig(
    seq_len=48, head_dim=8, num_features=16, num_heads=2, dtype="float64", device="cpu"
)


def test_same_settings_same_numbers_and_seed_changes_them():
    a, b = compare(SMALL), compare(SMALL)
    np.testing.assert_array_equal(a.approx_output, b.approx_output)
    assert a.metrics.output_relative_error == b.metrics.output_relative_error
    c = compare(ExperimentConfig(**{**SMALL.__dict__, "seed": 1}))
    assert c.metrics.output_relative_error != a.metrics.output_relative_error
    np.testing.assert_array_equal(c.exact_output, a.exact_output)  # same data, new features


@pytest.mark.parametrize("causal", [False, True])
def test_exact_output_equals_sdpa(causal):
    config = ExperimentConfig(**{**SMALL.__dict__, "causal": causal, "key_len": 48})
    result = compare(config)
    data = synthetic_inputs(config)
    ref = F.scaled_dot_product_attention(
        *(torch.as_tensor(t) for t in (data.q, data.k, data.v)), is_causal=causal
    )
    np.testing.assert_allclose(result.exact_output, ref.numpy(), atol=1e-12)  # float64 both
    assert result.maps.exact.shape == (2, 48, 48)


@pytest.mark.parametrize("causal", [False, True])
def test_row_sample_keeps_outputs_exact_and_samples_the_matrix_metrics(causal):
    full = compare(replace(SMALL, causal=causal))
    part = compare(replace(SMALL, causal=causal, row_sample=12))
    again = compare(replace(SMALL, causal=causal, row_sample=12))
    assert part.metrics.rows_evaluated == 12 and full.metrics.rows_evaluated == 48
    assert part.metrics.row_tv.shape == (2, 12)
    np.testing.assert_array_equal(part.metrics.row_tv, again.metrics.row_tv)  # same rows
    np.testing.assert_allclose(part.exact_output, full.exact_output, atol=1e-12)
    assert part.metrics.output_relative_error == pytest.approx(
        full.metrics.output_relative_error, rel=1e-10
    )
    # The sampled rows are 12 of the full pass's 48: their TVs are among the full ones.
    sampled = np.sort(part.metrics.row_tv.ravel())
    whole = full.metrics.row_tv.ravel()
    assert all(np.isclose(whole, value, rtol=1e-10).any() for value in sampled)
    np.testing.assert_allclose(part.maps.exact, full.maps.exact, atol=1e-7)  # maps: all rows
    every = compare(replace(SMALL, causal=causal, row_sample=48))  # ≥ l: every row
    assert every.metrics.row_tv_mean == full.metrics.row_tv_mean


def test_error_falls_like_inverse_sqrt_m_when_norms_are_small():
    # At σ = 0.15, d = 16 (|x+y|² ≈ 0.18) the delta method holds, so the mean output error over
    # 6 redraws falls as m^(-1/2). The slope over m = 16..1024 is −0.5 ± ~0.03 (seed noise of
    # the mean): [−0.6, −0.4] cannot pass for the m^(-1/3) or flat laws of the hard regime.
    ms = [16, 64, 256, 1024]
    base = ExperimentConfig(
        seq_len=128, head_dim=16, input_scale=0.15, projection="iid", device="cpu"
    )
    table = sweep(base, {"num_features": ms}, seeds=range(6))
    errors = table.groupby("num_features").output_relative_error.mean().loc[ms].to_numpy()
    slope = np.polyfit(np.log(ms), np.log(errors), 1)[0]
    assert -0.6 < slope < -0.4, slope


def test_given_inputs_without_values_and_cross_attention():
    g = np.random.default_rng(0)
    inputs = AttentionInputs(
        g.normal(size=(1, 10, 8)), g.normal(size=(1, 14, 8)), None, query_tokens=tuple("abcdefghij")
    )
    result = compare(SMALL, inputs)
    assert result.exact_output is None and result.metrics.output_relative_error is None
    assert result.maps.exact.shape == (1, 10, 14)
    assert result.query_tokens == tuple("abcdefghij")
    with pytest.raises(ValueError, match="cannot be swept"):
        sweep(SMALL, {"seq_len": [8]}, inputs=inputs)


def test_bad_inputs_and_settings_are_clear_errors():
    q = np.ones((1, 4, 3))
    bad = q.copy()
    bad[0, 2, 1] = np.nan
    with pytest.raises(InputError, match=r"q has a non-finite value .* \(0, 2, 1\)"):
        AttentionInputs(bad, q, None)
    with pytest.raises(InputError, match="head dims differ"):
        AttentionInputs(q, np.ones((1, 4, 2)), None)
    with pytest.raises(ValueError, match="num_features"):
        ExperimentConfig(num_features=0)
    with pytest.raises(ValueError, match="unknown feature map"):
        ExperimentConfig(feature_map="softmax")
    with pytest.raises(ValueError, match="row_sample must be a positive integer"):
        ExperimentConfig(row_sample=0)
    with pytest.raises(ValueError, match="not available"):
        resolve_device("cuda" if "cuda" not in available_devices() else "mps")


def test_half_precision_runs_with_float32_accumulation():
    result = compare(ExperimentConfig(**{**SMALL.__dict__, "dtype": "bfloat16"}))
    assert np.isfinite(result.approx_output).all()
    assert result.metrics.output_relative_error < 1.0


def test_float64_results_stay_float64():
    # The audit found compare(dtype="float64") returning float32 arrays: the outputs must keep
    # the precision they were computed in (half types come back as float32).
    result = compare(SMALL)
    assert result.exact_output.dtype == result.approx_output.dtype == np.float64
    half = compare(ExperimentConfig(**{**SMALL.__dict__, "dtype": "float16"}))
    assert half.exact_output.dtype == np.float32


def test_a_mean_kl_covers_every_row_or_says_it_cannot():
    # Trig at σ = 1 with m = 4, causal: most rows have P̂ ≤ 0 somewhere, so their KL is
    # undefined. The audit found a mean of 0 reported over the one finite row. The mean over
    # every row must be +inf, the count of undefined rows beside it, and the mean of the
    # defined rows only under its own name, computed here independently from the per-row KLs.
    config = ExperimentConfig(
        feature_map="trig", num_features=4, causal=True, input_scale=1.0, seq_len=256
    )
    m = compare(config).metrics
    finite = np.isfinite(m.row_kl)
    assert m.kl_undefined_rows == int((~finite).sum()) > 128
    assert m.rows_evaluated == 256 and m.heads_evaluated == 1
    assert m.row_kl_mean == math.inf
    if finite.any():
        assert m.row_kl_mean_defined == pytest.approx(float(m.row_kl[finite].mean()))
    else:
        assert m.row_kl_mean_defined is None
    positive = compare(ExperimentConfig(seq_len=64, head_dim=16)).metrics
    assert positive.kl_undefined_rows == 0
    assert positive.row_kl_mean == pytest.approx(float(positive.row_kl.mean()))
    assert positive.row_kl_mean_defined == pytest.approx(positive.row_kl_mean)


def test_compare_says_which_kernel_it_estimates():
    assert compare(SMALL).estimates.unbiased_for_softmax
    fixed = compare(ExperimentConfig(**{**SMALL.__dict__, "projection": "fixed_norm"}))
    assert not fixed.estimates.unbiased_for_softmax and "SMREG" in fixed.estimates.summary
