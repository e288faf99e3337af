"""The capture file: what each attention layer of a model received, as .safetensors.

Other tools read this format; it stays exactly so. Tensors ``q`` (layers, h, l, d) and ``k``,
``v`` (layers, h_kv, l, d), float32, contiguous. String metadata: ``layout`` = "layers h l d",
``tokens`` (JSON list of l strings), ``model``, ``text``, ``softmax_scale`` (a float: the
layers' ``scaling`` of q·k), ``causal`` ("true"/"false"), ``sliding_windows`` (JSON list, one
entry per layer in the file, an integer w or null; w: query i sees keys i − w < j ≤ i),
``num_kv_heads``. Where a model soft-caps its logits (Gemma 2) ``logit_softcapping`` holds c
of c·tanh(t/c); when only some layers were captured, ``layer_indices`` (JSON list) says which.
Metadata of an uploaded file is untrusted text: ``read_softmax`` parses it strictly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.errors import InputError
from explorer.inputs.attention_inputs import AttentionInputs

LAYOUT = "layers h l d"
SOFTMAX_KEYS = ("softmax_scale", "causal", "sliding_windows", "num_kv_heads", "logit_softcapping")


@dataclass(frozen=True, kw_only=True)
class ModelSoftmax:
    """How the model computed softmax, as a file's metadata says (None: not stated)."""

    softmax_scale: float | None = None
    causal: bool | None = None
    sliding_windows: tuple[int | None, ...] | None = None  # one per layer of the file
    num_kv_heads: int | None = None
    softcap: float | None = None

    def window(self, layer: int | None) -> int | None:
        """The sliding window of the file's layer ``layer`` (None: 3-D data, the only entry)."""
        if not self.sliding_windows:
            return None
        if layer is None:
            if len(self.sliding_windows) != 1:
                raise InputError(
                    f"sliding_windows lists {len(self.sliding_windows)} layers for one layer"
                )
            return self.sliding_windows[0]
        if layer >= len(self.sliding_windows):
            raise InputError(
                f"sliding_windows lists {len(self.sliding_windows)} layers; layer {layer} has none"
            )
        return self.sliding_windows[layer]


def _positive(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"metadata {key} must be a positive number, got {text[:40]!r}")
    return value


def read_softmax(metadata: Mapping[str, str] | None) -> ModelSoftmax:
    """ModelSoftmax from string metadata; a malformed entry is an InputError naming its key."""
    metadata = metadata or {}
    found: dict[str, object] = {}
    if "softmax_scale" in metadata:
        found["softmax_scale"] = _positive("softmax_scale", metadata["softmax_scale"])
    if "logit_softcapping" in metadata:
        found["softcap"] = _positive("logit_softcapping", metadata["logit_softcapping"])
    if "causal" in metadata:
        text = metadata["causal"].strip().lower()
        if text not in ("true", "false"):
            raise InputError(f'metadata causal must be "true" or "false", got {text[:40]!r}')
        found["causal"] = text == "true"
    if "num_kv_heads" in metadata:
        text = metadata["num_kv_heads"].strip()
        if not text.isdigit() or int(text) < 1:
            raise InputError(f"metadata num_kv_heads must be a positive integer, got {text[:40]!r}")
        found["num_kv_heads"] = int(text)
    if "sliding_windows" in metadata:
        try:
            windows = json.loads(metadata["sliding_windows"][:65536])
        except json.JSONDecodeError as error:
            raise InputError(f"metadata sliding_windows is not a JSON list ({error})") from error
        if not isinstance(windows, list) or not all(
            w is None or (type(w) is int and w > 0) for w in windows
        ):
            raise InputError("metadata sliding_windows must list positive integers or null")
        found["sliding_windows"] = tuple(windows)
    return ModelSoftmax(**found)


@dataclass(frozen=True, eq=False, kw_only=True)
class Capture:
    """Q, K, V of every captured layer of one text, with how the model computed softmax."""

    q: np.ndarray  # (layers, h, l, d) float32
    k: np.ndarray  # (layers, h_kv, l, d) float32
    v: np.ndarray  # (layers, h_kv, l, e) float32
    tokens: tuple[str, ...]  # l labels, special tokens included
    model: str
    text: str = ""
    softmax: ModelSoftmax = ModelSoftmax()
    layer_indices: tuple[int, ...] | None = None  # the model's layer of each entry (None: all)

    @property
    def num_layers(self) -> int:
        return self.q.shape[0]

    @property
    def num_heads(self) -> int:
        return self.q.shape[1]

    def layer(self, index: int) -> AttentionInputs:
        """Entry ``index`` as AttentionInputs: q (h, l, d), k, v (h_kv, l, ·), its own softmax."""
        if not 0 <= index < self.num_layers:
            raise InputError(f"layer {index} out of range: the capture has {self.num_layers}")
        model_layer = index if self.layer_indices is None else self.layer_indices[index]
        return AttentionInputs(
            self.q[index],
            self.k[index],
            self.v[index],
            name=f"{self.model} layer {model_layer}",
            query_tokens=self.tokens,
            key_tokens=self.tokens,
            softmax_scale=self.softmax.softmax_scale,
            causal=self.softmax.causal,
            window=self.softmax.window(index),
            softcap=self.softmax.softcap,
        )


def metadata_of(capture: Capture) -> dict[str, str]:
    """The string metadata written with a capture (the module docstring's keys)."""
    softmax = capture.softmax
    metadata = {
        "layout": LAYOUT,
        "tokens": json.dumps(list(capture.tokens), ensure_ascii=False),
        "model": capture.model,
        "text": capture.text,
        "softmax_scale": repr(float(softmax.softmax_scale or capture.q.shape[-1] ** -0.5)),
        "causal": "true" if softmax.causal else "false",
        "sliding_windows": json.dumps(
            list(softmax.sliding_windows or (None,) * capture.num_layers)
        ),
        "num_kv_heads": str(capture.k.shape[1]),
    }
    if softmax.softcap is not None:
        metadata["logit_softcapping"] = repr(float(softmax.softcap))
    if capture.layer_indices is not None:
        metadata["layer_indices"] = json.dumps(list(capture.layer_indices))
    return metadata


def save_capture(capture: Capture, path: str | Path) -> Path:
    """Writes a capture as .safetensors (the module docstring's format)."""
    from safetensors.numpy import save_file

    path = Path(path)
    tensors = {
        name: np.ascontiguousarray(getattr(capture, name), dtype=np.float32)
        for name in ("q", "k", "v")
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata_of(capture))
    return path


def load_capture(path: str | Path) -> Capture:
    """Reads a capture file (safetensors only, no model); files without softmax keys load too."""
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
    if q.ndim != 4 or k.shape != v.shape[:3] + k.shape[3:] or q.shape[::2] != k.shape[::2]:
        raise InputError(
            f"{path.name}: q (layers, h, l, d) and k, v (layers, h_kv, l, ·) do not fit; "
            f"got {q.shape}, {k.shape}, {v.shape}"
        )
    softmax = read_softmax(metadata)
    try:
        tokens = tuple(str(token) for token in json.loads(metadata.get("tokens", "null")) or ())
        indices = json.loads(metadata.get("layer_indices", "null"))
    except json.JSONDecodeError as error:
        raise InputError(f"{path.name}: tokens or layer_indices is not JSON ({error})") from error
    if tokens and len(tokens) != q.shape[2]:
        raise InputError(f"{path.name}: {len(tokens)} tokens for length {q.shape[2]}")
    return Capture(
        q=q.astype(np.float32, copy=False),
        k=k.astype(np.float32, copy=False),
        v=v.astype(np.float32, copy=False),
        tokens=tokens or tuple(str(i) for i in range(q.shape[2])),
        model=metadata.get("model", "unknown"),
        text=metadata.get("text", ""),
        softmax=softmax,
        layer_indices=None if indices is None else tuple(int(i) for i in indices),
    )
