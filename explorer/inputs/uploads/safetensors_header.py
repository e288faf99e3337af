"""Decoder for ``.safetensors`` bytes: the header is validated here before the library loads it.

The format is an 8-byte little-endian header length N, N bytes of JSON, then raw tensor data.
The length is capped (``max_header_bytes``) before the JSON is read; the JSON must be an object
without repeated keys whose ``__metadata__`` maps strings to strings and whose every other entry
has a numeric dtype, a shape of ≤ 8 sizes and ``data_offsets`` that match dtype × shape and
tile the data exactly (no gaps, overlaps or trailing bytes). Only then does
``safetensors.torch.load`` decode: memory is bounded by the file size (there is no compression).
"""

from __future__ import annotations

import json
import struct
import warnings

from safetensors.torch import load as load_safetensors

from explorer.errors import InputError
from explorer.inputs.uploads.formats import MAX_RANK, Decoded, check_elements, count_elements
from explorer.inputs.uploads.limits import UploadLimits, human_bytes, shown

ITEMSIZE = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}  # numeric types only: complex (C64) and sub-byte floats are refused


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise InputError("the safetensors header repeats a key (tensor names must be unique)")
    return result


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_entry(name: str, entry: object, body: int, where: str) -> tuple[int, int, int]:
    """(begin, end, element count) of one header entry, after checking every field."""
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise InputError(f"{where} needs exactly 'dtype', 'shape' and 'data_offsets'")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in ITEMSIZE:
        raise InputError(f"{where} has dtype {str(dtype)[:20]!r}; only bool, int and float allowed")
    if not isinstance(shape, list) or len(shape) > MAX_RANK or not all(map(_is_count, shape)):
        raise InputError(f"{where} has an invalid shape (a list of ≤ {MAX_RANK} sizes ≥ 0)")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))):
        raise InputError(f"{where} has invalid data_offsets (two integers ≥ 0)")
    begin, end = offsets
    if not begin <= end <= body:
        raise InputError(
            f"{where} has data_offsets {offsets} outside the {human_bytes(body)} of data"
        )
    count = count_elements(shape)
    if end - begin != count * ITEMSIZE[dtype]:
        raise InputError(f"{where}: shape {shape} {dtype} does not fit data_offsets {offsets}")
    return begin, end, count


def read_safetensors(data: bytes, *, limits: UploadLimits, label: str, stem: str) -> Decoded:
    """Tensors and ``__metadata__`` of a safetensors file, header validated here first."""
    if len(data) < 8:
        raise InputError(f"{label} is too short for a safetensors file (truncated?)")
    (header_size,) = struct.unpack_from("<Q", data)
    if header_size > len(data) - 8 and not data[8:9] == b"{":
        # A safetensors file opens with its header's length, then the JSON header itself: text
        # or any other file renamed .safetensors fails both, so say what it is not.
        raise InputError(
            f"{label} is not a safetensors file: its first 8 bytes do not give the length of a "
            "JSON header inside the file"
        )
    if header_size > limits.max_header_bytes:
        raise InputError(
            f"{label} declares a {human_bytes(header_size)} safetensors header; "
            f"at most {human_bytes(limits.max_header_bytes)} allowed"
        )
    if 8 + header_size > len(data):
        raise InputError(f"{label} is truncated inside its safetensors header")
    try:
        header = json.loads(data[8 : 8 + header_size], object_pairs_hook=_no_duplicates)
    except InputError as error:
        raise InputError(f"{label}: {error}") from None
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise InputError(f"{label} has a safetensors header that is not valid JSON") from None
    if not isinstance(header, dict):
        raise InputError(f"{label} has a safetensors header that is not a JSON object")
    metadata = header.pop("__metadata__", None)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        raise InputError(f"{label} has __metadata__ that is not a map of strings to strings")
    if len(header) > limits.max_tensors:
        raise InputError(f"{label} holds {len(header)} tensors; at most {limits.max_tensors}")
    body = len(data) - 8 - header_size
    spans, total, dtypes = [], 0, {}
    for name, entry in header.items():
        begin, end, count = _check_entry(name, entry, body, f"{label} tensor {shown(name)}")
        dtypes[name] = entry["dtype"]
        total += count
        check_elements(total, limits, label)
        spans.append((begin, end))
    covered = 0
    for begin, end in sorted(spans):
        if begin != covered:
            raise InputError(f"{label}: tensor data overlaps or leaves gaps (byte {begin})")
        covered = end
    if covered != body:
        raise InputError(f"{label}: {body - covered} bytes after the last tensor's data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.frombuffer warns that bytes are read-only
        tensors = load_safetensors(bytes(data))
    return {name: tensors[name] for name in header}, dict(metadata), dtypes
