"""Units of a report: (layer, block of heads) tasks, each computing every cell of its heads.

A unit scales its layer's tensors once, computes the exact side of its heads once
(``report_exact``), draws W of the largest m once per (projection, seed) and runs every map's
cells (``report_cells``). Head blocks are sized so that P of the block over the evaluated rows,
plus the cells' blocks of K, fit the memory budget (``units``); every executor runs the same
units, so their results are identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from explorer.experiments.config import DEFAULTS
from explorer.experiments.report_cells import map_cells
from explorer.experiments.report_exact import exact_heads, head_tensors, seed_rows, union_rows
from explorer.experiments.report_grid import ReportGrid
from explorer.experiments.report_nested import nested_map_cells
from explorer.experiments.report_stats import joined
from explorer.experiments.workspace import Workspace
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.products import shared_products
from explorer.kernels.projections import draw_projection
from explorer.streams import stream

CELL_COLUMNS = (
    "layer",
    "head",
    "feature_map",
    "projection",
    "num_features",
    "seed",
    "output_relative_error",
    "uniform_baseline_error",
    "output_max_abs_error",
    "weights_relative_error",
    "uniform_weights_error",
    "max_abs_error",
    "row_tv_mean",
    "uniform_row_tv_mean",
    "row_kl_mean",
    "row_kl_mean_defined",
    "uniform_row_kl_mean",
    "kl_undefined_rows",
    "rows_evaluated",
)


@dataclass(frozen=True, kw_only=True)
class Unit:
    """One task: the heads ``first`` … ``stop − 1`` of capture entry ``layer``."""

    layer: int
    first: int
    stop: int


def heads_per_unit(num_rows: int, num_keys: int, grid: ReportGrid, itemsize: int = 4) -> int:
    """Heads whose exact P (rows × keys) fits half the memory budget (at least one)."""
    rows = num_rows if grid.row_sample is None else min(num_rows, grid.row_sample * len(grid.seeds))
    return max(1, (grid.memory_budget // 2) // max(1, rows * num_keys * itemsize))


def units(layer: int, inputs: AttentionInputs, grid: ReportGrid) -> list[Unit]:
    """The head blocks of one layer (blocks never split a key head's group needlessly)."""
    step = heads_per_unit(inputs.q.shape[1], inputs.k.shape[1], grid)
    h = inputs.num_heads
    return [Unit(layer=layer, first=a, stop=min(h, a + step)) for a in range(0, h, step)]


@lru_cache(maxsize=64)
def _draw(projection: str, num_features: int, head_dim: int, seed: int):
    """W (M, d) in float64 on the CPU: every layer and unit of a grid shares it (read only)."""
    return draw_projection(projection, num_features, head_dim, stream=stream("features", seed))


def run_unit(unit: Unit, inputs: AttentionInputs, grid: ReportGrid) -> pd.DataFrame:
    """Every cell of the unit's heads as rows of the tidy table (``CELL_COLUMNS``)."""
    tensors = head_tensors(inputs, grid)
    heads = slice(unit.first, unit.stop)
    x, y = tensors.x[heads], tensors.y[heads]  # (n, l, d), (n, s, d)
    v = None if tensors.v is None else tensors.v[heads]  # (n, s, e)
    rows = seed_rows(grid, x.shape[-2])
    exact = exact_heads(
        x, y, v, tensors.softmax, union_rows(rows), memory_budget=grid.memory_budget
    )
    d = x.shape[-1]
    workspace = Workspace()  # the unit's reused block buffers
    tables = []
    for projection in grid.projections:
        draws = [
            _draw(projection, grid.max_features, d, seed).to(x.device, x.dtype, copy=True)
            for seed in grid.seeds
        ]  # (M, d) each: a copy, the cached draw stays untouched
        with shared_products():  # every map of a seed projects the same x, y on the same W
            for name in grid.feature_maps:
                fmap = get_feature_map(name)
                cells_of = nested_map_cells if fmap.nested else map_cells  # same cells, faster
                cells = cells_of(
                    fmap,
                    x,
                    y,
                    v,
                    exact,
                    draws if fmap.uses_projection else [None] * len(draws),
                    rows,
                    grid.num_features,
                    tensors.softmax,
                    memory_budget=grid.memory_budget,
                    chunk_size=DEFAULTS.chunk_size,
                    workspace=workspace,
                )
                size = len(cells["head"])
                cells["head"] = cells["head"] + unit.first
                cells["seed"] = np.asarray(grid.seeds)[cells["seed"]]
                cells["layer"] = np.full(size, unit.layer)
                cells["feature_map"] = np.full(size, name, dtype=object)
                cells["projection"] = np.full(size, projection, dtype=object)
                tables.append(cells)
    frame = pd.DataFrame(joined(tables), columns=list(CELL_COLUMNS))
    return frame.sort_values(["head", "feature_map", "projection", "num_features", "seed"])
