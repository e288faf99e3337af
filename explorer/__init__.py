"""Attention Approximation Explorer: exact softmax attention vs random-feature approximations.

Shape legend, used in every docstring and shape comment:
    b batch   h heads   l query length   s key length (= l for self-attention)
    d head dim (q, k)   e value dim   m random vectors (rows of W)
    q, k: (..., l|s, d)   v: (..., s, e)   W: (m, d)   φ(q): (..., l, m')   weights: (..., l, s)
Leading dims (b, h) broadcast. x = q·√scale and y = k·√scale (scale = 1/√d by default), so
exp(x·y) is the softmax kernel.
"""

from explorer.attention.exact import softmax_attention
from explorer.attention.linear import approximate_weights, linear_attention
from explorer.errors import BudgetError, ExplorerError, InputError
from explorer.experiments.compare import Comparison, ExperimentConfig, compare
from explorer.experiments.sweep import sweep
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.synthetic import SyntheticSpec, structured_inputs
from explorer.kernels.feature_maps import FEATURE_MAPS, FeatureMap, get_feature_map
from explorer.kernels.projections import PROJECTIONS, draw_projection

__all__ = [
    "FEATURE_MAPS",
    "PROJECTIONS",
    "SyntheticSpec",
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
    "get_feature_map",
    "linear_attention",
    "softmax_attention",
    "structured_inputs",
    "sweep",
]
