"""The recipes side by side on one input: what each peer's users get, over a few seeds.

For each recipe (``kernels.recipes``) and seed: ``compare`` on the same inputs with the same m.
Per recipe, over the seeds: the output's relative error ‖Ŷ − Y‖/‖Y‖ (mean ± std), its
distance to uniform attention ‖Ŷ − U‖/‖Y‖ (U = mean of the visible values; the exact output
sits at ‖Y − U‖/‖Y‖, the uniform baseline, and an output collapsing to uniform goes to 0), the
error of the seed-averaged output ‖mean Ŷ − Y‖/‖Y‖ (bias, plus noise shrinking as 1/√seeds),
how many distinct W the seeds drew (1: the seed does not move W, as in google's data-seeded
redraws) and the unfixed QR's bias in W itself: the mean of w·e₁/|w| over the first row of
every block (Householder QR gives Q[0, 0] < 0 always, so ≈ −√(2/(πd)) without the sign fix
and 0 ± noise with it). Every number covers all heads × query rows of the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from explorer.cancel import checkpoint
from explorer.experiments.compare import ExperimentConfig, compare, synthetic_inputs
from explorer.experiments.config import resolve_softmax
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.kernels.feature_maps import get_feature_map
from explorer.kernels.projections import draw_projection
from explorer.kernels.recipes import RECIPES, get_recipe
from explorer.reference.metrics import uniform_output
from explorer.streams import stream

RECIPE_COLUMNS = (
    "recipe",
    "label",
    "output_error_mean",
    "output_error_std",
    "uniform_baseline_error",
    "distance_to_uniform",
    "seed_mean_error",
    "distinct_w",
    "qr_first_entry_mean",
    "seeds",
    "num_features",
    "peer_default_m",
    "feature_eps",
    "normalizer_eps",
    "sign_fix",
    "seed_policy",
    "rows",
    "kernel",
)

RECIPE_HEADERS = {  # column → what the number is and what it covers, for tables
    "recipe": "recipe",
    "output_error_mean": "‖Ŷ − Y‖/‖Y‖, mean over seeds (all rows)",
    "output_error_std": "‖Ŷ − Y‖/‖Y‖, std over seeds",
    "uniform_baseline_error": "uniform baseline ‖U − Y‖/‖Y‖",
    "distance_to_uniform": "‖Ŷ − U‖/‖Y‖, mean over seeds (0: collapsed to uniform)",
    "seed_mean_error": "‖mean over seeds of Ŷ − Y‖/‖Y‖ (bias + noise/√seeds)",
    "distinct_w": "distinct W over the seeds",
    "qr_first_entry_mean": "mean w₁·e₁/|w₁|, first row of each block × seeds (plain QR: < 0)",
    "seeds": "seeds",
    "num_features": "m (rows of W) used",
    "peer_default_m": "the peer's default m at this d",
    "feature_eps": "ε after the exp (numerator and normaliser)",
    "normalizer_eps": "ε in the normaliser only",
    "sign_fix": "QR sign fix",
    "seed_policy": "who seeds W",
    "rows": "rows covered (heads × queries)",
    "kernel": "kernel its φ(x)·φ(y) estimates",
}


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _w(config: ExperimentConfig, inputs: AttentionInputs, seed: int) -> torch.Tensor | None:
    """W that ``seed`` draws under the config's recipe (None: a deterministic map). (m, d)."""
    recipe, d = get_recipe(config.recipe), inputs.head_dim
    if recipe.peer:
        return recipe.draw(config.num_features, d, seed=seed, queries=inputs.q)
    if not get_feature_map(config.feature_map).uses_projection:
        return None
    return draw_projection(
        config.projection, config.num_features, d, stream=stream("features", seed)
    )


def _first_entries(w: torch.Tensor, head_dim: int) -> list[float]:
    """w·e₁/|w| of the first row of each d-row block: plain QR makes it negative, always."""
    firsts = w[::head_dim]  # (⌈m/d⌉, d): row 0 of every block
    return (firsts[:, 0] / firsts.norm(dim=-1)).tolist()


def recipe_table(
    config: ExperimentConfig,
    inputs: AttentionInputs | None = None,
    *,
    recipes: Sequence[str] = tuple(RECIPES),
    seeds: Sequence[int] = range(4),
) -> pd.DataFrame:
    """One row per recipe over ``seeds`` (see the module docstring); needs values V."""
    inputs = synthetic_inputs(config) if inputs is None else inputs
    if inputs.v is None:
        raise ValueError("comparing recipes needs values V: their outputs are compared")
    if len(seeds) < 1:
        raise ValueError("comparing recipes needs at least one seed")
    softmax = resolve_softmax(config, inputs)
    v = torch.as_tensor(np.repeat(inputs.v, inputs.group, axis=0)).double()  # (h, s, e)
    uniform = uniform_output(
        v, inputs.q.shape[-2], causal=softmax.causal, window=softmax.window
    ).numpy()  # (h, l, e)
    rows = []
    for name in recipes:
        recipe = get_recipe(name)
        outputs, errors, distances, draws, firsts = [], [], [], set(), []
        chosen = replace(config, recipe=name)
        for seed in seeds:
            checkpoint()
            result = compare(replace(chosen, seed=seed), inputs, with_maps=False)
            approx, exact = result.approx_output.astype(np.float64), result.exact_output
            exact = exact.astype(np.float64)
            outputs.append(approx)
            errors.append(_relative(approx, exact))
            distances.append(float(np.linalg.norm(approx - uniform) / np.linalg.norm(exact)))
            w = _w(chosen, inputs, seed)
            draws.add(b"" if w is None else w.numpy().tobytes())
            firsts += [] if w is None else _first_entries(w, inputs.head_dim)
        rows.append(
            {
                "recipe": name,
                "label": recipe.label,
                "output_error_mean": float(np.mean(errors)),
                "output_error_std": float(np.std(errors, ddof=1)) if len(errors) > 1 else 0.0,
                "uniform_baseline_error": _relative(uniform, exact),
                "distance_to_uniform": float(np.mean(distances)),
                "seed_mean_error": _relative(np.mean(outputs, axis=0), exact),
                "distinct_w": len(draws),
                "qr_first_entry_mean": float(np.mean(firsts)) if firsts else float("nan"),
                "seeds": len(seeds),
                "num_features": config.num_features,
                "peer_default_m": recipe.default_m(inputs.head_dim) if recipe.default_m else None,
                "feature_eps": recipe.feature_eps,
                "normalizer_eps": recipe.normalizer_eps + recipe.normalizer_guard,
                "sign_fix": recipe.sign_correction,
                "seed_policy": recipe.seed_policy,
                "rows": int(np.prod(exact.shape[:-1])),
                "kernel": result.estimates.summary,
            }
        )
    return pd.DataFrame(rows, columns=list(RECIPE_COLUMNS))
