"""A comparison's reading: skill against the uniform baseline and the regime of its inputs."""

from __future__ import annotations

import math

import pytest

from explorer import ExperimentConfig, compare
from explorer.experiments.reading import MILD_MAX, MODERATE_MAX, read, read_comparison, regime_of


def test_skill_is_one_minus_the_error_ratio():
    reading = read(error=0.119, baseline=0.124, mean_pair_sq_sum=1.0, metric="m")
    assert reading.skill == pytest.approx(1 - 0.119 / 0.124)
    assert "about as good as uniform attention" in reading.sentence
    assert "nearly flat" in reading.sentence  # baseline 0.124 < 0.2: uniform is strong here
    worse = read(error=0.9, baseline=0.6, mean_pair_sq_sum=9.0, metric="m")
    assert worse.skill == pytest.approx(-0.5) and "worse than" in worse.sentence
    assert read(error=0.0, baseline=0.0, mean_pair_sq_sum=0.0, metric="m").skill == 1.0
    assert read(error=math.inf, baseline=0.5, mean_pair_sq_sum=1, metric="m").skill == -math.inf


def test_regimes_follow_the_relative_variance_of_one_feature():
    # mild while e^ρ − 1 ≤ 1 (one feature's relative variance at most 1), hard past ρ = 3.
    assert pytest.approx(math.log(2)) == MILD_MAX
    assert [regime_of(r) for r in (0.1, MILD_MAX, 1.0, MODERATE_MAX, 3.01, 15.0)] == [
        "mild", "mild", "moderate", "moderate", "hard", "hard",
    ]  # fmt: skip


def test_comparisons_read_their_output_error_or_their_weights_error():
    result = compare(ExperimentConfig(seq_len=64, head_dim=16, num_features=32, input_scale=1.2))
    reading = read_comparison(result)
    m = result.metrics
    assert reading.metric == "output_relative_error"
    assert reading.skill == pytest.approx(1 - m.output_relative_error / m.uniform_baseline_error)
    assert reading.mean_pair_sq_sum == pytest.approx(result.statistics.mean_pair_sq_sum.mean())
    assert reading.regime == "hard"  # σ = 1.2 at d = 16: mean |x+y|² ≈ 2σ²√d ≈ 11.5
