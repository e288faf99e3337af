"""Synthetic generators: reproducible, and each has the property it is meant to show."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.experiments.compare import ExperimentConfig, compare
from explorer.inputs.capture import load_sample
from explorer.inputs.synthetic import (
    SYNTHETIC_KINDS,
    SyntheticSpec,
    matched_inputs,
    structured_inputs,
)

SIZE = {"num_heads": 2, "seq_len": 40, "head_dim": 16, "input_scale": 0.5}


@pytest.mark.parametrize("kind", SYNTHETIC_KINDS)
def test_reproducible_shapes_and_seeded(kind):
    a = structured_inputs(SyntheticSpec(kind=kind, **SIZE, seed=3, key_len=30, value_dim=5))
    b = structured_inputs(SyntheticSpec(kind=kind, **SIZE, seed=3, key_len=30, value_dim=5))
    c = structured_inputs(SyntheticSpec(kind=kind, **SIZE, seed=4, key_len=30, value_dim=5))
    assert a.q.shape == (2, 40, 16) and a.k.shape == (2, 30, 16) and a.v.shape == (2, 30, 5)
    np.testing.assert_array_equal(a.q, b.q)
    assert not np.array_equal(a.q, c.q)


def test_aligned_keys_lean_to_their_queries():
    # Per-entry correlation between q_j and k_j equals the alignment a (up to sampling noise
    # of 2·40·16 pairs: SE ≈ 0.02, so ±0.08 is 4 SE).
    inputs = structured_inputs(SyntheticSpec(kind="aligned", **SIZE, seed=0, alignment=0.9))
    corr = np.corrcoef(inputs.q.ravel(), inputs.k.ravel())[0, 1]
    assert corr == pytest.approx(0.9, abs=0.08)


def test_low_rank_and_clustered_structure():
    low = structured_inputs(SyntheticSpec(kind="low_rank", **SIZE, seed=0, rank=3))
    assert np.linalg.matrix_rank(low.q[0]) == 3 == np.linalg.matrix_rank(low.k[1])
    clustered = structured_inputs(SyntheticSpec(kind="clustered", **SIZE, seed=0, num_clusters=2))
    # Two tight clusters: within-cluster distances ≈ 0.3·√(2d) ≈ 1.7, between ≈ √(2d) ≈ 5.7,
    # so the pairwise distances split into two groups with a gap between them.
    dists = np.linalg.norm(clustered.q[0][:, None] - clustered.q[0][None], axis=-1)
    off = dists[~np.eye(40, dtype=bool)] / SIZE["input_scale"]  # in units of σ
    assert np.all((off < 3.0) | (off > 5.0))
    assert 0.2 < np.mean(off < 3.0) < 0.8


def test_matched_inputs_keep_norms_not_structure():
    reference = load_sample().layer(0)
    matched = matched_inputs(reference, seed=0)
    np.testing.assert_allclose(
        np.linalg.norm(matched.q, axis=-1), np.linalg.norm(reference.q, axis=-1)
    )
    assert matched.query_tokens == reference.query_tokens
    assert abs(np.corrcoef(matched.q.ravel(), reference.q.ravel())[0, 1]) < 0.1


def test_config_selects_a_kind_and_rejects_unknown():
    result = compare(
        ExperimentConfig(seq_len=32, head_dim=8, num_features=16, data_kind="low_rank")
    )
    assert "rank 4" in result.inputs_name
    with pytest.raises(ValueError, match="unknown data_kind"):
        ExperimentConfig(data_kind="uniform")
    with pytest.raises(ValueError, match="alignment"):
        SyntheticSpec(kind="aligned", **SIZE, seed=0, alignment=1.5)
    with pytest.raises(ValueError, match="seq_len"):
        SyntheticSpec(kind="gaussian", num_heads=1, seq_len=0, head_dim=4, input_scale=1, seed=0)


def test_config_describes_its_synthetic_data():
    config = ExperimentConfig(seq_len=12, head_dim=4, data_seed=5, data_kind="clustered")
    spec = config.synthetic_spec()
    assert (spec.kind, spec.seq_len, spec.head_dim, spec.seed) == ("clustered", 12, 4, 5)
