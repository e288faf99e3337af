"""Captures what each attention layer of a Hugging Face model computes, for one text.

The query, key and value are recorded where the model's attention function receives them
(``hf_attention``: after rotary embeddings and q/k norms, key/value heads not repeated), with
each layer's ``scaling``, causal flag, sliding window and soft-cap; the model's own eager
attention still computes the output, so capturing never changes what the model returns.
Hooks on the q/k/v projections would record the states *before* rotary embeddings (and cannot
reshape grouped-query keys by the query head count): softmax over them is not the model's.
The result is a ``capture_file.Capture``; the shipped sample (all-MiniLM-L6-v2, 63 tokens)
needs only safetensors to load. Shapes: q (layers, h, l, d), k, v (layers, h_kv, l, d).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError, InputError
from explorer.inputs.capture_file import Capture, ModelSoftmax, load_capture, save_capture
from explorer.inputs.models import MINILM, LoadedModel, ModelError, load_model

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "SAMPLE_PATH",
    "Capture",
    "capture_model",
    "capture_text",
    "load_capture",
    "load_sample",
    "save_capture",
]

SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "minilm_sample.safetensors"
DEFAULT_MAX_TOKENS = 128
MAX_TOKENS_CAP = 4096  # rotary models state no limit: the capture's size is bounded here


def _checked_layers(layers: Sequence[int] | None, count: int) -> tuple[int, ...]:
    if layers is None:
        return tuple(range(count))
    chosen = tuple(sorted({int(i) for i in layers}))
    if not chosen or chosen[0] < 0 or chosen[-1] >= count:
        raise InputError(f"layers {list(layers)} must lie in 0 … {count - 1} (the model's layers)")
    return chosen


def _one(values: set, what: str, name: str):
    if len(values) != 1:
        raise ModelError(
            f"{name}: its layers use different {what} ({sorted(values, key=str)}); "
            "a capture file holds one: capture the layers that agree with --layers"
        )
    return values.pop()


def _encode(loaded: LoadedModel, text: str, max_tokens: int) -> dict:
    limit = min(loaded.max_positions or MAX_TOKENS_CAP, MAX_TOKENS_CAP)
    if not 2 < max_tokens <= limit:
        raise InputError(f"max_tokens must be between 3 and {limit}, got {max_tokens}")
    if not text.strip():
        raise InputError("the text is empty: type a sentence or two")
    encoded = loaded.tokenizer(text, return_tensors="pt")
    length = encoded["input_ids"].shape[1]
    if length > max_tokens:
        raise InputError(f"the text is {length} tokens long; at most {max_tokens}: shorten it")
    keep = {"input_ids", "attention_mask"}
    if getattr(loaded.model.config, "type_vocab_size", None):
        keep.add("token_type_ids")  # BERT-like models only; decoders take no segment ids
    return {key: value for key, value in encoded.items() if key in keep}


def capture_model(
    loaded: LoadedModel,
    text: str,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    layers: Sequence[int] | None = None,
) -> Capture:
    """Runs the model on ``text`` once and records every (or the chosen) layer's attention."""
    import torch

    from explorer.inputs.hf_attention import AttentionCall, allowed, padding, recording

    encoded = _encode(loaded, text, max_tokens)
    chosen = _checked_layers(layers, loaded.num_layers)
    records: list[AttentionCall] = []
    with torch.inference_mode(), recording(records=records):
        loaded.model(**encoded)
    found = [call.layer for call in records]
    if found != list(range(loaded.num_layers)):
        raise ModelError(
            f"{loaded.name}: expected one self-attention call per layer 0 … "
            f"{loaded.num_layers - 1}, recorded layers {found[:12]}: only self-attention "
            "models (encoders, decoders) can be captured"
        )
    calls = [records[i] for i in chosen]
    for call in calls:
        mask = padding(call)  # the model's own mask must be what the recorded flags say
        if mask is not None and not bool((mask == allowed(call)).all()):
            raise ModelError(
                f"{loaded.name}: layer {call.layer}'s mask is not its causal/window pattern; "
                "the capture file could not state it"
            )
    softmax = ModelSoftmax(
        softmax_scale=_one({c.scaling for c in calls}, "softmax scales", loaded.name),
        causal=_one({c.causal for c in calls}, "causal flags", loaded.name),
        sliding_windows=tuple(c.window for c in calls),
        num_kv_heads=int(calls[0].key.shape[1]),
        softcap=_one({c.softcap for c in calls}, "soft-caps", loaded.name),
    )

    def stack(role: str) -> np.ndarray:
        # each (1, h|h_kv, l, d) -> (h|h_kv, l, d), stacked to (layers, h|h_kv, l, d)
        return np.stack([getattr(c, role)[0].to(torch.float32).cpu().numpy() for c in calls])

    q, k, v = stack("query"), stack("key"), stack("value")
    if not (np.isfinite(q).all() and np.isfinite(k).all() and np.isfinite(v).all()):
        raise ModelError(f"{loaded.name}: the recorded q/k/v hold NaN or Inf")
    ids = encoded["input_ids"][0].tolist()
    return Capture(
        q=q,
        k=k,
        v=v,
        tokens=tuple(str(t) for t in loaded.tokenizer.convert_ids_to_tokens(ids)),
        model=loaded.name,
        text=text,
        softmax=softmax,
        layer_indices=None if layers is None else chosen,
    )


def capture_text(
    text: str,
    *,
    model: str | Path = MINILM,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    layers: Sequence[int] | None = None,
) -> Capture:
    """``capture_model`` of a model directory or the bundled ``"minilm"``, loaded once."""
    return capture_model(load_model(model), text, max_tokens=max_tokens, layers=layers)


def load_sample() -> Capture:
    """The shipped all-MiniLM-L6-v2 capture (scripts/make_sample.py regenerates it)."""
    if not SAMPLE_PATH.is_file():
        raise ExplorerError(f"the sample capture is missing: {SAMPLE_PATH}")
    return load_capture(SAMPLE_PATH)
