"""The Ray executor gives every cell of the local executor, on a real local Ray (2 CPUs)."""

from __future__ import annotations

import pandas as pd
import pytest

from explorer.experiments.report import model_report
from explorer.experiments.report_grid import ReportGrid
from explorer.inputs.capture import load_sample

ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-scale.txt")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_cells_equal_local(local_ray, monkeypatch):
    from explorer.experiments import report_units

    monkeypatch.setattr(report_units, "heads_per_unit", lambda *a, **k: 5)  # 3 tasks a layer
    sample = load_sample()
    grid = ReportGrid(feature_maps=("positive", "trig"), num_features=(16, 64), seeds=(0, 1),
                      layers=(0, 3), device="cpu")  # fmt: skip
    local = model_report(sample, grid)
    remote = model_report(sample, grid, executor="ray")
    assert len(local.cells) == 2 * sample.num_heads * grid.cells_per_head
    # same code, same streams, same head blocks: every cell equal, to the last bit
    pd.testing.assert_frame_equal(local.cells, remote.cells, check_exact=True)
    pd.testing.assert_frame_equal(local.summary, remote.summary, check_exact=True)


def test_ray_pipelines_layers_and_checkpoints_each(local_ray, tmp_path):
    # The next layers are submitted while the first runs (a window of about two units per CPU:
    # here 4 one-unit layers), each layer is checkpointed as it finishes, and a second run
    # resumes every layer from those files with the same cells.
    sample = load_sample()
    grid = ReportGrid(feature_maps=("positive",), num_features=(16,), seeds=(0,),
                      layers=(0, 1, 2, 3, 4), device="cpu")  # fmt: skip
    events = []
    first = model_report(sample, grid, executor="ray", out_dir=tmp_path,
                         progress=lambda done, total, what: events.append(what))  # fmt: skip
    submitted = [e for e in events if "unit(s)" in e]
    assert len(submitted) == 5 and events.index("layer 1: 1 unit(s)") < events.index("layer 0 done")
    assert len(list((tmp_path / "checkpoints").glob("layer_*.csv"))) == 5
    again = model_report(sample, grid, executor="ray", out_dir=tmp_path)
    assert again.resumed_layers == (0, 1, 2, 3, 4)
    pd.testing.assert_frame_equal(first.cells, again.cells, check_dtype=False, rtol=1e-12)
