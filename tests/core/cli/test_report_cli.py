"""``python -m explorer report``: three files, the JSON summary, inert names, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from explorer.cli.main import main
from explorer.inputs.capture import SAMPLE_PATH
from explorer.inputs.capture_file import Capture, save_capture

GRID = ["--feature-maps", "positive,oprf", "--num-features", "16,64", "--seeds", "2"]


def test_report_writes_csvs_html_and_json(tmp_path, capsys):
    out = tmp_path / "rep"
    code = main(["report", "--input", str(SAMPLE_PATH), "--out", str(out), *GRID,
                 "--layers", "0,5", "--json", "--quiet"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    cells = pd.read_csv(out / "report.csv")
    for column in ("layer", "head", "feature_map", "projection", "num_features", "seed",
                   "output_relative_error", "uniform_baseline_error",
                   "weights_relative_error", "row_tv_mean"):  # fmt: skip
        assert column in cells.columns
    assert len(cells) == 2 * 12 * 2 * 2 * 2 and set(cells["layer"]) == {0, 5}
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 24 and len(payload["summary"]) == 24
    assert {"best_feature_map", "m_needed", "error_at_max_m_oprf"} <= set(summary.columns)
    html = (out / "report.html").read_text()
    assert "Plotly.newPlot" in html and payload["recommendation"].split(":")[0] in html
    assert list((out / "checkpoints").glob("layer_*.csv"))


def test_untrusted_model_name_is_inert(tmp_path, capsys):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 8, 4)).astype(np.float32)
    capture = Capture(q=q, k=q.copy(), v=q.copy(), tokens=tuple("abcdefgh"),
                      model="<script>alert(1)</script>")  # fmt: skip
    path = save_capture(capture, tmp_path / "evil.safetensors")
    assert main(["report", "--input", str(path), "--out", str(tmp_path / "o"), *GRID,
                 "--quiet"]) == 0  # fmt: skip
    html = (tmp_path / "o" / "report.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_bad_options_fail_in_one_line(tmp_path, capsys):
    assert main(["report", "--input", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("explorer: error:") and "\n" not in err
    assert main(["report", "--input", str(SAMPLE_PATH), "--layers", "9", "--quiet",
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "out of range" in capsys.readouterr().err
    assert main(["report", "--input", str(SAMPLE_PATH), "--feature-maps", "nope"]) == 2


def test_report_with_the_learned_map_says_which_rows_its_cells_cover(tmp_path, capsys):
    out = tmp_path / "rep"
    code = main(["report", "--input", str(SAMPLE_PATH), "--out", str(out), "--feature-maps",
                 "positive,hedgehog", "--num-features", "16", "--seeds", "1", "--layers", "5",
                 "--json", "--quiet"])  # fmt: skip
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["notes"]) == 1 and payload["notes"][0].startswith("hedgehog")
    cells = pd.read_csv(out / "report.csv")
    rows = cells.groupby("feature_map")["rows_evaluated"].unique()
    assert list(rows["hedgehog"]) == [31] and list(rows["positive"]) == [63]
    assert "held-out odd rows" in (out / "report.html").read_text()
