"""The report's units on a Ray cluster: one task per (layer, head block), results as local ones.

Optional (``requirements-scale.txt``). A layer's inputs go into the object store once
(``ray.put``) and every task of that layer receives the reference, never its own pickled copy;
layers are pipelined (the next are submitted while earlier ones run, a window of about two
units per slot), so a cluster is kept busy across layers, and each layer is handed back (to be
checkpointed) as soon as its units are done. Each task runs ``report_units.run_unit``, the very
code of the local executor, so the cells are identical (same seeds, streams and blocks). Tasks
ask for one GPU where the cluster has GPUs (the grid's device "auto" then picks it), else one
CPU. Without an address (``--address`` or ``RAY_ADDRESS``) a local Ray is started for the run.
Cancellation: the caller's ``checkpoint()`` is polled while waiting, and pending tasks are
cancelled.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator

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


def run_layers_on_ray(
    jobs: Iterable[tuple[Hashable, AttentionInputs, list[Unit]]],
    grid: ReportGrid,
    *,
    address: str | None = None,
) -> Iterator[tuple[Hashable, list[pd.DataFrame]]]:
    """(key, frames of its units in order) for every job (key, layer inputs, units), as each
    layer finishes.

    Layers are pipelined: while one runs, the next are loaded, put into the object store and
    submitted, until about two units per slot of the cluster (CPUs, or GPUs) are pending, so the
    cluster never idles between layers and the driver never holds the whole capture.
    """
    ray = connect(address)
    resources = ray.cluster_resources()
    gpus = 1 if resources.get("GPU", 0) > 0 else 0
    slots = max(1, int(resources.get("GPU" if gpus else "CPU", 1)))
    task = _remote(ray).options(num_gpus=gpus, num_cpus=0 if gpus else 1)
    jobs = iter(jobs)
    running: dict[Hashable, list] = {}  # key → the object refs of its units, in order
    pending: set = set()  # refs not yet seen finished: the only ones waited on
    more = True
    try:
        while True:
            while more and len(pending) < 2 * slots:
                job = next(jobs, None)
                if job is None:
                    more = False
                    break
                key, inputs, work = job
                shared = ray.put(inputs)  # once per layer: every task reads this one object
                running[key] = [task.remote(unit, shared, grid) for unit in work]
                pending.update(running[key])
            if not running:
                return
            if pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_S)
                pending.difference_update(ready)
            checkpoint()
            for key, refs in list(running.items()):
                if pending.isdisjoint(refs):
                    del running[key]
                    yield key, ray.get(refs)
    except (Cancelled, GeneratorExit):
        for refs in running.values():
            for ref in refs:
                ray.cancel(ref, force=True)
        raise
