"""Uploaded files → AttentionInputs, and the scale statistics of a head.

``load_inputs`` takes either one file holding q, k and optionally v (named by the rule of
``upload_names``) or one file per tensor (two or three single-tensor files whose stems name
their roles: ``q.npy``, ``key.safetensors``). The byte and element caps apply to all files
together. ``input_statistics`` gives the scale statistics that predict the approximation
error (``uploads.describe`` reports them for ``inspect``): with x = q·√scale and y = k·√scale
(so x·y is the logit), the positive random features' relative MSE grows like
(e^{|x+y|²} − 1)/m, so the mean |x + y|² over all (query, key) pairs of a head is the one
number to look at. It is computed exactly in O((l + s)·d):
mean_ij |x_i + y_j|² = mean_i |x_i|² + mean_j |y_j|² + 2 x̄·ȳ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from explorer.errors import InputError
from explorer.inputs.attention_inputs import AttentionInputs
from explorer.inputs.layouts import Layout, LoadedInputs, assemble, to_inputs
from explorer.inputs.names import file_role
from explorer.inputs.uploads.decode import base_name, file_stem, read_tensor_file
from explorer.inputs.uploads.limits import UploadLimits, human_bytes, shown

MAX_FILES = 3


def _size(data: object) -> int:
    return memoryview(data).nbytes if isinstance(data, (bytes, bytearray, memoryview)) else 0


def _separate_files(
    files: Sequence[tuple[str, bytes]], limits: UploadLimits, roles: Sequence[str] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """(role → array, role → file name, merged metadata) of one-tensor-per-file uploads.

    Roles come from the file names (q.npy, layer0_key.pt) unless given, one per file.
    """
    arrays: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    metadata: dict[str, str] = {}
    remaining = limits.max_elements
    for index, (filename, data) in enumerate(files):
        name = base_name(str(filename))
        role = file_role(file_stem(name), name) if roles is None else roles[index]
        if role in arrays:
            raise InputError(f"{shown(names[role])} and {shown(name)} both hold {role}")
        if remaining < 1:
            raise InputError(f"the files hold more than {limits.max_elements:,} elements")
        loaded = read_tensor_file(data, name, limits=replace(limits, max_elements=remaining))
        if len(loaded.tensors) != 1:
            raise InputError(
                f"{shown(name)} holds {len(loaded.tensors)} tensors; a separate q, k or v file "
                "must hold exactly one (or upload one file with all of them)"
            )
        (array,) = loaded.tensors.values()
        remaining -= array.size
        arrays[role], names[role] = array, name
        for key, value in loaded.metadata.items():
            if metadata.setdefault(key, value) != value:
                raise InputError(f"the files disagree on metadata {key!r}")
    return arrays, names, metadata


def load_inputs(
    files: Sequence[tuple[str, bytes]],
    *,
    layout: Layout = "auto",
    layer: int | None = None,
    head: int | None = None,
    prefix: str | None = None,
    limits: UploadLimits | None = None,
    roles: Sequence[str] | None = None,
) -> LoadedInputs:
    """AttentionInputs from (filename, bytes) uploads: one q/k/v file, or 2-3 single-tensor files.

    Shapes: as for ``layouts.to_inputs``; out q (h, l, d), k (h, s, d), v (h, s, e) or None.

    Args:
        files: the uploads, in any order.
        roles: "q", "k" or "v" for each file (separate files only); default: from the names.
        layout, layer, head, prefix: as for ``layouts.to_inputs`` (``prefix``: one file only).
        limits: caps on all files together; ``UploadLimits.from_env()`` when None.

    Raises:
        InputError: for every problem with the files, their names, shapes or metadata.
    """
    limits = UploadLimits.from_env() if limits is None else limits
    files = list(files)
    if not files:
        raise InputError("no file was uploaded")
    if len(files) > MAX_FILES:
        raise InputError(f"{len(files)} files: upload one file, or one file each for q, k, v")
    total = sum(_size(data) for _, data in files)
    if total > limits.max_bytes:
        raise InputError(
            f"the files total {human_bytes(total)}; at most {human_bytes(limits.max_bytes)}"
        )
    if roles is not None and (
        len(roles) != len(files) or set(roles) - {"q", "k", "v"} or len(set(roles)) != len(roles)
    ):
        raise InputError(f"roles {list(roles)} must name q, k (and v) once each, one per file")
    if len(files) == 1 and roles is None:
        ((filename, data),) = files
        loaded = read_tensor_file(data, filename, limits=limits)
        return to_inputs(
            loaded.tensors,
            layout=layout,
            layer=layer,
            head=head,
            prefix=prefix,
            metadata=loaded.metadata,
            name=loaded.filename,
        )
    if prefix is not None:
        raise InputError("prefix= chooses a group inside one file; separate files need none")
    arrays, names, metadata = _separate_files(files, limits, roles)
    return assemble(
        arrays,
        names,
        layout=layout,
        layer=layer,
        head=head,
        metadata=metadata,
        name=" + ".join(names[role] for role in ("q", "k", "v") if role in names),
    )


def input_statistics(inputs: AttentionInputs) -> dict[str, float]:
    """Scale of x = q·√scale, y = k·√scale: row norms and the mean of |x_i + y_j|².

    scale is the inputs' own softmax scale (1/√d when not known). Shapes: q (h, l, d), k (h_kv,
    s, d), query head i paired with key head i // (h / h_kv); means over query heads and rows.
    """
    scale = inputs.softmax_scale or inputs.head_dim**-0.5
    x = inputs.q.astype(np.float64) * scale**0.5  # (h, l, d)
    y = inputs.k.astype(np.float64) * scale**0.5  # (h_kv, s, d)
    kv_of = np.arange(inputs.num_heads) // inputs.group  # (h,) each query head's key head
    x_norms = np.linalg.norm(x, axis=-1)  # (h, l)
    y_norms = np.linalg.norm(y, axis=-1)  # (h_kv, s)
    cross = np.einsum("hd,hd->h", x.mean(axis=1), y.mean(axis=1)[kv_of])  # (h,) x̄·ȳ per head
    pair = (x_norms**2).mean(axis=1) + (y_norms**2).mean(axis=1)[kv_of] + 2 * cross  # (h,)
    return {
        "mean_norm_x": float(x_norms.mean()),
        "max_norm_x": float(x_norms.max()),
        "mean_norm_y": float(y_norms.mean()),
        "max_norm_y": float(y_norms.max()),
        "mean_norm_x_plus_y_squared": float(pair.mean()),
        "max_norm_x_plus_y_squared_bound": float((x_norms.max() + y_norms.max()) ** 2),
    }
