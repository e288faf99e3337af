"""The norms-matched control: same row norms, random directions, and a Welch verdict."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from explorer.experiments.compare import ExperimentConfig, synthetic_inputs
from explorer.experiments.control import control_runs, control_summary, control_table, verdict
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.synthetic import matched_inputs

CONFIG = ExperimentConfig(seq_len=256, head_dim=16, num_features=64, num_heads=2)


def test_control_keeps_norms_and_redraws_directions():
    real = synthetic_inputs(CONFIG)
    control = matched_inputs(real, seed=1)
    np.testing.assert_allclose(
        np.linalg.norm(control.q, axis=-1), np.linalg.norm(real.q, axis=-1), rtol=1e-12
    )
    cosine = (control.q * real.q).sum(-1) / np.linalg.norm(real.q, axis=-1) ** 2
    assert abs(cosine.mean()) < 0.05  # independent directions: E cos = 0, SD 1/√(16·512)


def test_gaussian_inputs_are_explained_by_their_norms():
    # Gaussian rows already have random directions and chi norms: the control draws from the
    # same distribution, so the mean errors may differ only by noise (within 2 SE: a 5% false
    # alarm rate for a random seed; these seeds are fixed).
    real, control = control_runs(replace(CONFIG, data_kind="gaussian"), synthetic_inputs(CONFIG))
    assert len(real) == len(control) == 5
    assert [r.config.seed for r in real] == [0, 1, 2, 3, 4]
    assert all(r.exact_output is None and r.approx_output is None for r in (*real, *control))
    assert verdict(real, control) == "norms"
    table = control_table(real, control)
    errors = [r.metrics.output_relative_error for r in real]
    assert table.loc[0, "your data"] == pytest.approx(np.mean(errors))
    assert table.loc[0, "your data, SD"] == pytest.approx(np.std(errors, ddof=1))
    summary = control_summary(real, control)
    assert summary["verdict"] == "norms" and summary["draws"] == 5
    assert summary["output_relative_error_control_mean"] == table.loc[0, "norms-matched control"]


def test_identical_tokens_are_easier_than_their_norms():
    # Every query and key the same vector: P and P̂ are both exactly uniform (every φ(x_i) and
    # every φ(y_j) is the same), so the real error is 0 for any features; random directions
    # with those norms make a peaked P that the features miss: a gap of many standard errors.
    u = np.random.default_rng(0).normal(size=(1, 1, 16)) * 0.5
    tokens = np.repeat(u, 64, axis=1)  # (1, 64, 16)
    v = np.random.default_rng(1).normal(size=(1, 64, 8))
    inputs = AttentionInputs(tokens, tokens.copy(), v, name="identical")
    real, control = control_runs(replace(CONFIG, seq_len=64), inputs)
    assert max(r.metrics.output_relative_error for r in real) < 1e-6
    assert min(c.metrics.output_relative_error for c in control) > 1e-3
    assert verdict(real, control) == "directions_easier"


def test_verdict_thresholds_and_undefined_cases():
    real, control = control_runs(CONFIG, synthetic_inputs(CONFIG), draws=2)

    def with_errors(runs, values, name="output_relative_error"):
        return [
            replace(r, metrics=replace(r.metrics, **{name: v}))
            for r, v in zip(runs, values, strict=True)
        ]

    # Two draws each, SD 0.141 on both sides: SE = √(0.02/2 + 0.02/2) = 0.141, so 2 SE = 0.283.
    # A gap of 0.2 is "the same"; one of 0.3 is not.
    assert verdict(with_errors(real, [0.4, 0.6]), with_errors(control, [0.2, 0.4])) == "norms"
    assert (
        verdict(with_errors(real, [0.5, 0.7]), with_errors(control, [0.2, 0.4]))
        == "directions_harder"
    )
    assert verdict(with_errors(real, [math.inf, 0.5]), control) == "undefined"
    # Without V the attention-matrix errors decide.
    no_v = with_errors(real, [None, None])
    no_v = with_errors(no_v, [0.9, 0.91], name="weights_relative_error")
    assert verdict(no_v, with_errors(control, [0.3, 0.31], "weights_relative_error")) == (
        "directions_harder"
    )
    with pytest.raises(ValueError, match="at least 2"):
        control_runs(CONFIG, synthetic_inputs(CONFIG), draws=1)
