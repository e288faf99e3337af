"""The report's units on a Ray cluster: one task per (layer, head block), results as local ones.

Optional (``requirements-scale.txt``). A layer's inputs go into the object store once
(``ray.put``) and every task of that layer receives the reference, never its own pickled copy;
each task runs ``report_units.run_unit``, the very code of the local executor, so the cells
are identical (same seeds, same streams, same blocks). Tasks ask for one GPU where the
cluster has GPUs (the grid's device "auto" then picks it), else one CPU. Without an address
(``--address`` or ``RAY_ADDRESS``) a local Ray is started for the run. Cancellation: the
caller's ``checkpoint()`` is polled while waiting, and pending tasks are cancelled.
"""

from __future__ import annotations

import pandas as pd

from explorer.cancel import Cancelled, checkpoint
from explorer.errors import ExplorerError
from explorer.experiments.report_grid import ReportGrid
from explorer.experiments.report_units import Unit, run_unit
from explorer.inputs.attention_inputs import AttentionInputs

INSTALL_HINT = "the ray executor needs Ray: pip install -r requirements-scale.txt"
WAIT_S = 0.5  # how often a waiting caller checks for cancellation


def _ray():
    try:
        import ray
    except ImportError:
        raise ExplorerError(INSTALL_HINT) from None
    return ray


def connect(address: str | None = None):
    """Ray, initialised: the cluster at ``address``, or a local one when None."""
    ray = _ray()
    if not ray.is_initialized():
        options = {"include_dashboard": False, "log_to_driver": False}
        ray.init(address=address, ignore_reinit_error=True, **options)
    return ray


def _remote(ray):
    @ray.remote
    def report_unit(unit: Unit, inputs: AttentionInputs, grid: ReportGrid) -> pd.DataFrame:
        return run_unit(unit, inputs, grid)

    return report_unit


def run_on_ray(
    work: list[Unit], inputs: AttentionInputs, grid: ReportGrid, *, address: str | None = None
) -> list[pd.DataFrame]:
    """Frames of ``work`` in order, computed as Ray tasks."""
    ray = connect(address)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    task = _remote(ray).options(num_gpus=gpus, num_cpus=0 if gpus else 1)
    shared = ray.put(inputs)  # once per layer: every task reads this one object
    pending = [task.remote(unit, shared, grid) for unit in work]
    waiting = list(pending)
    try:
        while waiting:
            _, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=WAIT_S)
            checkpoint()
    except Cancelled:
        for ref in waiting:
            ray.cancel(ref, force=True)
        raise
    return ray.get(pending)
