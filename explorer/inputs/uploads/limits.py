"""Limits on uploaded tensor files, configurable by whoever deploys the explorer.

Every size in an upload is attacker-controlled: the byte length, the shapes in a header, the sizes
a zip archive declares. Each is checked against these limits before anything is decoded, so the
memory an upload can take is bounded by ``max_bytes`` plus ``max_elements`` × 8 bytes (float64).
A deployer sets the two main caps with ``EXPLORER_MAX_UPLOAD_BYTES`` and
``EXPLORER_MAX_UPLOAD_ELEMENTS`` (plain integers, ``_`` separators allowed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

BYTES_ENV = "EXPLORER_MAX_UPLOAD_BYTES"
ELEMENTS_ENV = "EXPLORER_MAX_UPLOAD_ELEMENTS"
DEFAULT_MAX_BYTES = 200 * 2**20  # Streamlit's default server.maxUploadSize (200 MB)
DEFAULT_MAX_ELEMENTS = 50_000_000  # 400 MB once converted to float64
NAME_CHARS = 60  # longest tensor or file name quoted in full in a message


@dataclass(frozen=True, kw_only=True)
class UploadLimits:
    """Caps applied to one upload (or to the set of files that make one set of inputs).

    Attributes:
        max_bytes: total bytes of the uploaded file(s), checked before anything else.
        max_elements: total tensor elements across the file(s), checked from headers.
        max_tensors: tensors (or zip members) in one file.
        max_header_bytes: a safetensors JSON header or a ``.npy`` header (from its length field).
        max_ratio: largest uncompressed/compressed size of an ``.npz`` member beyond
            ``ratio_allowance`` bytes (zip-bomb guard; ``.pt`` members must be stored).
        ratio_allowance: uncompressed bytes a member may have regardless of its ratio, so that
            small, very compressible arrays (all zeros) still load.
        max_token_chars: longest single token string in the metadata.
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_elements: int = DEFAULT_MAX_ELEMENTS
    max_tensors: int = 64
    max_header_bytes: int = 2**20
    max_ratio: int = 20
    ratio_allowance: int = 2**20
    max_token_chars: int = 256

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"UploadLimits.{field.name} must be an integer ≥ 1, got {value!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UploadLimits:
        """Defaults, with ``max_bytes``/``max_elements`` taken from the environment when set."""
        environ = os.environ if environ is None else environ
        values = {}
        for key, field_name in ((BYTES_ENV, "max_bytes"), (ELEMENTS_ENV, "max_elements")):
            text = environ.get(key, "").strip()
            if not text:
                continue
            try:
                values[field_name] = int(text)
            except ValueError:
                raise ValueError(f"{key} must be a positive integer, got {text[:40]!r}") from None
            if values[field_name] < 1:
                raise ValueError(f"{key} must be a positive integer, got {text[:40]!r}")
        return cls(**values)


def shown(name: str) -> str:
    """A tensor or file name as messages quote it: escaped (repr) and shortened."""
    if len(name) > NAME_CHARS:
        name = name[: NAME_CHARS - 1] + "…"
    return repr(name)


def human_bytes(count: int) -> str:
    """1536 → '1.5 KiB': sizes in messages."""
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} bytes"  # unreachable; keeps type checkers content
