"""Random projections: orthogonality, norms, isotropy (the QR sign fix), nesting, seeds."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from explorer.kernels.projections import (
    PROJECTIONS,
    draw_projection,
    get_projection,
    orthonormal_blocks,
)
from explorer.streams import stream


@pytest.mark.parametrize("kind", list(PROJECTIONS))
@pytest.mark.parametrize("m, d", [(5, 8), (8, 8), (20, 8), (1, 1)])
def test_shape_dtype_and_reproducible(kind, m, d):
    w1 = draw_projection(kind, m, d, stream=stream("features", 7))
    w2 = draw_projection(kind, m, d, stream=stream("features", 7))
    assert w1.shape == (m, d) and w1.dtype == torch.float64
    assert torch.equal(w1, w2)
    if m * d > 1:
        assert not torch.equal(w1, draw_projection(kind, m, d, stream=stream("features", 8)))


@pytest.mark.parametrize("kind", list(PROJECTIONS))
@pytest.mark.parametrize("d", [1, 3, 8])
def test_draws_are_nested_in_m(kind, d):
    # The first m rows of a draw of M rows are the draw of m rows, for partial blocks too:
    # a grid over m can share one draw and still equal compare cell by cell.
    largest = draw_projection(kind, 5 * d + 2, d, stream=stream("features", 3))
    for m in (1, d - 1 or 1, d, d + 1, 2 * d, 5 * d + 1):
        assert torch.equal(largest[:m], draw_projection(kind, m, d, stream=stream("features", 3)))


def test_blocks_are_orthogonal_and_independent():
    w = draw_projection("orthogonal", 24, 8, stream=stream("features", 0))  # 3 blocks of 8
    for block in w.reshape(3, 8, 8):
        gram = block @ block.T
        torch.testing.assert_close(gram, torch.diag(torch.diagonal(gram)))  # orthogonal rows
    # Different blocks are independent draws, not orthogonal to each other.
    assert (w[:8] @ w[8:16].T).abs().max() > 0.1


def test_norms_chi_and_fixed():
    d = 16
    w = draw_projection("orthogonal", 20_000, d, stream=stream("features", 1))
    # Squared row norms must follow chi²(d). With a fixed seed the KS statistic is deterministic;
    # p > 1e-3 fails only for a real distribution error (a wrong norm law gives p ≈ 0).
    assert stats.kstest((w**2).sum(-1).numpy(), stats.chi2(d).cdf).pvalue > 1e-3
    fixed = draw_projection("fixed_norm", 40, d, stream=stream("features", 1))
    torch.testing.assert_close(
        fixed.norm(dim=-1), torch.full((40,), math.sqrt(d), dtype=torch.float64)
    )


def _row_means(sign_correction: bool, z: torch.Tensor, draws: int, d: int):
    """Mean over independent blocks of exp(w_i·z), per row index i, with chi(d) norms."""
    blocks = [stream("monte_carlo", 2024, i) for i in range(draws)]
    directions = orthonormal_blocks(blocks, d, sign_correction=sign_correction)  # (R, d, d)
    lengths = torch.stack([b.child(0).normal(d, d) for b in blocks]).norm(dim=-1, keepdim=True)
    values = torch.exp((directions * lengths) @ z)  # (R, d): row i of each block
    return values.mean(0), values.std(0) / math.sqrt(draws)


@pytest.mark.parametrize("direction", ["e1", "random"])
def test_orthogonal_rows_are_gaussian_so_unbiased(direction):
    # Each row must have an N(0, I) marginal, so E[exp(w·z)] = exp(|z|²/2) for every row index
    # and direction. 50k draws: SE ≈ 0.01 of a target 1.65; 5 SE over 8 rows keeps the chance of a
    # false alarm below 1e-5 while any real bias (the unfixed QR's is ≈ 1.1) fails it at once.
    d, draws = 8, 50_000
    z = torch.zeros(d, dtype=torch.float64)
    if direction == "e1":
        z[0] = 1.0
    else:
        z = stream("synthetic_data", 3).normal(d)
        z = z / z.norm()
    target = math.exp(0.5 * float(z @ z))
    w = get_projection("orthogonal").draw_many(
        d, d, streams=[stream("monte_carlo", 9, i) for i in range(draws)]
    )
    values = torch.exp(w @ z)  # (R, d)
    means, errors = values.mean(0), values.std(0) / math.sqrt(draws)
    assert torch.all((means - target).abs() < 5 * errors), (means, target)


def test_plain_qr_without_sign_fix_is_biased():
    # The reference implementations' construction: Householder QR gives Q[0, 0] < 0 always, so
    # row 0 has a negative first coordinate and E[exp(w_0·e1)] = 2e^{1/2}Φ(−1) ≈ 0.52, not 1.65.
    d, draws = 8, 50_000
    z = torch.zeros(d, dtype=torch.float64)
    z[0] = 1.0
    means, errors = _row_means(False, z, draws, d)
    target = math.exp(0.5)
    assert (means[0] - target).abs() > 50 * errors[0]
    assert means[0] == pytest.approx(2 * math.exp(0.5) * stats.norm.cdf(-1), rel=0.05)
    # The same blocks with the sign fix are unbiased (row 0 within 5 SE of the target).
    fixed, fixed_errors = _row_means(True, z, draws, d)
    assert (fixed[0] - target).abs() < 5 * fixed_errors[0]


def test_projection_registry_entries():
    # Other branches add entries: check these are present, not that nothing else is.
    assert set(PROJECTIONS) >= {"iid", "orthogonal", "fixed_norm"}
    assert get_projection("fixed-norm") is PROJECTIONS["fixed_norm"]  # the other spelling
    marginals = {name: PROJECTIONS[name].gaussian_marginals for name in ("iid", "orthogonal")}
    assert marginals == {"iid": True, "orthogonal": True}
    assert not PROJECTIONS["fixed_norm"].gaussian_marginals


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_features"):
        draw_projection("iid", 0, 4, stream=stream("features", 0))
    with pytest.raises(ValueError, match="unknown projection"):
        draw_projection("gaussian", 4, 4, stream=stream("features", 0))
    with pytest.raises(ValueError, match="seed"):
        stream("features", -1)
