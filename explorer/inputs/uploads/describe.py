"""What one or several files hold, for ``python -m explorer inspect``: JSON-able, never refusing.

``describe_files`` takes what ``load_inputs`` takes (one file with q, k, v; or one file per
tensor, roles from the names or given). Each file's format, tensors and metadata keys are
listed; then which of q, k, v are there and which are missing; where q and k are both there,
the layout, the selection, the model's softmax read from the metadata and the scale statistics
(``files.input_statistics``) follow, or the problem that stops ``compare`` from using them.
A partial upload (q alone, say) is described, with the row norms of what it has; only a file
that cannot be read at all raises.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explorer.errors import InputError
from explorer.inputs.layouts import Layout
from explorer.inputs.names import ROLES, file_role, qkv_groups
from explorer.inputs.uploads.decode import TensorFile, base_name, file_stem, read_tensor_file
from explorer.inputs.uploads.files import input_statistics, load_inputs
from explorer.inputs.uploads.limits import UploadLimits


def _file_entry(loaded: TensorFile, size: int) -> dict[str, object]:
    return {
        "file": loaded.filename,
        "format": loaded.format,
        "bytes": size,
        "tensors": [
            {
                "name": name,
                "shape": list(array.shape),
                "dtype": loaded.source_dtypes[name],
                "elements": int(array.size),
            }
            for name, array in loaded.tensors.items()
        ],
        "metadata_keys": sorted(loaded.metadata),
    }


def _roles_found(
    loaded: list[TensorFile], roles: Sequence[str] | None, prefix: str | None
) -> dict[str, str]:
    """role → "tensor" (one file) or "file" (one per tensor); the first group of a file."""
    if len(loaded) == 1 and roles is None:
        groups = qkv_groups(loaded[0].tensors)
        if prefix is not None:
            groups = {k: g for k, g in groups.items() if k == prefix.lower().rstrip("./:_- ")}
        if not groups:
            return {}
        group = next(
            (g for g in groups.values() if {"q", "k"} <= set(g)), next(iter(groups.values()))
        )
        return {role: group[role][0] for role in ROLES if role in group}
    found: dict[str, str] = {}
    for index, file in enumerate(loaded):
        try:
            role = (
                roles[index]
                if roles is not None
                else file_role(file_stem(file.filename), file.filename)
            )
        except InputError:
            continue
        found.setdefault(role, file.filename)
    return found


def _row_norms(
    loaded: list[TensorFile], found: dict[str, str], one_file: bool
) -> dict[str, object]:
    """Mean and largest row norm (last axis: d) of each tensor there, scaled by d^(-1/4)."""
    norms: dict[str, object] = {}
    for role, where in found.items():
        if one_file:
            array = loaded[0].tensors[where]
        else:
            array = next(iter(next(f for f in loaded if f.filename == where).tensors.values()))
        rows = (
            np.linalg.norm(np.asarray(array, dtype=np.float64), axis=-1) * array.shape[-1] ** -0.25
        )
        norms[role] = {"mean_norm": float(rows.mean()), "max_norm": float(rows.max())}
    return norms


def describe_files(
    files: Sequence[tuple[str, bytes]],
    *,
    roles: Sequence[str] | None = None,
    layout: Layout = "auto",
    layer: int | None = None,
    head: int | None = None,
    prefix: str | None = None,
    limits: UploadLimits | None = None,
) -> dict[str, object]:
    """The report (module docstring). Raises InputError only for a file it cannot read."""
    limits = UploadLimits.from_env() if limits is None else limits
    files = list(files)
    loaded = [read_tensor_file(data, base_name(str(name)), limits=limits) for name, data in files]
    found = _roles_found(loaded, roles, prefix)
    report: dict[str, object] = {
        "files": [_file_entry(f, len(data)) for f, (_, data) in zip(loaded, files, strict=True)],
        "qkv": found,
        "missing": [role for role in ROLES if role not in found],
        "complete": {"q", "k"} <= set(found),
        "layout": None,
        "layout_from": None,
        "layer": None,
        "head": None,
        "kv_repeat": None,
        "inputs": None,
        "softmax": None,
        "statistics": None,
        "row_norms": _row_norms(loaded, found, len(loaded) == 1 and roles is None),
        "problem": None,
    }
    try:
        result = load_inputs(
            files, roles=roles, layout=layout, layer=layer, head=head, prefix=prefix, limits=limits
        )
    except InputError as error:
        report["problem"] = str(error)
        return report
    inputs = result.inputs
    report.update(
        layout=result.layout,
        layout_from=result.layout_from,
        layer=result.layer,
        head=result.head,
        kv_repeat=result.kv_repeat,
        inputs={
            "heads": inputs.num_heads,
            "kv_heads": inputs.num_kv_heads,
            "query_length": inputs.q.shape[1],
            "key_length": inputs.k.shape[1],
            "head_dim": inputs.head_dim,
            "value_dim": None if inputs.v is None else inputs.v.shape[-1],
            "dtype": str(inputs.q.dtype),
            "tokens": inputs.query_tokens is not None,
        },
        softmax={
            "softmax_scale": inputs.softmax_scale,
            "causal": inputs.causal,
            "window": inputs.window,
            "softcap": inputs.softcap,
        },
        statistics=input_statistics(inputs),
    )
    return report
