"""A model report: every layer × head of a capture against a grid of maps, projections, m, seeds.

``model_report(source, grid)`` runs the (layer, head-block) units of ``report_units`` on an
executor (local: in this process, layer by layer; ray: ``report_ray``, layers pipelined) and
concludes with ``report_summary``. With ``out_dir`` each finished layer is checkpointed there
as CSV, named by a digest of the grid and of that layer's tensors, so a killed run resumes from
what it wrote and a changed grid or capture never reuses a stale file. ``source`` is anything with
``num_layers`` and ``layer(i) → AttentionInputs`` (both capture classes), or one
``AttentionInputs`` (a report of one layer).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import pandas as pd
import torch

from explorer.cancel import checkpoint
from explorer.errors import ExplorerError
from explorer.experiments.report_grid import ReportGrid
from explorer.experiments.report_summary import (
    model_counts,
    per_map,
    recommendation,
    summary_table,
)
from explorer.experiments.report_units import CELL_COLUMNS, Unit, run_unit, units
from explorer.inputs.attention_inputs import AttentionInputs

Executor = Literal["local", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "ray")
Progress = Callable[[int, int, str], None]  # (units done, units in all, what runs)
CHECKPOINTS = "checkpoints"
SMALL_BLOCK = 256 * 256  # l·s up to which a layer runs on one torch thread


class LayerSource(Protocol):
    num_layers: int

    def layer(self, index: int) -> AttentionInputs: ...


class _OneLayer:
    """An ``AttentionInputs`` as a source of one layer."""

    def __init__(self, inputs: AttentionInputs) -> None:
        self.inputs, self.num_layers = inputs, 1

    def layer(self, index: int) -> AttentionInputs:
        if index != 0:
            raise ExplorerError(f"layer {index} out of range: the inputs have one layer")
        return self.inputs


def as_source(source) -> LayerSource:
    return _OneLayer(source) if isinstance(source, AttentionInputs) else source


@dataclass(frozen=True, eq=False, kw_only=True)
class ModelReport:
    """Every cell, the per-head summary, per-map counts and the recommendation of one report."""

    grid: ReportGrid
    name: str
    cells: pd.DataFrame  # one row per (layer, head, map, projection, m, seed): CELL_COLUMNS
    summary: pd.DataFrame  # one row per (layer, head)
    counts: pd.DataFrame  # one row per map: heads reaching the target at m ≤ 64, 256, 1024
    recommendation: str
    seconds: float  # wall clock of this run (checkpointed layers cost nothing)
    resumed_layers: tuple[int, ...] = ()  # layers read back from checkpoints


def conclude(
    cells: pd.DataFrame, grid: ReportGrid, *, name: str, seconds: float, resumed=()
) -> ModelReport:
    """The summary, counts and sentence of a table of cells."""
    maps = per_map(cells, grid)  # once, for both
    summary = summary_table(cells, grid, maps)
    counts = model_counts(cells, grid, maps)
    return ModelReport(
        grid=grid,
        name=name,
        cells=cells.reset_index(drop=True),
        summary=summary,
        counts=counts,
        recommendation=recommendation(summary, counts, grid),
        seconds=seconds,
        resumed_layers=tuple(resumed),
    )


def layer_digest(inputs: AttentionInputs, grid: ReportGrid) -> str:
    """Digest of a layer's tensors, its softmax settings and the grid (checkpoint names)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps(grid.fingerprint(), sort_keys=True).encode())
    for array in (inputs.q, inputs.k, inputs.v):
        if array is not None:
            h.update(str((array.shape, str(array.dtype))).encode())
            h.update(memoryview(array.tobytes()))
    settings = (inputs.softmax_scale, inputs.causal, inputs.window, inputs.softcap)
    h.update(repr(settings).encode())
    return h.hexdigest()


def _read_checkpoint(path: Path) -> pd.DataFrame | None:
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None  # unreadable (a run killed while writing): recompute the layer
    return frame if list(frame.columns) == list(CELL_COLUMNS) else None


def _write_checkpoint(frame: pd.DataFrame, path: Path) -> None:
    partial = path.with_suffix(".partial")
    frame.to_csv(partial, index=False)
    os.replace(partial, path)  # atomic: a reader never sees half a layer


@contextmanager
def small_work_threads(inputs: AttentionInputs) -> Iterator[None]:
    """One torch thread while the l×s blocks are tiny: intra-op threads then cost more in
    synchronisation than they save (10× slower on a loaded 2-core machine); restored after."""
    before = torch.get_num_threads()
    tiny = inputs.q.shape[1] * inputs.k.shape[1] <= SMALL_BLOCK
    if tiny:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if tiny:
            torch.set_num_threads(before)


def run_local(work: list[Unit], inputs: AttentionInputs, grid: ReportGrid) -> list[pd.DataFrame]:
    """Frames of the units of one layer, in this process."""
    frames = []
    with small_work_threads(inputs):
        for unit in work:
            checkpoint()
            frames.append(run_unit(unit, inputs, grid))
    return frames


def model_report(
    source,
    grid: ReportGrid | None = None,
    *,
    out_dir: str | Path | None = None,
    executor: Executor = "local",
    address: str | None = None,
    progress: Progress | None = None,
) -> ModelReport:
    """Every cell of ``grid`` on every chosen layer × head of ``source``, and the conclusions."""
    grid = ReportGrid() if grid is None else grid
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    source = as_source(source)
    layers = grid.layers if grid.layers is not None else tuple(range(source.num_layers))
    for index in layers:
        if index >= source.num_layers:
            raise ExplorerError(f"layer {index} out of range: the capture has {source.num_layers}")
    folder = None if out_dir is None else Path(out_dir) / CHECKPOINTS
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    start, frames, resumed, names = time.monotonic(), {}, [], []
    total = len(layers)

    def finish(index: int, frame: pd.DataFrame, path: Path | None) -> None:
        if path is not None:
            _write_checkpoint(frame, path)
        frames[index] = frame
        if progress is not None:
            progress(len(frames), total, f"layer {index} done")

    def to_compute():  # (layer, its checkpoint path), inputs, units: one layer loaded at a time
        for index in layers:
            inputs = source.layer(index)
            names.append(str(getattr(source, "model", inputs.name)))
            path = None
            if folder is not None:
                path = folder / f"layer_{index}_{layer_digest(inputs, grid)}.csv"
            frame = None if path is None or not path.is_file() else _read_checkpoint(path)
            if frame is not None:
                resumed.append(index)
                finish(index, frame, None)
                continue
            work = units(index, inputs, grid)
            if progress is not None:
                progress(len(frames), total, f"layer {index}: {len(work)} unit(s)")
            yield (index, path), inputs, work

    if executor == "ray":
        from explorer.experiments.report_ray import run_layers_on_ray

        for (index, path), parts in run_layers_on_ray(to_compute(), grid, address=address):
            finish(index, pd.concat(parts, ignore_index=True), path)
    else:
        for (index, path), inputs, work in to_compute():
            finish(index, pd.concat(run_local(work, inputs, grid), ignore_index=True), path)
    cells = pd.concat([frames[index] for index in layers], ignore_index=True)
    name = next((name for name in names if name), "")
    return conclude(
        cells, grid, name=name, seconds=time.monotonic() - start, resumed=sorted(resumed)
    )
