"""Tables that reproduce the shape of Performer's figures (Choromanski et al. 2021, arXiv v4).

Fig. 2: r(φ, l) = MSE_trig/MSE_pos for |x| = |y| = l at angle φ, on [−π, π] × [−2, 2] (the
paper's domain, "symmetrised around origin"): a closed form (Lemma 2), no sampling.
Fig. 4: output MSE vs m for {orthogonal, iid} × {positive, trig}, L = 4096, d = 16, 15 samples.
The paper does not say how its inputs were normalised; we draw q, k ~ N(0, σ²) with
σ = d^(-1/4) = 0.5, so that x = q·d^(-1/4) has E|x|² = 1 (and E|x+y|² = 2); ``scale`` changes σ.
Sample i draws its data with data_seed = i and its features with seed = i, exactly as
``compare(ExperimentConfig(..., data_seed=i, seed=i))`` would; the exact output is computed once
per sample, and the L×L weight metrics that ``compare`` adds are skipped (they would cost
~5 s per run at L = 4096), so the 480 runs take well under a minute on 2 CPU cores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from explorer.attention.exact import softmax_attention
from explorer.attention.linear import linear_attention
from explorer.cancel import checkpoint
from explorer.experiments.compare import ExperimentConfig, scaled_tensors, synthetic_inputs
from explorer.kernels.exponential import mean_pair_sq_sum
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.reference.metrics import relative_error, uniform_output
from explorer.streams import stream
from explorer.theory.closed_forms import trig_positive_ratio

Progress = Callable[[int, int, str], None]
FIG2_SIZES = {"paper": (121, 81), "quick": (25, 17)}  # (angles, lengths) of the grid
FIG4_SCALE = 0.5  # σ = d^(-1/4) at d = 16: E|x|² = 1


@dataclass(frozen=True, kw_only=True)
class Fig4Size:
    """How much of Fig. 4 to run: L, d, number of samples and the m grid."""

    seq_len: int
    head_dim: int
    samples: int
    num_features: tuple[int, ...]


FIG4_SIZES = {
    "paper": Fig4Size(
        seq_len=4096, head_dim=16, samples=15, num_features=(4, 8, 16, 32, 64, 128, 256, 512)
    ),
    "quick": Fig4Size(seq_len=512, head_dim=16, samples=3, num_features=(4, 16, 64)),
}
FIG4_CURVES = (
    ("orthogonal", "positive"),
    ("iid", "positive"),
    ("orthogonal", "trig"),
    ("iid", "trig"),
)


def _size(sizes: dict, size: str):
    if size not in sizes:
        raise ValueError(f"unknown size {size!r}: use one of {', '.join(sizes)}")
    return sizes[size]


def fig2_table(
    size: str = "paper", *, scale: float | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """r(φ, l) on the paper's grid, l = 1 a grid row. Columns: angle, length, ratio, log10_ratio."""
    if scale is not None:
        raise ValueError("fig2 is a closed form of |x| and the angle: it has no input scale")
    num_angles, num_lengths = _size(FIG2_SIZES, size)
    angles = np.linspace(-math.pi, math.pi, num_angles)
    lengths = np.round(np.linspace(-2.0, 2.0, num_lengths), 10)
    grid_l, grid_a = np.meshgrid(lengths, angles, indexing="ij")
    ratio = trig_positive_ratio(grid_a, grid_l)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log10(ratio)
    if progress is not None:
        progress(1, 1, "closed form evaluated")
    return pd.DataFrame(
        {
            "angle": grid_a.ravel(),
            "length": grid_l.ravel(),
            "ratio": ratio.ravel(),
            "log10_ratio": log_ratio.ravel(),
        }
    )


def fig2_key_numbers(table: pd.DataFrame) -> dict[str, float]:
    """r on the l = 1 slice at a few angles, and where it crosses 1 (positive starts to win)."""
    cut = table[np.isclose(table["length"], 1.0)].sort_values("angle")
    numbers = {
        f"r(φ={a:g}, l=1)": float(trig_positive_ratio(a, 1.0)) for a in (0.5, math.pi / 2, 2.5, 3.0)
    }
    right = cut[cut["angle"] > 0]
    above = right[right["ratio"] > 1]
    numbers["crossing angle at l=1 (r = 1)"] = (
        float(above["angle"].min()) if len(above) else math.nan
    )
    finite = table["log10_ratio"][np.isfinite(table["log10_ratio"])]
    numbers["largest finite log10 r on the grid"] = float(finite.max())
    numbers["smallest finite log10 r on the grid"] = float(finite.min())
    return numbers


def fig4_table(
    size: str = "paper", *, scale: float | None = None, progress: Progress | None = None
) -> pd.DataFrame:
    """One row per (sample, projection, map, m). Columns: sample, projection, feature_map,
    num_features, output_mse, output_relative_error, uniform_mse, uniform_baseline_error,
    mean_pair_sq_sum, negative_rows, small_rows, seq_len, head_dim, input_scale."""
    spec = _size(FIG4_SIZES, size)
    sigma = FIG4_SCALE if scale is None else float(scale)
    total = spec.samples * len(FIG4_CURVES) * len(spec.num_features)
    rows, done = [], 0
    for sample in range(spec.samples):
        config = ExperimentConfig(
            seq_len=spec.seq_len,
            head_dim=spec.head_dim,
            input_scale=sigma,
            data_seed=sample,
            seed=sample,
            device="cpu",
        )
        x, y, v = scaled_tensors(
            config, synthetic_inputs(config)
        )  # (1, L, d), (1, L, d), (1, L, d)
        exact = softmax_attention(x, y, v, scale=1.0)
        uniform = uniform_output(v, spec.seq_len, causal=False)
        common = {
            "sample": sample,
            "uniform_mse": float(((uniform - exact).double() ** 2).mean()),
            "uniform_baseline_error": relative_error(uniform, exact),
            "mean_pair_sq_sum": float(mean_pair_sq_sum(x.double(), y.double()).mean()),
            "seq_len": spec.seq_len,
            "head_dim": spec.head_dim,
            "input_scale": sigma,
        }
        features = stream("features", sample)
        largest = {  # nested draws: W for m is the first m rows of W for the largest m
            projection: draw_projection(
                projection, max(spec.num_features), spec.head_dim, stream=features
            ).to(x.dtype)
            for projection in {p for p, _ in FIG4_CURVES}
        }
        for projection, name in FIG4_CURVES:
            fmap = get_feature_map(name)
            for m in spec.num_features:
                checkpoint()
                w = largest[projection][:m]  # equals compare's draw for this m
                approx = linear_attention(fmap(x, y, w), v)
                diff = (approx.output - exact).double()
                rows.append(
                    {
                        **common,
                        "projection": projection,
                        "feature_map": name,
                        "num_features": m,
                        "output_mse": float((diff**2).mean()),
                        "output_relative_error": relative_error(approx.output, exact),
                        "negative_rows": approx.negative_rows,
                        "small_rows": approx.small_rows,
                    }
                )
                done += 1
                if progress is not None:
                    progress(done, total, f"sample {sample}: {projection} {name}, m = {m}")
    return pd.DataFrame(rows)


def fig4_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of the output MSE over samples per curve and m (the plotted numbers)."""
    grouped = table.groupby(["feature_map", "projection", "num_features"], sort=False)
    summary = grouped.agg(
        mean=("output_mse", "mean"),
        std=("output_mse", "std"),
        low=("output_mse", "min"),
        high=("output_mse", "max"),
        runs=("output_mse", "size"),
        baseline=("uniform_mse", "mean"),
        relative_error=("output_relative_error", "mean"),
        mean_pair_sq_sum=("mean_pair_sq_sum", "mean"),
    )
    return summary.reset_index().fillna({"std": 0.0})


def fig4_key_numbers(table: pd.DataFrame) -> dict[str, float]:
    """Mean output MSE (and relative error) per curve at the smallest, 64 and largest m."""
    summary = fig4_summary(table)
    ms = sorted(summary["num_features"].unique())
    picks = sorted({ms[0], min(ms, key=lambda m: abs(m - 64)), ms[-1]})
    numbers: dict[str, float] = {
        "sigma": float(table["input_scale"].iloc[0]),
        "mean |x+y|^2": float(table["mean_pair_sq_sum"].mean()),
        "uniform baseline MSE": float(table["uniform_mse"].mean()),
        "uniform baseline relative error": float(table["uniform_baseline_error"].mean()),
    }
    for row in summary[summary["num_features"].isin(picks)].itertuples():
        key = f"{row.projection} {row.feature_map}, m={row.num_features}"
        numbers[f"{key}: MSE mean"] = float(row.mean)
        numbers[f"{key}: MSE std"] = float(row.std)
        numbers[f"{key}: relative error"] = float(row.relative_error)
    return numbers
