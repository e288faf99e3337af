"""Decoders for ``.npy``, ``.npz`` and ``.pt`` bytes: headers checked first, data decoded last.

Each reader checks every size and dtype a file declares against ``UploadLimits`` before it
decodes a single array, and never runs code from a file:

- ``.npy``/``.npz``: the header is parsed with ``np.lib.format`` (length capped first), then
  ``read_array(allow_pickle=False)``; ``.npz`` members go through ``upload_zip.open_zip``.
- ``.pt``: zip only (legacy pickles are refused unread), stored members only, then
  ``torch.load(weights_only=True)``; views are counted by their own element count, since a
  zero-stride view of one number can claim billions of elements.
- ``.safetensors``: see ``upload_safetensors``.

Readers return raw arrays or tensors; ``uploads`` checks dtypes, converts and checks finiteness.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import warnings
import zipfile
from collections.abc import Mapping

import numpy as np
import torch

from explorer.errors import InputError
from explorer.inputs.uploads.limits import UploadLimits, human_bytes, shown
from explorer.inputs.uploads.zip_container import ZIP_MAGIC, open_zip

Raw = dict[str, "np.ndarray | torch.Tensor"]
# A reader returns (tensors, string metadata, source dtype names where the array cannot say).
Decoded = tuple[Raw, dict[str, str], dict[str, str]]
NPY_MAGIC = b"\x93NUMPY"
TOKEN_KEYS = ("tokens", "query_tokens", "key_tokens")
MAX_RANK = 8
_PT_BOOKKEEPING = 8  # data.pkl, version, byteorder, .format_version, serialization_id, ...
_PT_MAX_NODES = 10_000  # containers + leaves walked in a loaded .pt (shared references count)
_PT_MAX_DEPTH = 8


def check_numpy_dtype(dtype: np.dtype, where: str) -> None:
    """Refuse anything but bool, integer and real floating dtypes (object, str, complex, ...)."""
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise InputError(f"{where} has dtype {dtype.str!r}; only bool, int and float are allowed")


def count_elements(shape: tuple[int, ...] | list[int]) -> int:
    return math.prod(int(size) for size in shape)


def _npy_header(
    stream: io.BufferedIOBase, *, limits: UploadLimits, where: str
) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of the ``.npy`` array at the stream's start; data not read."""
    prefix = stream.read(8)
    if prefix[:6] != NPY_MAGIC:
        raise InputError(f"{where} is not a .npy array (bad magic bytes)")
    if prefix[6:] not in (b"\x01\x00", b"\x02\x00"):
        raise InputError(f"{where} has an unsupported .npy version {tuple(prefix[6:])}")
    size_format = "<H" if prefix[6] == 1 else "<I"
    raw_size = stream.read(struct.calcsize(size_format))
    if len(raw_size) != struct.calcsize(size_format):
        raise InputError(f"{where} is truncated inside its .npy header")
    (header_size,) = struct.unpack(size_format, raw_size)
    if header_size > limits.max_header_bytes:
        raise InputError(f"{where} has a {human_bytes(header_size)} .npy header (too large)")
    header = prefix + raw_size + stream.read(header_size)
    if len(header) != len(prefix) + len(raw_size) + header_size:
        raise InputError(f"{where} is truncated inside its .npy header")
    # numpy parses the (now bounded) header from a copy: its ast-based parser never runs code.
    copy = io.BytesIO(header)
    np.lib.format.read_magic(copy)
    read_header = (
        np.lib.format.read_array_header_1_0
        if prefix[6] == 1
        else np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(copy, max_header_size=limits.max_header_bytes + 64)
    check_numpy_dtype(dtype, where)
    if len(shape) > MAX_RANK:
        raise InputError(f"{where} has {len(shape)} dimensions; at most {MAX_RANK} allowed")
    return shape, dtype, len(header)


def check_elements(total: int, limits: UploadLimits, label: str) -> None:
    if total > limits.max_elements:
        raise InputError(
            f"{label} holds {total:,} elements; at most {limits.max_elements:,} are allowed"
        )


def read_npy(data: bytes, *, limits: UploadLimits, label: str, stem: str) -> Decoded:
    """One array, named after the file's stem."""
    stream = io.BytesIO(data)
    shape, dtype, offset = _npy_header(stream, limits=limits, where=label)
    count = count_elements(shape)
    check_elements(count, limits, label)
    if len(data) - offset < count * dtype.itemsize:
        raise InputError(
            f"{label} is truncated: shape {shape} {dtype.str} needs "
            f"{human_bytes(count * dtype.itemsize)}, {human_bytes(len(data) - offset)} follow"
        )
    stream.seek(0)
    array = np.lib.format.read_array(
        stream, allow_pickle=False, max_header_size=limits.max_header_bytes + 64
    )
    return {stem or "array": array}, {}, {}


def read_npz(data: bytes, *, limits: UploadLimits, label: str, stem: str) -> Decoded:
    """Every member ``NAME.npy`` of the archive, as ``NAME``; all headers are checked first."""
    archive = open_zip(data, limits=limits, label=label, stored_only=False)
    members: list[tuple[str, zipfile.ZipInfo]] = []
    total = 0
    for info in archive.infolist():
        where = f"{label} member {shown(info.filename)}"
        if not info.filename.endswith(".npy"):
            raise InputError(f"{where} is not a .npy array")
        with archive.open(info) as stream:
            shape, dtype, offset = _npy_header(stream, limits=limits, where=where)
        expected = offset + count_elements(shape) * dtype.itemsize
        if info.file_size != expected:
            raise InputError(
                f"{where} declares {human_bytes(info.file_size)} but its header "
                f"(shape {shape}, {dtype.str}) needs {human_bytes(expected)}"
            )
        total += count_elements(shape)
        check_elements(total, limits, label)
        members.append((info.filename[: -len(".npy")], info))
    tensors: Raw = {}
    for name, info in members:
        with archive.open(info) as stream:
            tensors[name] = np.lib.format.read_array(
                stream, allow_pickle=False, max_header_size=limits.max_header_bytes + 64
            )
    return tensors, {}, {}


def _token_metadata(key: object, value: object, limits: UploadLimits) -> str | None:
    """A top-level ``tokens``/``query_tokens``/``key_tokens`` list of str, as JSON (capped)."""
    if (
        key in TOKEN_KEYS
        and isinstance(value, (list, tuple))
        and all(isinstance(token, str) for token in value)
    ):
        text = json.dumps(list(value))
        if len(text) > limits.max_header_bytes:
            cap = human_bytes(limits.max_header_bytes)
            raise InputError(f"the {key} list is longer than {cap} as JSON")
        return text
    return None


def _flatten(
    loaded: object, *, limits: UploadLimits, label: str, stem: str
) -> tuple[Raw, dict[str, str]]:
    """Tensors in nested dicts/lists/tuples, named by '.'-joined keys; other leaves dropped."""
    if isinstance(loaded, torch.Tensor):
        return {stem or "tensor": loaded}, {}
    tensors: Raw = {}
    metadata: dict[str, str] = {}
    stack: list[tuple[str, object, int]] = [("", loaded, 0)]
    visited = 0
    while stack:
        name, node, depth = stack.pop()
        visited += 1
        if visited > _PT_MAX_NODES:
            raise InputError(f"{label} holds more than {_PT_MAX_NODES} objects")
        if isinstance(node, torch.Tensor):
            if name in tensors:
                raise InputError(f"{label} holds two tensors named {shown(name)}")
            tensors[name] = node
            continue
        if isinstance(node, Mapping):
            items = list(node.items())
        elif isinstance(node, (list, tuple)):
            items = list(enumerate(node))
        else:
            continue  # numbers, strings, None: bookkeeping such as an epoch count
        if depth >= _PT_MAX_DEPTH:
            raise InputError(f"{label} nests containers more than {_PT_MAX_DEPTH} deep")
        children = []
        for key, value in items:
            tokens = _token_metadata(key, value, limits) if depth == 0 else None
            if tokens is not None:
                metadata[str(key)] = tokens
            elif isinstance(key, (str, int)) and not isinstance(key, bool):
                children.append((f"{name}.{key}" if name else str(key), value, depth + 1))
        stack.extend(reversed(children))  # keep the file's order
    return tensors, metadata


def read_pt(data: bytes, *, limits: UploadLimits, label: str, stem: str) -> Decoded:
    """Tensors of a ``torch.save`` zip file, loaded with ``weights_only=True``."""
    if not data.startswith(ZIP_MAGIC):
        raise InputError(
            f"{label} is not a zip-format torch file (a legacy pickle, or not torch at all); "
            "legacy pickles are refused unread: save with torch.save (PyTorch ≥ 1.6) or "
            "as .safetensors"
        )
    archive = open_zip(
        data, limits=limits, label=label, stored_only=True, extra_members=_PT_BOOKKEEPING
    )
    for info in archive.infolist():
        parts = info.filename.split("/")
        if "code" in parts[:-1] or parts[-1] == "constants.pkl":
            raise InputError(f"{label} is a TorchScript archive (it holds code); save tensors")
        # The pickle only describes the tensors; capping it bounds the unpickler's memory
        # (a memo reference repeated in a list costs 2 bytes of file, 8 of memory).
        if parts[-1].endswith(".pkl") and info.file_size > limits.max_header_bytes:
            raise InputError(
                f"{label} member {shown(info.filename)} is {human_bytes(info.file_size)}; "
                f"a tensor file's pickle takes at most {human_bytes(limits.max_header_bytes)}"
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol ..." on bad files
        try:
            loaded = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise InputError(
                f"{label} holds Python objects other than tensors, lists, dicts and numbers; "
                "they are refused (a file is data, never code)"
            ) from None
    return (*_flatten(loaded, limits=limits, label=label, stem=stem), {})
