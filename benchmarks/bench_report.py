"""The model report's speed goals, measured side by side in one run (not a timed test).

    python benchmarks/bench_report.py [--long-heads 2 | --long-full] [--skip long,favor,ray]

1. sample: the default report on the shipped all-MiniLM-L6-v2 sample (6 layers × 12 heads ×
   4 maps × 7 m × 3 seeds = 6,048 cells) against the same grid as a loop of ``compare`` (one
   call per layer, map, m and seed, all heads at once). Goal: ≤ 10 s and ≥ 5× faster. Both run
   with the same torch threads (the report's choice for tiny blocks: one), so the ratio is the
   algorithm's, not the thread pool's; both are warmed up first, then timed in interleaved
   rounds (the best of each).
2. long: a synthetic 12-layer × 12-head capture at L = 4096, d = 64, same grid, row sample
   1024. Goal: ≤ 15 min, ≤ 3 GB peak RSS. ``--long-heads N`` times N heads of one layer and
   extrapolates linearly to 144 heads (every head costs the same here: same L, d, grid); the
   output says it is an extrapolation. ``--long-full`` runs all 144 heads instead, as the CLI
   would (checkpointing each layer into a temporary folder). Peak RSS is the process's own.
3. favor: ``favor_attention`` against its roofline (the same matrix products, nothing else) at
   L = 16384, B 1, H 8, d 64, m 256, non-causal, interleaved rounds, the median. Goal ≤ 1.5×.
4. ray: the sample report (a smaller grid) on the local executor and on a local Ray with 2
   CPUs (start-up timed apart; a first run with cold workers, which import torch, then a warm
   one): the overhead at this size. Skipped without Ray.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's explorer

import torch  # noqa: E402

from explorer.experiments.compare import compare  # noqa: E402
from explorer.experiments.report import model_report, small_work_threads  # noqa: E402
from explorer.experiments.report_grid import ReportGrid  # noqa: E402
from explorer.inputs.capture import load_sample  # noqa: E402
from explorer.inputs.synthetic import SyntheticSpec, structured_inputs  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _compare_loop(sample, grid: ReportGrid) -> None:
    for layer in range(sample.num_layers):
        inputs = sample.layer(layer)
        with small_work_threads(inputs):
            for name in grid.feature_maps:
                for m in grid.num_features:
                    for seed in grid.seeds:
                        compare(
                            grid.cell_config(name, grid.projections[0], m, seed),
                            inputs,
                            with_maps=False,
                        )


def bench_sample(rounds: int = 2) -> None:
    from explorer.experiments.report_units import _draw

    sample, grid = load_sample(), ReportGrid()
    model_report(sample, replace(grid, layers=(0,)))  # warm both up: first calls cost extra
    _compare_loop(sample, replace(grid, num_features=(16,), seeds=(0,)))
    times: dict[str, list[float]] = {"report": [], "loop": []}
    for _ in range(rounds):  # interleaved: a load spike hits both
        _draw.cache_clear()  # a fresh process draws W once per (projection, seed): so here
        start = time.perf_counter()
        report = model_report(sample, grid)
        times["report"].append(time.perf_counter() - start)
        start = time.perf_counter()
        _compare_loop(sample, grid)
        times["loop"].append(time.perf_counter() - start)
    t_report, t_loop = (min(times[name]) for name in ("report", "loop"))
    print(
        f"sample: {len(report.cells):,} cells; report {t_report:.2f} s (goal ≤ 10 s), "
        f"loop of compare {t_loop:.2f} s ({sample.num_layers * grid.cells_per_head} "
        f"calls): {t_loop / t_report:.1f}× faster (goal ≥ 5×; best of {rounds} interleaved "
        f"rounds, after a warm-up; report runs {', '.join(f'{t:.2f}' for t in times['report'])}"
        f" s, loops {', '.join(f'{t:.2f}' for t in times['loop'])} s)"
    )


class _Synthetic:
    """12 layers × h heads at L, d, drawn per layer (its own data seed), never all at once."""

    def __init__(self, heads: int, length: int, num_layers: int = 12) -> None:
        self.heads, self.length, self.num_layers = heads, length, num_layers

    def layer(self, index: int):
        spec = SyntheticSpec(
            kind="clustered",
            num_heads=self.heads,
            seq_len=self.length,
            head_dim=64,
            input_scale=0.5,
            seed=100 + index,
        )
        return structured_inputs(spec)


def bench_long(heads: int) -> None:
    grid = ReportGrid(row_sample=1024, layers=(0,))
    source = _Synthetic(heads, 4096)
    start = time.perf_counter()
    report = model_report(source, grid)
    seconds = time.perf_counter() - start
    total = 12 * 12
    print(
        f"long: L = 4096, d = 64, row sample 1024: {heads} head(s) of one layer, "
        f"{len(report.cells):,} cells in {seconds:.1f} s; extrapolated to 12 × 12 = {total} "
        f"heads: {seconds * total / heads / 60:.1f} min (goal ≤ 15 min); peak RSS "
        f"{peak_rss_gb():.2f} GB (goal ≤ 3 GB; per layer, so it does not grow with layers)"
    )


def bench_long_full() -> None:
    import tempfile

    source = _Synthetic(12, 4096)
    grid = ReportGrid(row_sample=1024)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        report = model_report(source, grid, out_dir=folder)
        seconds = time.perf_counter() - start
    print(
        f"long (full): L = 4096, d = 64, row sample 1024, 12 layers × 12 heads measured: "
        f"{len(report.cells):,} cells in {seconds / 60:.1f} min (goal ≤ 15 min); peak RSS "
        f"{peak_rss_gb():.2f} GB (goal ≤ 3 GB)"
    )


def bench_favor(rounds: int = 7) -> None:
    from explorer.attention.favor import favor_attention
    from explorer.bench.methods import favor_products

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 8, 16384, 64, generator=g) * s for s in (0.35, 0.35, 1.0))
    w = torch.randn(256, 64, generator=g)
    roof = favor_products(q, k, v, w, causal=False)
    times = {"favor": [], "roofline": []}
    for _ in range(2):
        favor_attention(q, k, v, w), roof()
    for _ in range(rounds):  # interleaved: a load spike hits both
        start = time.perf_counter()
        favor_attention(q, k, v, w)
        times["favor"].append(time.perf_counter() - start)
        start = time.perf_counter()
        roof()
        times["roofline"].append(time.perf_counter() - start)
    f, r = (statistics.median(times[name]) for name in ("favor", "roofline"))
    print(
        f"favor: L = 16384, B 1, H 8, d 64, m 256: favor {f * 1e3:.0f} ms, roofline "
        f"{r * 1e3:.0f} ms: {f / r:.2f}× (goal ≤ 1.5×; median of {rounds})"
    )


def bench_ray() -> None:
    try:
        import ray
    except ImportError:
        print("ray: skipped (pip install -r requirements-scale.txt)")
        return
    sample = load_sample()
    grid = replace(ReportGrid(), feature_maps=("positive", "oprf"), device="cpu")
    model_report(sample, replace(grid, layers=(0,)))  # warm: the local run's first call
    start = time.perf_counter()
    local = model_report(sample, grid)
    t_local = time.perf_counter() - start
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    t_start = time.perf_counter() - start
    runs = []
    for _ in range(2):  # the first run's workers import torch and the explorer: cold
        start = time.perf_counter()
        remote = model_report(sample, grid, executor="ray")
        runs.append(time.perf_counter() - start)
    ray.shutdown()
    same = local.cells.equals(remote.cells)
    print(
        f"ray: sample, {len(local.cells):,} cells, 6 tasks (one a layer, pipelined)\n"
        f"  executor           seconds\n  local (1 process)  {t_local:7.2f}\n"
        f"  ray, cold workers  {runs[0]:7.2f}  (+ {t_start:.1f} s to start a local Ray, 2 CPUs)\n"
        f"  ray, warm workers  {runs[1]:7.2f}\n  identical cells: {same}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-heads", type=int, default=2, help="heads of the L = 4096 run")
    parser.add_argument(
        "--long-full", action="store_true", help="run all 144 heads (≈ 15 min), no extrapolation"
    )
    parser.add_argument("--skip", default="", help="comma-separated: sample,long,favor,ray")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    long = bench_long_full if args.long_full else lambda: bench_long(args.long_heads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, run in (("sample", bench_sample), ("long", long),
                      ("favor", bench_favor), ("ray", bench_ray)):  # fmt: skip
        if name not in skip:
            run()
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
