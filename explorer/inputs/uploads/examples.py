"""Example uploads in every format: valid q/k/v files to download, test and fuzz against.

``encode`` writes named arrays with each format's own save function (``safetensors.numpy.save``,
``np.save``/``np.savez``, ``torch.save``), so what the loaders accept is what real tools write.
Values are Gaussian from a seeded numpy generator; tokens are "t0", "t1", ...
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping

import numpy as np
import torch
from safetensors.numpy import save as save_safetensors

from explorer.inputs.uploads.limits import shown
from explorer.streams import stream


def example_tensors(
    *,
    heads: int = 2,
    length: int = 8,
    key_length: int | None = None,
    head_dim: int = 4,
    value_dim: int | None = None,
    seed: int = 0,
    dtype: str = "float32",
) -> dict[str, np.ndarray]:
    """{'q': (h, l, d), 'k': (h, s, d), 'v': (h, s, e)} drawn from N(0, 1)."""
    generator = stream("synthetic_data", seed).generator()
    key_length = length if key_length is None else key_length
    value_dim = head_dim if value_dim is None else value_dim
    shapes = {
        "q": (heads, length, head_dim),
        "k": (heads, key_length, head_dim),
        "v": (heads, key_length, value_dim),
    }
    return {name: generator.standard_normal(shape).astype(dtype) for name, shape in shapes.items()}


def encode(
    tensors: Mapping[str, np.ndarray],
    fmt: str,
    *,
    metadata: Mapping[str, str] | None = None,
    compressed: bool = False,
) -> bytes:
    """The bytes of a ``fmt`` file ('safetensors', 'npy', 'npz', 'pt') holding ``tensors``.

    ``metadata`` goes into safetensors ``__metadata__``; a ``.pt`` gets token lists as top-level
    entries. ``compressed``: ``np.savez_compressed`` for npz. A ``.npy`` holds one tensor.
    """
    buffer = io.BytesIO()
    if fmt == "safetensors":
        arrays = {name: np.ascontiguousarray(array) for name, array in tensors.items()}
        return save_safetensors(arrays, metadata=dict(metadata) if metadata else None)
    if fmt == "npy":
        if len(tensors) != 1:
            raise ValueError(f"a .npy file holds one array, got {len(tensors)}")
        np.save(buffer, next(iter(tensors.values())), allow_pickle=False)
    elif fmt == "npz":
        (np.savez_compressed if compressed else np.savez)(buffer, **tensors)
    elif fmt == "pt":
        content: dict[str, object] = {
            name: torch.from_numpy(np.array(array)) for name, array in tensors.items()
        }
        content.update({key: json.loads(value) for key, value in (metadata or {}).items()})
        torch.save(content, buffer)
    else:
        raise ValueError(f"unknown format {shown(fmt)}")
    return buffer.getvalue()


def example_upload(fmt: str, *, seed: int = 0, tokens: bool = True) -> tuple[str, bytes]:
    """(filename, bytes) of a small q/k/v example in ``fmt``; a .npy example holds q only."""
    tensors = example_tensors(seed=seed)
    labels = json.dumps([f"t{i}" for i in range(tensors["q"].shape[1])])
    metadata = {"tokens": labels} if tokens and fmt in ("safetensors", "pt") else None
    if fmt == "npy":
        tensors = {"q": tensors["q"]}
    return f"{'q' if fmt == 'npy' else 'example'}.{fmt}", encode(tensors, fmt, metadata=metadata)
