"""Inputs: Q/K/V as ``AttentionInputs``, from synthetic generators, captures or uploads.

Entry points: ``AttentionInputs`` (``attention_inputs``), ``synthetic.structured_inputs``,
``capture`` (real models), ``uploads.files.load_inputs`` (safe decoding of files) and
``layouts`` (axis orders). May import: the leaves only (errors, device, streams).
"""

from explorer.inputs.attention_inputs import AttentionInputs

__all__ = ["AttentionInputs"]
