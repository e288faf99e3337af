"""Named tensors → AttentionInputs: choose q/k/v, read their layout, select a layer and heads.

Layouts name the axes of each of q (…, l, d), k (…, s, d) and v (…, s, e):

    "l d"             one head                      (l, d) → (1, l, d)
    "h l d"           heads first                   (h, l, d)
    "l h d"           heads second (explicit only)  (l, h, d) → (h, l, d)
    "b h l d"         batch of captures             index ``layer`` of axis 0 → (h, l, d)
    "layers h l d"    whole-model capture           index ``layer`` of axis 0 → (h, l, d)
    "b l h d"         heads third (explicit only)   index ``layer`` of axis 0, then (h, l, d)

``"auto"`` uses a valid ``layout`` entry of the file's metadata (``explorer.inputs.capture`` writes
"layers h l d"), else the rank: 2 → "l d", 3 → "h l d", 4 → "b h l d" (which selects as
"layers h l d"). It asks rather than guesses when a heads axis is longer than the length axis,
as in (l, h, d) and (b, l, h, d) captures; heads-second captures with l ≤ h cannot be told
apart, so always name their layout. ``head`` keeps one head (default all). Cross-attention
(l ≠ s) is fine; q and k must share d, k and v share h and s. Grouped-query k/v (h_q / g
heads) stay as they are (never repeated): query head i uses k/v head i // g, and the result
says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from explorer.errors import InputError
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.capture_file import read_softmax
from explorer.inputs.layout_rules import (
    LAYOUT_DIMS,
    LAYOUTS,
    Layout,
    check_index,
    check_pairs,
    heads_first,
    resolve_layout,
)
from explorer.inputs.names import TOKEN_KEYS, find_qkv, tokens_from_metadata
from explorer.inputs.uploads.limits import shown

__all__ = ["LAYOUTS", "LoadedInputs", "Layout", "find_qkv", "resolve_layout", "to_inputs"]


@dataclass(frozen=True, eq=False, kw_only=True)
class LoadedInputs:
    """AttentionInputs with the choices that produced them.

    Attributes:
        inputs: q (h, l, d), k (h, s, d), v (h, s, e) or None, copied float arrays.
        layout: the layout used (never "auto").
        layer: the index taken on the first axis of 4-D tensors; None for 2-/3-D layouts.
        head: the head kept; None when all heads are.
        tensor_names: role ('q', 'k', 'v') → the tensor or file it came from.
        source_shapes: role → the shape before selection.
        kv_repeat: each k/v head serves this many q heads (grouped-query); 1 otherwise.
            The k/v arrays keep their own heads: nothing is repeated.
        layout_from: "argument" (explicit), "metadata" (the file's ``layout`` entry, used
            when the argument is "auto") or "shape" (read from the ranks by "auto").
        metadata: the file's other string metadata (e.g. ``model``, ``text``, ``layout`` of a
            capture), as given: untrusted text, to be shown inert (``explorer.untrusted``).
    """

    inputs: AttentionInputs
    layout: str
    layer: int | None
    head: int | None
    tensor_names: Mapping[str, str]
    source_shapes: Mapping[str, tuple[int, ...]]
    kv_repeat: int = 1
    layout_from: str = "argument"
    metadata: Mapping[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for a caption: names, shapes, layout and selection."""
        parts = [
            f"{role} {shown(self.tensor_names[role])} {self.source_shapes[role]}"
            for role in self.tensor_names
        ]
        choice = f"layout {self.layout!r} (from the {self.layout_from})"
        if self.layer is not None:
            choice += f", index {self.layer} of the first axis"
        choice += ", all heads" if self.head is None else f", head {self.head}"
        if self.kv_repeat > 1:
            choice += f", {self.kv_repeat} query heads per k/v head (grouped-query)"
        return "; ".join(parts) + f" as {choice}"


def assemble(
    arrays: Mapping[str, np.ndarray],
    labels: Mapping[str, str],
    *,
    layout: str = "auto",
    layer: int | None = None,
    head: int | None = None,
    metadata: Mapping[str, str] | None = None,
    name: str = "upload",
) -> LoadedInputs:
    """LoadedInputs from role → array ('q', 'k', optional 'v') with role → name for messages."""
    arrays = {role: np.asarray(arrays[role]) for role in ("q", "k", "v") if role in arrays}
    if "q" not in arrays or "k" not in arrays:
        raise InputError("both q and k are needed (v is optional)")
    names = {role: str(labels.get(role, role)) for role in arrays}
    quoted = {role: shown(names[role]) for role in arrays}
    source = {role: f"{role} {quoted[role]} {arrays[role].shape}" for role in arrays}
    layer, head = check_index(layer, "layer"), check_index(head, "head")
    for role, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise InputError(f"{source[role]} must hold real numbers, not {array.dtype}")
        if array.size == 0:
            raise InputError(f"{source[role]} is empty (an axis of size 0)")
    hint = (metadata or {}).get("layout")
    if layout == "auto" and isinstance(hint, str) and hint in LAYOUT_DIMS:
        layout, layout_from = hint, "metadata"
    else:
        layout_from = "shape" if layout == "auto" else "argument"
    shapes = {f"{role} {quoted[role]}": array.shape for role, array in arrays.items()}
    used = resolve_layout(shapes, layout=layout)
    shaped = heads_first(arrays, quoted, layout=used, layer=layer)
    repeat = check_pairs(shaped, source)
    heads = shaped["q"].shape[0]
    softmax = read_softmax(metadata)
    if softmax.num_kv_heads is not None and softmax.num_kv_heads != shaped["k"].shape[0]:
        raise InputError(
            f"metadata num_kv_heads is {softmax.num_kv_heads} but {source['k']} has "
            f"{shaped['k'].shape[0]} key/value heads"
        )
    window = softmax.window((0 if layer is None else layer) if LAYOUT_DIMS[used] == 4 else None)
    if head is not None:
        if head >= heads:
            raise InputError(f"head={head} is out of range: q has {heads} heads")
        kv = head // repeat
        shaped = {
            role: a[head : head + 1] if role == "q" else a[kv : kv + 1]
            for role, a in shaped.items()
        }
    dtype = np.result_type(*(array.dtype for array in shaped.values()), np.float32)
    copies = {role: np.array(a, dtype=dtype, order="C", copy=True) for role, a in shaped.items()}
    query_tokens, key_tokens = tokens_from_metadata(
        metadata, query_length=copies["q"].shape[1], key_length=copies["k"].shape[1]
    )
    inputs = AttentionInputs(
        copies["q"],
        copies["k"],
        copies.get("v"),
        name=name,
        query_tokens=query_tokens,
        key_tokens=key_tokens,
        softmax_scale=softmax.softmax_scale,
        causal=softmax.causal,
        window=window,
        softcap=softmax.softcap,
    )
    return LoadedInputs(
        inputs=inputs,
        layout=used,
        layer=(0 if layer is None else layer) if LAYOUT_DIMS[used] == 4 else None,
        head=head,
        tensor_names=names,  # plain dicts: results must pickle (st.cache_data stores pickles)
        source_shapes={role: tuple(a.shape) for role, a in arrays.items()},
        kv_repeat=repeat,
        layout_from=layout_from,
        metadata={k: v for k, v in (metadata or {}).items() if k not in TOKEN_KEYS},
    )


def to_inputs(
    tensors: Mapping[str, np.ndarray],
    *,
    layout: Layout = "auto",
    layer: int | None = None,
    head: int | None = None,
    prefix: str | None = None,
    metadata: Mapping[str, str] | None = None,
    name: str = "upload",
) -> LoadedInputs:
    """AttentionInputs from one file's named tensors (roles by ``find_qkv``'s rule).

    Shapes: each tensor in ``layout``; out q (h, l, d), k (h, s, d), v (h, s, e) or None.

    Args:
        tensors: name → array, e.g. ``read_tensor_file(...).tensors``.
        layout: the axes of each tensor, or "auto" (module docstring).
        layer: index of the first axis of 4-D tensors (batch item or layer); default 0.
        head: keep only this head; default all.
        prefix: the q/k/v group when a file holds several (``"layer3"``).
        metadata: string metadata that may hold ``tokens``/``query_tokens``/``key_tokens``.
        name: a label for the inputs.

    Raises:
        InputError: missing/ambiguous names, shapes that do not fit, bad tokens, bad indices.
    """
    roles = find_qkv(tensors, prefix=prefix)
    arrays = {role: tensors[tensor] for role, tensor in roles.items()}
    return assemble(
        arrays, roles, layout=layout, layer=layer, head=head, metadata=metadata, name=name
    )
