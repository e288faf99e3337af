"""Safe loading of uploaded tensor files: bytes in, finite float numpy arrays out, or InputError.

Formats (by extension): ``.safetensors`` (recommended: a JSON header and raw bytes), ``.npy``,
``.npz``, ``.pt``/``.pth`` (``torch.save`` zip files, loaded with ``weights_only=True``).
A file is data, never code: pickles are refused or go through torch's weights-only unpickler,
and every size a file declares is checked against ``UploadLimits`` before anything is decoded
(see ``upload_formats`` and ``upload_zip``). Accepted dtypes are bool, int and real floats;
float64 (or wider) becomes float64, everything else float32. NaN/Inf are refused with the
tensor's name and the first bad index. Every failure is one ``InputError``; nothing partial
is ever returned.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

import numpy as np
import torch

from explorer.errors import InputError
from explorer.inputs.uploads.formats import check_numpy_dtype, read_npy, read_npz, read_pt
from explorer.inputs.uploads.limits import UploadLimits, human_bytes, shown
from explorer.inputs.uploads.safetensors_header import read_safetensors

Format = Literal["safetensors", "npy", "npz", "pt"]
FORMATS: tuple[str, ...] = get_args(Format)
EXTENSIONS: Mapping[str, str] = MappingProxyType(
    {".safetensors": "safetensors", ".npy": "npy", ".npz": "npz", ".pt": "pt", ".pth": "pt"}
)
_READERS = MappingProxyType(
    {"safetensors": read_safetensors, "npy": read_npy, "npz": read_npz, "pt": read_pt}
)
_TORCH_DTYPES = frozenset(
    {
        torch.bool,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint16,
        torch.uint32,
        torch.uint64,
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.float8_e4m3fn,
        torch.float8_e5m2,
        torch.float8_e4m3fnuz,
        torch.float8_e5m2fnuz,
    }
)
_MESSAGE_CHARS = 160


@dataclass(frozen=True, eq=False, kw_only=True)
class TensorFile:
    """One decoded upload.

    Attributes:
        tensors: name → read-only float32/float64 array, in the file's order.
        metadata: string metadata (safetensors ``__metadata__``; token lists of a ``.pt``).
            Attacker-controlled: parse with ``json``, show escaped.
        format: the format the extension selected.
        filename: the base name of the upload.
        source_dtypes: name → the dtype the file stored (e.g. ``"BF16"``, ``"<f4"``).
    """

    tensors: Mapping[str, np.ndarray]
    metadata: Mapping[str, str]
    format: Format
    filename: str
    source_dtypes: Mapping[str, str]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.tensors)

    @property
    def stem(self) -> str:
        return file_stem(self.filename)


def base_name(filename: str) -> str:
    """The last path component (uploads may carry '/' or '\\' paths)."""
    return re.split(r"[/\\]", filename)[-1]


def file_stem(filename: str) -> str:
    """'layer0.q.npy' → 'layer0.q' (the name without its extension)."""
    name = base_name(filename)
    return name.rsplit(".", 1)[0] if "." in name else name


def file_format(filename: str) -> Format:
    """The format named by the extension (case-insensitive); InputError for any other."""
    name = base_name(filename)
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in EXTENSIONS:
        allowed = ", ".join(EXTENSIONS)
        raise InputError(f"{shown(name)} has an unsupported extension; use one of {allowed}")
    return EXTENSIONS[extension]  # type: ignore[return-value]


def _brief(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


def _to_float(raw: np.ndarray | torch.Tensor, *, where: str) -> tuple[np.ndarray, str]:
    """(float32/float64 array, source dtype name) of one decoded array or tensor."""
    if isinstance(raw, torch.Tensor):
        if raw.layout != torch.strided or raw.is_nested or raw.is_quantized:
            raise InputError(f"{where} is not a dense tensor ({raw.layout})")
        if raw.dtype not in _TORCH_DTYPES:
            raise InputError(f"{where} has dtype {raw.dtype}; only bool, int and float allowed")
        target = torch.float64 if raw.dtype == torch.float64 else torch.float32
        # contiguous(): a (counted) zero-stride view becomes an ordinary array
        return raw.detach().to(device="cpu", dtype=target).contiguous().numpy(), str(raw.dtype)
    check_numpy_dtype(raw.dtype, where)
    wide = raw.dtype.kind == "f" and raw.dtype.itemsize >= 8
    return raw.astype(np.float64 if wide else np.float32), raw.dtype.str


def check_finite(array: np.ndarray, where: str) -> None:
    """InputError naming ``where`` and the first index of a NaN or ±Inf."""
    bad = ~np.isfinite(array)
    if bad.any():
        index = np.unravel_index(int(np.argmax(bad)), array.shape)
        value = array[index]
        raise InputError(
            f"{where} has a non-finite value ({value}) at index {tuple(map(int, index))}"
        )


def _convert(
    raw: Mapping, *, limits: UploadLimits, label: str, source: Mapping[str, str]
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Checked, converted, read-only arrays and their source dtype names."""
    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    total = 0
    for name, value in raw.items():
        where = f"{label} tensor {shown(name)}"
        if not isinstance(value, (np.ndarray, torch.Tensor)):
            raise InputError(f"{where} is not an array")
        total += int(value.numel() if isinstance(value, torch.Tensor) else value.size)
        if total > limits.max_elements:  # views (.pt) are counted before they are copied
            raise InputError(
                f"{label} holds {total:,}+ elements; at most {limits.max_elements:,} allowed"
            )
        array, dtype = _to_float(value, where=where)
        check_finite(array, where)
        array.flags.writeable = False
        tensors[name] = array
        dtypes[name] = source.get(name, dtype)
    if not tensors:
        raise InputError(f"{label} holds no tensors")
    return tensors, dtypes


def read_tensor_file(
    data: bytes, filename: str, *, limits: UploadLimits | None = None
) -> TensorFile:
    """Decode one uploaded file after checking it against ``limits``.

    Args:
        data: the file's bytes.
        filename: its name; the extension selects the format, the stem names a lone tensor.
        limits: caps; ``UploadLimits.from_env()`` when None.

    Raises:
        InputError: for every problem with the file (never another exception type).
    """
    limits = UploadLimits.from_env() if limits is None else limits
    name = base_name(str(filename))
    label = shown(name)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError(f"{label}: expected the file's bytes, got {type(data).__name__}")
    size = memoryview(data).nbytes
    if size > limits.max_bytes:
        raise InputError(
            f"{label} is {human_bytes(size)}; at most {human_bytes(limits.max_bytes)} allowed"
        )
    fmt = file_format(name)
    if size == 0:
        raise InputError(f"{label} is empty")
    data = bytes(data)
    try:
        raw, metadata, source = _READERS[fmt](
            data, limits=limits, label=label, stem=file_stem(name)
        )
        tensors, dtypes = _convert(raw, limits=limits, label=label, source=source)
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"{label}: not enough memory to load it") from None
    except Exception as error:  # any decoder failure means a malformed file
        raise InputError(f"{label} is not a valid .{fmt} file ({_brief(error)})") from error
    return TensorFile(
        tensors=tensors,  # plain dicts: results must pickle (st.cache_data stores pickles)
        metadata=dict(metadata),
        format=fmt,
        filename=name,
        source_dtypes=dtypes,
    )


def load_tensors(
    data: bytes, filename: str, *, limits: UploadLimits | None = None
) -> dict[str, np.ndarray]:
    """name → finite float32/float64 array of one uploaded file (see ``read_tensor_file``)."""
    return dict(read_tensor_file(data, filename, limits=limits).tensors)
