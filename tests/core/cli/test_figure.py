"""``python -m explorer figure``: the CSV and the figure files, named as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from explorer.charts.export import static_export_problem
from explorer.cli.main import main
from explorer.experiments.compare import ExperimentConfig, compare
from explorer.figures.files import stem, write_figure
from tests.core.charts.test_export import tick_labels

ROOT = Path(__file__).resolve().parents[3]


def test_fig4_command_writes_the_runs_of_compare(tmp_path, capsys):
    assert main(["figure", "fig4", "--out", str(tmp_path), "--size", "quick", "--quiet"]) == 0
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
    args = ["figure", "fig2", "--out", str(out), "--size", "quick", "--cdn", "--quiet"]
    assert main([*args, "--format", "html,png,svg,pdf"]) == 0
    html = (out / "fig2_quick.html").read_text()
    assert len(html) < 100_000  # plotly.js from the CDN
    assert '"exponentformat":"power"' in html.replace(" ", "")  # the ticks travel in the file
    static = static_export_problem() is None  # kaleido and Chromium present
    written = {fmt: (out / f"fig2_quick.{fmt}").exists() for fmt in ("png", "svg", "pdf")}
    assert written == dict.fromkeys(written, static)
    if static:
        assert (out / "fig2_quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "fig2_quick.pdf").read_bytes()[:5] == b"%PDF-"
        svg = (out / "fig2_quick.svg").read_text()
        labels = tick_labels(svg, "y2tick")  # the slice's log axis: r from 10⁻⁶ to 10⁶
        assert "10−6" in labels and "1" in labels, labels
        assert not any(p in label for label in labels for p in "µμmk"), labels  # no SI prefix
    assert stem("fig4", size="paper", scale=0.7) == "fig4_sigma0.7"
    paths, numbers = write_figure("fig4", out, size="quick", scale=0.7, plotlyjs="cdn")
    assert paths["csv"].name == "fig4_quick_sigma0.7.csv" and paths["csv"].exists()
    assert numbers["sigma"] == 0.7


def test_python_m_explorer_figure(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "figure", "fig2", "--out", str(tmp_path), "--quiet"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fig2.csv").exists() and (tmp_path / "fig2.html").exists()


def test_static_formats_without_a_browser_are_skipped_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    args = ["figure", "fig2", "--out", str(tmp_path), "--size", "quick", "--cdn", "--quiet"]
    assert main([*args, "--format", "html,png,svg"]) == 0  # a note, not an error
    assert "note: png, svg skipped: static images need" in capsys.readouterr().err
    assert (tmp_path / "fig2_quick.html").exists() and not (tmp_path / "fig2_quick.png").exists()
