"""A model report as files: tidy CSV of every cell, the per-head summary, one self-contained HTML.

The HTML page holds plotly.js inline (no network needed to open it), the recommendation, the
per-map counts and the charts of ``charts.report``. Every name that could come from a file
(the model's, in the title) goes through ``for_html``; the CSVs through ``csv_text``.
"""

from __future__ import annotations

from pathlib import Path

from explorer.charts.report import best_map_heatmap, layer_curves, m_needed_heatmap, ratio_heatmap
from explorer.experiments.report import ModelReport
from explorer.untrusted import csv_text, for_html

REPORT_CSV, SUMMARY_CSV, REPORT_HTML = "report.csv", "summary.csv", "report.html"


def chosen_m(report: ModelReport, num_features: int | None = None) -> int:
    """The m of the ratio heatmap: the one asked for if in the grid, else the grid's nearest to
    256 (the m of the default comparison)."""
    grid = report.grid.num_features
    if num_features in grid:
        return int(num_features)
    return int(min(grid, key=lambda m: abs(m - 256)))


def report_html(report: ModelReport, *, num_features: int | None = None) -> str:
    """The whole page as one string."""
    m = chosen_m(report, num_features)
    figures = [ratio_heatmap(report, m), m_needed_heatmap(report), best_map_heatmap(report),
               layer_curves(report)]  # fmt: skip
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(index == 0))
        for index, fig in enumerate(figures)
    ]
    counts = report.counts.to_html(index=False, escape=True, border=0)
    grid = report.grid
    settings = (
        f"{len(report.cells):,} cells: maps {', '.join(grid.feature_maps)}; projections "
        f"{', '.join(grid.projections)}; m {', '.join(map(str, grid.num_features))}; seeds "
        f"{', '.join(map(str, grid.seeds))}. Target: {grid.target_label()}."
        + "".join(f" {note}." for note in grid.notes())
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Model report: {for_html(report.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{padding:2px 10px;text-align:right}}</style>
</head><body>
<h1>Model report: {for_html(report.name)}</h1>
<p><b>{for_html(report.recommendation)}</b></p>
<p>{for_html(settings)}</p>
<h2>Heads reaching the target, per map</h2>
{counts}
{"".join(parts)}
</body></html>
"""


def write_report(report: ModelReport, out_dir: str | Path, *, num_features: int | None = None):
    """Writes report.csv, summary.csv and report.html into ``out_dir``; returns their paths."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / REPORT_CSV, folder / SUMMARY_CSV, folder / REPORT_HTML
    paths[0].write_text(csv_text(report.cells))
    paths[1].write_text(csv_text(report.summary))
    paths[2].write_text(report_html(report, num_features=num_features), encoding="utf-8")
    return paths
