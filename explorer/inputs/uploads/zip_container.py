"""Zip containers (``.npz``, ``.pt``) inspected before any member is decompressed or unpickled.

A zip archive declares its own sizes, and a small archive can declare (or really inflate to)
gigabytes. Before ``zipfile`` even parses the central directory, its size and entry count are
read from the end records (zip64 included) and capped, which bounds the parse. Then each member
is checked: no encryption, an allowed compression method, a declared size inside the file, and
for ``.pt`` (which ``torch.save`` writes uncompressed) stored members only, whose declared sizes
must add up to no more than the file: ``torch.load`` accepts deflated members, a 1000× bomb.
"""

from __future__ import annotations

import io
import struct
import zipfile

from explorer.errors import InputError
from explorer.inputs.uploads.limits import UploadLimits, human_bytes, shown

ZIP_MAGIC = b"PK\x03\x04"  # a local file header: every non-empty zip archive starts with one
_END = b"PK\x05\x06"
_END_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF
_DIRECTORY_BYTES_PER_ENTRY = 4096  # 46-byte record + name + extra: generous for real archives


def _directory_size(data: bytes, label: str) -> tuple[int, int]:
    """(entries, central directory bytes) as the end records state them, zip64 included."""
    start = len(data) - _END_SIZE
    # zipfile looks at the last 22 bytes first, then searches the comment: do the same.
    if not (start >= 0 and data[start : start + 4] == _END and data[-2:] == b"\0\0"):
        start = data.rfind(_END, max(0, len(data) - _END_SIZE - _MAX_COMMENT))
    if start < 0 or len(data) - start < _END_SIZE:
        raise InputError(f"{label} is not a complete zip archive (no end record; truncated?)")
    entries, directory = struct.unpack_from("<HI", data, start + 10)
    if entries == 0xFFFF or directory == 0xFFFFFFFF:  # the real values live in the zip64 record
        locator = start - 20
        if locator < 0 or data[locator : locator + 4] != _ZIP64_LOCATOR:
            raise InputError(f"{label} is not a valid zip archive (zip64 locator missing)")
        (offset,) = struct.unpack_from("<Q", data, locator + 8)
        if offset + 56 > len(data) or data[offset : offset + 4] != _ZIP64_END:
            raise InputError(f"{label} is not a valid zip archive (zip64 end record missing)")
        entries, directory = struct.unpack_from("<QQ", data, offset + 32)
    return entries, directory


def open_zip(
    data: bytes, *, limits: UploadLimits, label: str, stored_only: bool, extra_members: int = 0
) -> zipfile.ZipFile:
    """A ``ZipFile`` over ``data`` whose every member passed the size and method checks.

    Args:
        data: the whole upload.
        limits: caps; at most ``limits.max_tensors + extra_members`` members.
        label: the file name as messages quote it.
        stored_only: refuse compressed members (``.pt``); else allow deflate up to
            ``limits.max_ratio`` (``.npz``).
        extra_members: members beyond one per tensor that the format needs (``.pt`` bookkeeping).
    """
    max_members = limits.max_tensors + extra_members
    entries, directory = _directory_size(data, label)
    if entries > max_members or directory > max_members * _DIRECTORY_BYTES_PER_ENTRY:
        raise InputError(
            f"{label} declares {entries} zip members ({human_bytes(directory)} of directory); "
            f"at most {max_members} are allowed"
        )
    archive = zipfile.ZipFile(io.BytesIO(data))
    members = archive.infolist()
    if len(members) > max_members:
        raise InputError(f"{label} has {len(members)} zip members; at most {max_members} allowed")
    names = [member.filename for member in members]
    if len(set(names)) != len(names):
        raise InputError(f"{label} has two zip members with the same name")
    allowed = (zipfile.ZIP_STORED,) if stored_only else (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    declared = 0
    for member in members:
        where = f"{label} member {shown(member.filename)}"
        if member.flag_bits & 0x1:
            raise InputError(f"{where} is encrypted")
        if member.compress_type not in allowed:
            hint = " (torch.save writes stored members; re-save it)" if stored_only else ""
            raise InputError(f"{where} is compressed (method {member.compress_type}){hint}")
        if member.header_offset + member.compress_size > len(data):
            raise InputError(f"{where} claims more bytes than the file holds (truncated?)")
        if member.compress_type == zipfile.ZIP_STORED and member.compress_size != member.file_size:
            raise InputError(f"{where} has inconsistent sizes (stored but resized)")
        if member.file_size > limits.max_ratio * member.compress_size + limits.ratio_allowance:
            raise InputError(
                f"{where} would inflate {human_bytes(member.compress_size)} to "
                f"{human_bytes(member.file_size)}: more than {limits.max_ratio}× (zip bomb?)"
            )
        declared += member.file_size
    if stored_only and declared > len(data):
        raise InputError(
            f"{label} declares {human_bytes(declared)} of members in a "
            f"{human_bytes(len(data))} file"
        )
    return archive
