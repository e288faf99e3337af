"""Monte Carlo helpers, scaling summaries and the paper-figure presets (tiny sizes)."""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from explorer.experiments.compare import ExperimentConfig, compare
from explorer.experiments.predict import predict_output_error
from explorer.experiments.summaries import (
    breakdown,
    delta_method_curve,
    error_metric,
    error_ratio,
    seed_summary,
    smallest_valid_m,
    softmax_scales,
    with_temperature,
)
from explorer.figures import presets as figures
from explorer.figures.paper import fig2_key_numbers, fig2_table
from explorer.theory.closed_forms import relative_mse, trig_positive_ratio
from explorer.theory.montecarlo import (
    kernel_estimates,
    orthogonal_gain,
    pair_from_angle,
    pair_from_norms,
    ratio_slice,
    relative_mse_curves,
    relative_mse_mc,
)

ROOT = Path(__file__).resolve().parents[3]


def test_pairs_have_the_requested_geometry():
    x, y = pair_from_norms(1.3, 0.4, 8)
    assert float((x + y).norm()) == pytest.approx(1.3) and float((x - y).norm()) == pytest.approx(
        0.4
    )
    x, y = pair_from_angle(0.9, 2.0, 4)
    assert float(x.norm()) == pytest.approx(0.9) == float(y.norm())
    assert float(x @ y) == pytest.approx(0.81 * math.cos(2.0))
    with pytest.raises(ValueError, match="head_dim"):
        pair_from_norms(1.0, 1.0, 1)


@pytest.mark.parametrize("name", ["trig", "positive", "hyperbolic", "oprf"])
@pytest.mark.parametrize("projection", ["iid", "orthogonal"])
def test_estimates_are_unbiased_with_the_lemma_2_mse(name, projection):
    # |x+y| = 0.8, |x−y| = 0.7: per-vector relative variance ≤ 0.9, so the squared errors are
    # light-tailed and 5 standard errors is a fair test. m = 12 > d = 8 checks that every draw
    # gets its own whole orthogonal blocks (truncated to m rows).
    x, y = pair_from_norms(0.8, 0.7, 8)
    sm = math.exp(float(x @ y))
    est = kernel_estimates(name, x, y, num_features=12, draws=3000, projection=projection, seed=4)
    assert est.shape == (3000,)
    assert abs(est.mean() - sm) < 5 * est.std() / math.sqrt(est.size)
    if projection == "iid":  # the closed form is for iid rows; orthogonal ones do better
        mc, se = relative_mse_mc(name, x, y, num_features=12, draws=3000, seed=4)
        theory = relative_mse(name, sq_sum=0.64, sq_diff=0.49, num_features=12, head_dim=8)
        assert abs(mc - float(theory)) < 5 * se


def test_estimator_requests_are_checked():
    x, y = pair_from_norms(1.0, 1.0, 4)
    with pytest.raises(ValueError, match="substitute"):
        kernel_estimates("relu", x, y, num_features=4, draws=10)
    with pytest.raises(ValueError, match="draws"):
        kernel_estimates("positive", x, y, num_features=4, draws=1)
    with pytest.raises(ValueError, match="vary"):
        relative_mse_curves(vary="both", values=[1.0], fixed=1.0, head_dim=4, num_features=4)


def test_relative_mse_curves_hold_one_norm_fixed():
    table = relative_mse_curves(
        vary="sum", values=[0.2, 0.6], fixed=0.5, head_dim=8, num_features=8, draws=400
    )
    assert list(table.columns) == ["feature_map", "sum_norm", "diff_norm", "theory", "mc", "mc_se"]
    assert len(table) == 8 and (table["diff_norm"] == 0.5).all()
    trig = table[table["feature_map"] == "trig"]["theory"].to_numpy()
    assert trig[0] == pytest.approx(trig[1])  # trig depends on |x − y| only
    positive = table[table["feature_map"] == "positive"]
    expected = np.expm1(positive["sum_norm"].to_numpy() ** 2) / 8
    np.testing.assert_allclose(positive["theory"], expected)
    assert (table["mc_se"] > 0).all()


def test_ratio_slice_follows_fig_2():
    angles = [-2.5, 0.8, 2.5]
    table = ratio_slice(angles, length=0.7, head_dim=8, num_features=8, draws=3000)
    np.testing.assert_allclose(table["theory"], trig_positive_ratio(np.array(angles), 0.7))
    # Light tails at l = 0.7: the Monte Carlo ratio lands within 25 % of the closed form.
    np.testing.assert_allclose(table["mc"], table["theory"], rtol=0.25)
    assert table["mc"].iloc[0] > 1 > table["mc"].iloc[1]  # positive wins at obtuse angles


def test_orthogonal_rows_do_better_than_iid_ones():
    table = orthogonal_gain([1, 4, 8], length=0.5, angle=1.0, head_dim=8, draws=3000)
    assert (table["orthogonal_bound"] <= table["iid_theory"]).all()
    assert table["orthogonal_bound"].iloc[0] == table["iid_theory"].iloc[0]  # no gap at m = 1
    last = table.iloc[-1]  # m = d: Theorem 2's bound holds up to Monte Carlo noise
    assert last.orthogonal_mc <= last.orthogonal_bound + 5 * last.orthogonal_se
    assert last.orthogonal_mc < last.iid_mc


def _runs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feature_map": ["a", "a", "a", "a", "b", "b", "b", "b"],
            "num_features": [4, 4, 16, 16, 4, 4, 16, 16],
            "output_relative_error": [1.0, 3.0, 0.5, 0.5, 0.1, 0.3, 0.2, 0.2],
            "uniform_baseline_error": [0.4] * 8,
            "mean_pair_sq_sum": [2.0] * 8,
        }
    )


def test_seed_summary_and_breakdown():
    summary = seed_summary(_runs(), x="num_features", by=("feature_map",))
    first = summary.iloc[0]
    assert (first["mean"], first.low, first.high, first.runs) == (2.0, 1.0, 3.0, 2)
    assert first["std"] == pytest.approx(math.sqrt(2.0))
    assert summary.iloc[1]["std"] == 0.0 and (summary["baseline"] == 0.4).all()
    # Along x, "a" stays above the baseline from x = 4 on; "b" ends below it.
    assert breakdown(summary, x="num_features") == {"a": 4.0, "b": None}
    np.testing.assert_allclose(
        error_ratio(summary, x="num_features", numerator="b", denominator="a"), [0.1, 0.4]
    )
    with pytest.raises(ValueError, match="no curve"):
        error_ratio(summary, x="num_features", numerator="oprf", denominator="a")
    assert error_metric(_runs()) == "output_relative_error"
    no_v = _runs().assign(output_relative_error=None)
    assert error_metric(no_v) == "weights_relative_error"
    with pytest.raises(ValueError, match="no column"):
        seed_summary(_runs(), x="input_scale", by=("feature_map",))


def test_delta_method_curve_scales_like_a_direct_evaluation():
    config = ExperimentConfig(seq_len=24, head_dim=8, input_scale=0.3, num_features=16)
    curve = delta_method_curve(predict_output_error(config), reference_m=16, ms=[4, 64])
    for m, predicted, valid in zip(
        curve.num_features, curve.predicted, curve["valid"], strict=True
    ):
        direct = predict_output_error(replace(config, num_features=int(m)))
        assert predicted == pytest.approx(direct.predicted_relative_error, rel=1e-9)
        assert valid == direct.valid
    assert smallest_valid_m(curve) in (4, 64, None)


def test_temperature_axis():
    scales = softmax_scales(16, [0.5, 2.0])
    assert scales == [0.125, 0.5]
    table = with_temperature(pd.DataFrame({"softmax_scale": scales}), 16)
    np.testing.assert_allclose(table["temperature"], [0.5, 2.0])


def test_fig2_is_the_closed_form_on_the_paper_grid():
    table = fig2_table("quick")
    assert list(table.columns) == ["angle", "length", "ratio", "log10_ratio"]
    assert len(table) == 25 * 17 and np.isclose(table["length"], 1.0).any()
    finite = table[np.isfinite(table["ratio"])]
    np.testing.assert_allclose(finite["ratio"], trig_positive_ratio(finite.angle, finite.length))
    crossing = fig2_key_numbers(table)["crossing angle at l=1 (r = 1)"]
    assert trig_positive_ratio(crossing, 1.0) > 1 > trig_positive_ratio(crossing - 0.3, 1.0)
    with pytest.raises(ValueError, match="no input scale"):
        figures.figure_table("fig2", size="quick", scale=0.5)
    with pytest.raises(ValueError, match="unknown figure"):
        figures.figure_table("fig9")
    with pytest.raises(ValueError, match="unknown size"):
        figures.figure_table("fig4", size="huge")


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    figures.add_arguments(parser)
    return parser.parse_args(argv)


def test_fig4_command_writes_the_runs_of_compare(tmp_path, capsys):
    assert figures.run(_cli(["fig4", "--out", str(tmp_path), "--size", "quick", "--quiet"])) == 0
    table = pd.read_csv(tmp_path / "fig4_quick.csv")
    assert len(table) == 3 * 4 * 3  # samples × {orthogonal, iid} × {positive, trig} × m
    assert set(table.feature_map) == {"positive", "trig"} and set(table.num_features) == {4, 16, 64}
    assert (tmp_path / "fig4_quick.html").stat().st_size > 1e6  # plotly.js embedded
    assert "iid positive, m=64: MSE mean" in capsys.readouterr().out
    row = table[(table.projection == "iid") & (table["sample"] == 1)].iloc[0]
    config = ExperimentConfig(
        feature_map=row.feature_map, num_features=int(row.num_features), projection="iid",
        seq_len=int(row.seq_len), head_dim=int(row.head_dim), input_scale=float(row.input_scale),
        data_seed=1, seed=1, device="cpu",
    )  # fmt: skip
    with torch.no_grad():
        expected = compare(config, with_maps=False).metrics.output_relative_error
    assert row.output_relative_error == pytest.approx(expected, rel=1e-5)


def test_fig2_command_with_small_html(tmp_path):
    out = tmp_path / "figs"
    assert (
        figures.run(_cli(["fig2", "--out", str(out), "--size", "quick", "--cdn", "--quiet"])) == 0
    )
    assert (out / "fig2_quick.html").stat().st_size < 100_000  # plotly.js from the CDN
    assert (out / "fig2_quick.png").exists() == figures.can_write_png()
    assert figures.stem("fig4", size="paper", scale=0.7) == "fig4_sigma0.7"
    paths, numbers = figures.write_figure("fig4", out, size="quick", scale=0.7, plotlyjs="cdn")
    assert paths["csv"].name == "fig4_quick_sigma0.7.csv" and paths["csv"].exists()
    assert numbers["sigma"] == 0.7


def test_python_m_explorer_figure(tmp_path):
    from explorer.cli import main as cli

    if "figure" not in cli.build_parser().format_help():
        pytest.skip("explorer.cli.main has no `figure` subcommand yet (wired from figures.run)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "figure", "fig2", "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fig2.csv").exists() and (tmp_path / "fig2.html").exists()
