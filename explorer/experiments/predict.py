"""Closed-form predictions for the current data, beside the measurements.

The delta method (theory notes §2.9) predicts the output error of positive features with m iid
vectors from Q, K, V alone; it is first order in 1/m and trusted only while the normaliser's
relative variance is small (``DeltaMethodPrediction.valid``). O(r·s²) per head, so it runs on a
bounded number of query rows.
"""

from __future__ import annotations

from dataclasses import replace

from explorer.experiments.compare import ExperimentConfig, scaled_tensors, synthetic_inputs
from explorer.experiments.config import resolve_softmax
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.theory.closed_forms import DeltaMethodPrediction, delta_method_output_mse

MAX_PREDICTED_KEYS = 2048  # s² float64 per head must stay small (32 MB at 2048)
MAX_PREDICTED_ROWS = 256


def predict_output_error(
    config: ExperimentConfig, inputs: AttentionInputs | None = None
) -> DeltaMethodPrediction | None:
    """Delta-method prediction for positive features on these inputs, or None if too long.

    Uses the first ``MAX_PREDICTED_ROWS`` queries of every head (all when fewer), on the CPU
    in float64; returns None without V, when s exceeds ``MAX_PREDICTED_KEYS``, or for a
    sliding window or soft-capped logits (the derivation assumes neither).
    """
    inputs = synthetic_inputs(config) if inputs is None else inputs
    softmax = resolve_softmax(config, inputs)
    if inputs.v is None or inputs.k.shape[1] > MAX_PREDICTED_KEYS:
        return None
    if softmax.window is not None or softmax.softcap is not None:
        return None
    x, y, v = scaled_tensors(replace(config, device="cpu", dtype="float64"), inputs)
    rows = slice(0, min(MAX_PREDICTED_ROWS, x.shape[-2]))
    return delta_method_output_mse(
        x, y, v, num_features=config.num_features, causal=softmax.causal, rows=rows
    )
