"""Random projections: orthogonality, norms, isotropy (the QR sign fix) and reproducibility."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from explorer.kernels.projections import (
    draw_projection,
    orthogonal_projection,
    orthonormal_blocks,
    seeded_generator,
)


@pytest.mark.parametrize("kind", ["iid", "orthogonal", "fixed_norm"])
@pytest.mark.parametrize("m, d", [(5, 8), (8, 8), (20, 8), (1, 1)])
def test_shape_dtype_and_reproducible(kind, m, d):
    w1 = draw_projection(kind, m, d, generator=seeded_generator(7))
    w2 = draw_projection(kind, m, d, generator=seeded_generator(7))
    assert w1.shape == (m, d) and w1.dtype == torch.float64
    assert torch.equal(w1, w2)
    if m * d > 1 and kind != "fixed_norm":
        assert not torch.equal(w1, draw_projection(kind, m, d, generator=seeded_generator(8)))


def test_blocks_are_orthogonal_and_independent():
    w = orthonormal_blocks(24, 8, generator=seeded_generator(0))  # 3 blocks of 8
    for block in w.reshape(3, 8, 8):
        torch.testing.assert_close(block @ block.T, torch.eye(8, dtype=torch.float64))
    # Different blocks are independent draws, not orthogonal to each other.
    assert (w[:8] @ w[8:16].T).abs().max() > 0.1


def test_norms_chi_and_fixed():
    d = 16
    w = orthogonal_projection(20_000, d, generator=seeded_generator(1), norms="chi")
    # Squared row norms must follow chi²(d). With a fixed seed the KS statistic is deterministic;
    # p > 1e-3 fails only for a real distribution error (a wrong norm law gives p ≈ 0).
    assert stats.kstest((w**2).sum(-1).numpy(), stats.chi2(d).cdf).pvalue > 1e-3
    fixed = draw_projection("fixed_norm", 40, d, generator=seeded_generator(1))
    torch.testing.assert_close(
        fixed.norm(dim=-1), torch.full((40,), math.sqrt(d), dtype=torch.float64)
    )


def _row_means(sign_correction: bool, z: torch.Tensor, draws: int, d: int) -> torch.Tensor:
    """Mean over independent draws of exp(w_i·z), per row index i of a d×d block."""
    generator = seeded_generator(2024)
    w = orthogonal_projection(
        draws * d, d, generator=generator, norms="chi", sign_correction=sign_correction
    )
    values = torch.exp(w.reshape(draws, d, d) @ z)  # (draws, d): row i of each block
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
        z = torch.randn(d, generator=seeded_generator(3), dtype=torch.float64)
        z = z / z.norm()
    target = math.exp(0.5 * float(z @ z))
    means, errors = _row_means(True, z, draws, d)
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


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_features"):
        draw_projection("iid", 0, 4, generator=seeded_generator(0))
    with pytest.raises(ValueError, match="unknown projection"):
        draw_projection("gaussian", 4, 4, generator=seeded_generator(0))
    with pytest.raises(ValueError, match="seed"):
        seeded_generator(-1)
