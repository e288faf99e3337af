"""Where the core computes: cuda, then mps, then cpu, or the caller's choice.

Nothing here runs at import time and no global flag is flipped (TF32 stays off, so the exact
reference on a GPU is a true float32 computation).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

import torch

T = TypeVar("T")
DeviceName = Literal["auto", "cpu", "cuda", "mps"]
DTypeName = Literal["float32", "float64", "float16", "bfloat16"]

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def available_devices() -> list[str]:
    """Device names usable on this machine, best first ("cpu" always last)."""
    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    if torch.backends.mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(preference: str = "auto") -> torch.device:
    """`"auto"` → cuda, else mps, else cpu; a named device must be available here."""
    if preference == "auto":
        return torch.device(available_devices()[0])
    base = preference.split(":")[0]
    if base not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {preference!r}: use auto, cpu, cuda or mps")
    if base not in available_devices():
        raise ValueError(
            f"device {preference!r} is not available here (available: "
            f"{', '.join(available_devices())})"
        )
    return torch.device(preference)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype for a name; float64 is refused on mps (it has none)."""
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}: use one of {', '.join(DTYPES)}")
    if device.type == "mps" and name == "float64":
        raise ValueError("mps has no float64: choose float32 on this device")
    return DTYPES[name]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision inputs are computed with float32 features and accumulators."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so a timer measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(fn: Callable[[], T], device: torch.device) -> tuple[float, T]:
    """(seconds, result) of one call with the device synchronised (CUDA events on a GPU)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        result = fn()
        end.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(end) / 1e3, result
    synchronize(device)
    begin = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - begin, result
