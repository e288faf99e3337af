"""A paper figure's files: the tidy CSV, and the figure as HTML and static images.

``write_figure`` computes a preset's table (``presets.FIGURES``), builds its plotly figure and
writes ``STEM.csv`` plus ``STEM.html`` / ``.png`` / ``.svg`` / ``.pdf`` into a folder; the stem
is the name with the size and scale when they are not the paper's (fig4_quick, fig4_sigma0.7).
"""

from __future__ import annotations

from pathlib import Path

from explorer.charts.export import STATIC_FORMATS, ImageExporter
from explorer.figures.presets import FIGURES, Progress, figure_table


def stem(name: str, *, size: str = "paper", scale: float | None = None) -> str:
    """File name without suffix: fig4, fig4_quick, fig4_sigma0.7 ..."""
    parts = [name] + ([size] if size != "paper" else []) + ([f"sigma{scale:g}"] if scale else [])
    return "_".join(parts)


def write_figure(
    name: str,
    out_dir: Path,
    *,
    size: str = "paper",
    scale: float | None = None,
    formats: tuple[str, ...] = ("html",),
    plotlyjs: bool | str = True,
    progress: Progress | None = None,
) -> tuple[dict[str, Path], dict[str, float]]:
    """Write the CSV and each format to ``out_dir``; return the paths and the key numbers.

    ``plotlyjs=True`` embeds plotly.js (a self-contained ~5 MB file); "cdn" loads it from the
    CDN when opened, which keeps copies committed to the repository small.
    """
    table = figure_table(name, size=size, scale=scale, progress=progress)
    preset = FIGURES[name]
    fig = preset.build(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = stem(name, size=size, scale=scale)  # may hold a dot (sigma0.7): no with_suffix
    paths = {"csv": out_dir / f"{base}.csv"}
    table.to_csv(paths["csv"], index=False, float_format="%.8g")
    with ImageExporter() as exporter:  # one browser for every static format (started lazily)
        for fmt in formats:
            path = out_dir / f"{base}.{fmt}"
            if fmt == "html":
                fig.write_html(path, include_plotlyjs=plotlyjs)
            elif fmt in STATIC_FORMATS:
                path.write_bytes(exporter.image(fig, fmt))
            else:
                raise ValueError(f"unknown format {fmt!r}: use html or {', '.join(STATIC_FORMATS)}")
            paths[fmt] = path
    return paths, preset.key_numbers(table)
