"""The row pass on a subset of query rows: the same per-row numbers as the whole pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.attention.exact import exact_weights
from explorer.attention.linear import approximate_weights, linear_attention
from explorer.kernels.feature_maps import Features, get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.reference.fused_pass import PassOptions, row_pass
from explorer.reference.metrics import reference_errors
from explorer.streams import stream
from tests.conftest import gaussian

L = 45


def setup(name="positive"):
    g = torch.Generator().manual_seed(51)
    x, y = gaussian(2, L, 6, generator=g, scale=0.7), gaussian(2, L, 6, generator=g, scale=0.7)
    v = gaussian(2, L, 3, generator=g)
    w = draw_projection("iid", 12, 6, stream=stream("features", 2))
    return x, y, v, get_feature_map(name)(x, y, w)


ROWS = torch.tensor([0, 3, 4, 17, 30, 44])


@pytest.mark.parametrize("budget", [1, 10**9])  # one row a block, or one block
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", ["positive", "trig"])
def test_sampled_rows_equal_those_rows_of_the_whole_pass(name, causal, budget):
    x, y, _, features = setup(name)
    whole = row_pass(x, y, features, PassOptions(causal=causal)).weights
    part = row_pass(
        x, y, features, PassOptions(causal=causal, query_rows=ROWS, memory_budget=budget)
    ).weights
    assert part["rows_evaluated"] == len(ROWS) and whole["rows_evaluated"] == L
    np.testing.assert_allclose(part["row_tv"], whole["row_tv"][:, ROWS], rtol=1e-10)
    np.testing.assert_allclose(part["row_kl"], whole["row_kl"][:, ROWS], rtol=1e-9, atol=1e-15)
    # Independent truth for the scalars: the full matrices, restricted to those rows.
    p = exact_weights(x, y, causal=causal, scale=1.0)[:, ROWS].numpy()
    p_hat = approximate_weights(features, causal=causal)[:, ROWS].numpy()
    assert part["weights_relative_error"] == pytest.approx(
        np.linalg.norm(p_hat - p) / np.linalg.norm(p), rel=1e-10
    )
    assert part["max_abs_error"] == pytest.approx(np.abs(p_hat - p).max(), rel=1e-10)
    counts = (ROWS.numpy() + 1) if causal else np.full(len(ROWS), L)
    uniform = np.where(p > 0, 1.0 / counts[None, :, None], 0.0)
    if causal:  # hidden keys get 0 in the uniform baseline too
        uniform = np.where(np.arange(L)[None, None, :] <= ROWS.numpy()[None, :, None], uniform, 0)
    assert part["uniform_row_tv_mean"] == pytest.approx(
        0.5 * np.abs(p - uniform).sum(-1).mean(), rel=1e-10
    )
    assert part["entry_error_sample"].size == 2 * len(ROWS) * L  # all entries, so few


def test_all_rows_given_is_the_whole_pass():
    x, y, _, features = setup()
    whole = row_pass(x, y, features, PassOptions(causal=True)).weights
    given = row_pass(x, y, features, PassOptions(causal=True, query_rows=torch.arange(L))).weights
    for key in ("weights_relative_error", "row_tv_mean", "row_kl_mean", "max_abs_error"):
        assert given[key] == pytest.approx(whole[key], rel=1e-12), key


@pytest.mark.parametrize("causal", [False, True])
def test_reference_on_sampled_rows_keeps_the_output_exact(causal):
    x, y, v, features = setup()
    approx = linear_attention(features, v, causal=causal).output
    full = reference_errors(x, y, v, features, approx, PassOptions(causal=causal, max_side=8))
    part = reference_errors(
        x, y, v, features, approx, PassOptions(causal=causal, max_side=8, query_rows=ROWS)
    )
    sdpa = torch.nn.functional.scaled_dot_product_attention(x, y, v, is_causal=causal, scale=1.0)
    torch.testing.assert_close(part.exact_output, sdpa, rtol=1e-12, atol=1e-12)
    assert part.metrics.output_relative_error == pytest.approx(
        full.metrics.output_relative_error, rel=1e-10
    )
    np.testing.assert_allclose(part.maps.exact, full.maps.exact, rtol=1e-5, atol=1e-7)
    assert part.metrics.rows_evaluated == len(ROWS) and full.metrics.rows_evaluated == L


def test_sampled_rows_refuse_the_outputs_and_maps():
    x, y, v, features = setup()
    with pytest.raises(ValueError, match="every row"):
        row_pass(x, y, features, PassOptions(causal=False, query_rows=ROWS), values=v)


def test_half_and_mixed_inputs_are_computed_in_float32():
    x, y, v, features = setup()
    ref = reference_errors(x, y, v, features, None, PassOptions(causal=True))
    for dtype in (torch.float16, torch.bfloat16):
        half_features = Features(features.query.to(dtype), features.key.to(dtype), signed=False)
        half = reference_errors(
            *(t.to(dtype) for t in (x, y, v)), half_features, None, PassOptions(causal=True)
        )
        assert half.exact_output.dtype == torch.float32
        # Half inputs round to ~3 significant digits; the errors of P̂ are ~0.1 here.
        assert half.metrics.weights_relative_error == pytest.approx(
            ref.metrics.weights_relative_error, rel=0.05
        )
    mixed = reference_errors(x.float(), y.float(), v, features, None, PassOptions(causal=False))
    assert mixed.exact_output.dtype == torch.float64  # float32 with float64 φ: float64
