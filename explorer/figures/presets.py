"""Paper figures as presets: one registry shared by the app and ``python -m explorer figure``.

A preset turns a size ("paper" or "quick") into a tidy table (the CSV) and the table into a
plotly figure; the app caches the table, the command line writes ``NAME.csv`` and ``NAME.html``
(plus ``NAME.png`` when kaleido and /usr/bin/chromium are both present). Register a new figure
(Fig. 3, speed vs L from ``explorer.bench.run``) by adding one ``FigurePreset`` to ``FIGURES``.
Sources: Performer (Choromanski et al. 2021, arXiv 2009.14794 v4), Figs. 2 and 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explorer.charts.scaling import paper_fig4
from explorer.charts.theory import ratio_map_chart
from explorer.figures import paper, speed
from explorer.theory.closed_forms import trig_positive_ratio

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True, kw_only=True)
class FigurePreset:
    """One reproducible figure: table(size, scale=, progress=) → CSV rows, build(table) → plot."""

    name: str
    title: str
    source: str  # the paper and figure number it reproduces
    notes: str  # what is reproduced, how, and what differs from the paper
    sizes: tuple[str, ...]  # the first is the paper's size
    table: Callable[..., pd.DataFrame]
    build: Callable[[pd.DataFrame], go.Figure]
    key_numbers: Callable[[pd.DataFrame], dict[str, float]]
    default_scale: float | None = None  # σ of the inputs, where the preset draws any


def fig2_figure(
    table: pd.DataFrame, *, slice_length: float = 1.0, slice_mc: pd.DataFrame | None = None
) -> go.Figure:
    """The r(φ, l) map of a fig2 table, its slice at ``slice_length`` and optional MC points."""
    grid = table.pivot(index="length", columns="angle", values="ratio")
    fine = np.linspace(-math.pi, math.pi, 401)
    curve = pd.DataFrame({"angle": fine, "theory": trig_positive_ratio(fine, slice_length)})
    return ratio_map_chart(
        grid.columns.to_numpy(),
        grid.index.to_numpy(),
        grid.to_numpy(),
        slice_length=slice_length,
        slice_curve=curve,
        slice_mc=slice_mc,
        title=FIGURES["fig2"].title,
    )


def _fig4_figure(table: pd.DataFrame) -> go.Figure:
    first = table.iloc[0]
    samples = table["sample"].nunique()
    title = (
        f"{FIGURES['fig4'].title}<br><sup>L = {first.seq_len}, d = {first.head_dim}, "
        f"σ = {first.input_scale:g} (mean |x+y|² = {table.mean_pair_sq_sum.mean():.2g}), "
        f"mean ± std over {samples} samples</sup>"
    )
    return paper_fig4(paper.fig4_summary(table), title=title)


FIGURES: MappingProxyType[str, FigurePreset] = MappingProxyType(
    {
        "fig2": FigurePreset(
            name="fig2",
            title="Performer Fig. 2: r(φ, l) = MSE_trig / MSE_pos",
            source="Choromanski et al. 2021, Fig. 2 (closed form of Lemma 2)",
            notes="Closed form on the paper's domain φ ∈ [−π, π], l ∈ [−2, 2]; the right panel "
            "is the slice at l = 1. m cancels. Red (r > 1): positive features have the lower "
            "MSE, i.e. for small kernel values (obtuse angles).",
            sizes=tuple(paper.FIG2_SIZES),
            table=paper.fig2_table,
            build=fig2_figure,
            key_numbers=paper.fig2_key_numbers,
        ),
        "fig4": FigurePreset(
            name="fig4",
            title="Performer Fig. 4: output MSE vs m, {ORF, IID} × {POS, TRIG}",
            source="Choromanski et al. 2021, Fig. 4 (L = 4096, d = 16, 15 samples)",
            notes="Synthetic q, k ~ N(0, σ²), v ~ N(0, 1). The paper does not state its input "
            f"normalisation; σ = {paper.FIG4_SCALE:g} = d^(-1/4) makes E|x|² = 1 (x = q·d^(-1/4)). "
            "Sample i: data seed i, feature seed i. Output MSE averaged over all entries.",
            sizes=tuple(paper.FIG4_SIZES),
            table=paper.fig4_table,
            build=_fig4_figure,
            key_numbers=paper.fig4_key_numbers,
            default_scale=paper.FIG4_SCALE,
        ),
        "fig3": FigurePreset(
            name="fig3",
            title="Performer Fig. 3: time and peak memory vs L",
            source="Choromanski et al. 2021, Fig. 3 (speed vs length; here against SDPA too)",
            notes="Forward pass, B = 1, H = 8, d = 64, m = 256, float32, median of repeats, "
            "peak memory in a fresh process per point (paper size). Naive attention is skipped "
            "where its L×L matrices pass EXPLORER_MEMORY_MB.",
            sizes=tuple(speed.FIG3_SIZES),
            table=speed.fig3_table,
            build=speed.fig3_figure,
            key_numbers=speed.fig3_key_numbers,
        ),
    }
)


def get_figure(name: str) -> FigurePreset:
    """The preset of that name, or a ValueError listing the known ones."""
    try:
        return FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}: use one of {', '.join(FIGURES)}") from None


def figure_table(
    name: str, *, size: str = "paper", scale: float | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """The preset's table (what the CSV holds and ``build`` plots)."""
    preset = get_figure(name)
    if size not in preset.sizes:
        raise ValueError(f"unknown size {size!r} for {name}: use one of {', '.join(preset.sizes)}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    return preset.table(size, scale=scale, progress=progress)
