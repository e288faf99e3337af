"""Attention Approximation Explorer: exact softmax attention vs random-feature approximations.

Shape legend, used in every docstring and shape comment:
    b batch   h heads   l query length   s key length (= l for self-attention)
    d head dim (q, k)   e value dim   m random vectors (rows of W)
    q, k: (..., l|s, d)   v: (..., s, e)   W: (m, d)   φ(q): (..., l, m')   weights: (..., l, s)
Leading dims (b, h) broadcast. x = q·√scale and y = k·√scale (scale = 1/√d by default), so
exp(x·y) is the softmax kernel.
"""

from explorer.errors import BudgetError, ExplorerError, InputError
from explorer.exact import softmax_attention
from explorer.experiment import Comparison, ExperimentConfig, compare
from explorer.feature_maps import FEATURE_MAPS, FeatureMap, get_feature_map
from explorer.inputs import AttentionInputs, gaussian_inputs
from explorer.linear import approximate_weights, linear_attention
from explorer.projections import PROJECTIONS, draw_projection
from explorer.sweep import sweep

__all__ = [
    "FEATURE_MAPS",
    "PROJECTIONS",
    "AttentionInputs",
    "BudgetError",
    "Comparison",
    "ExperimentConfig",
    "ExplorerError",
    "FeatureMap",
    "InputError",
    "approximate_weights",
    "compare",
    "draw_projection",
    "gaussian_inputs",
    "get_feature_map",
    "linear_attention",
    "softmax_attention",
    "sweep",
]
