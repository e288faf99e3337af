"""Layout names and shape rules: which layout tensors are in, and each one's (h, l, d) view.

The public entry is ``explorer.inputs.layouts`` (its docstring describes every layout); this module
holds the shape logic it applies: resolving "auto" (and refusing ambiguous shapes), indexing the
first axis of 4-D layouts, moving heads first, and checking that q, k and v fit together,
including grouped-query k/v whose head count divides q's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np

from explorer.errors import InputError

Layout = Literal["auto", "l d", "h l d", "l h d", "b h l d", "layers h l d", "b l h d"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
LAYOUT_DIMS: Mapping[str, int] = MappingProxyType(
    {"l d": 2, "h l d": 3, "l h d": 3, "b h l d": 4, "layers h l d": 4, "b l h d": 4}
)
_HEADS_SECOND = ("l h d", "b l h d")  # layouts whose (h, l, d) needs the first two axes swapped
_EXPLICIT = {3: "'h l d' or 'l h d'", 4: "'b h l d', 'layers h l d' or 'b l h d'"}


def resolve_layout(shapes: Mapping[str, tuple[int, ...]], *, layout: str = "auto") -> str:
    """The concrete layout for tensors of these shapes (role → shape, names in messages).

    Raises:
        InputError: an unknown layout, a tensor whose rank does not fit it, or (for "auto")
            ranks that differ, an unsupported rank or an ambiguous shape.
    """
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {str(layout)[:40]!r}; use one of {', '.join(LAYOUTS)}")
    if layout != "auto":
        for name, shape in shapes.items():
            if len(shape) != LAYOUT_DIMS[layout]:
                raise InputError(
                    f"{name} has shape {shape} ({len(shape)}-D) but layout {layout!r} is "
                    f"{LAYOUT_DIMS[layout]}-D"
                )
        return layout
    ranks = {len(shape) for shape in shapes.values()}
    if len(ranks) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise InputError(f"q, k and v must have the same number of dimensions: {listed}")
    rank = ranks.pop()
    if rank == 2:
        return "l d"
    if rank not in (3, 4):
        raise InputError(f"q has {rank} dimensions; supported layouts are 2-D to 4-D")
    heads_axis = rank - 3
    for name, shape in shapes.items():
        heads, length = shape[heads_axis], shape[heads_axis + 1]
        if heads > length:
            options = _EXPLICIT[rank]
            raise InputError(
                f"{name} has shape {shape}: read as heads first that is {heads} heads of length "
                f"{length}, which looks like a heads-second capture; pass layout={options}"
            )
    return "h l d" if rank == 3 else "b h l d"


def check_index(value: object, label: str) -> int | None:
    """``value`` as an int ≥ 0, or None; InputError for anything else (bools included)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{label} must be an integer ≥ 0 or None, got {value!r}")
    return int(value)


def _arrange(array: np.ndarray, layout: str, layer: int) -> np.ndarray:
    """(h, l, d) view of one tensor in ``layout``."""
    if LAYOUT_DIMS[layout] == 4:
        array = array[layer]
    if layout == "l d":
        return array[None]  # (1, l, d)
    return array.swapaxes(0, 1) if layout in _HEADS_SECOND else array


def heads_first(
    arrays: dict[str, np.ndarray], labels: dict[str, str], *, layout: str, layer: int | None
) -> dict[str, np.ndarray]:
    """Each array as an (h, l, d) view, after indexing the first axis of 4-D layouts.

    ``labels`` (role → quoted name) are for messages; ``layer`` None means index 0.
    """
    if LAYOUT_DIMS[layout] != 4:
        if layer not in (None, 0):
            raise InputError(f"layer={layer} needs a 4-D layout; the tensors are {layout!r}")
        return {role: _arrange(array, layout, 0) for role, array in arrays.items()}
    first = {role: array.shape[0] for role, array in arrays.items()}
    if len(set(first.values())) > 1:
        listed = ", ".join(f"{role} {labels[role]} {arrays[role].shape}" for role in arrays)
        raise InputError(f"first axes (layers/batch) differ: {listed}")
    index = 0 if layer is None else layer
    if index >= first["q"]:
        raise InputError(
            f"layer={index} is out of range: the first axis has {first['q']} entries "
            f"(q {labels['q']} {arrays['q'].shape})"
        )
    return {role: _arrange(array, layout, index) for role, array in arrays.items()}


def check_pairs(shaped: dict[str, np.ndarray], source: dict[str, str]) -> int:
    """Shape agreement of q, k, v as (h, ·, ·); returns the grouped-query repeat factor."""
    q, k, v = shaped["q"], shaped["k"], shaped.get("v")
    if q.shape[2] != k.shape[2]:
        raise InputError(
            f"head dims differ: {source['q']} has d={q.shape[2]}, {source['k']} d={k.shape[2]}"
        )
    if v is not None and v.shape[:2] != k.shape[:2]:
        raise InputError(
            f"k and v must share heads and length: {source['k']} gives (h, s) = {k.shape[:2]}, "
            f"{source['v']} gives {v.shape[:2]}"
        )
    if q.shape[0] % k.shape[0]:
        raise InputError(
            f"head counts differ: {source['q']} has {q.shape[0]} heads, {source['k']} has "
            f"{k.shape[0]} (not a divisor, so not grouped-query either)"
        )
    return q.shape[0] // k.shape[0]
