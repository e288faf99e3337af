"""Property-based fuzzing of the upload loaders: whatever the bytes, only InputError escapes.

Mutations of valid files of each format (bit flips, integer overwrites at any offset,
truncations, insertions, deletions), of single zip members re-zipped with valid checksums
(so the weights-only unpickler and the .npy header parser see them), and structure-aware cases
(safetensors headers, .npy headers, zip archives, layouts). Accepted files must give finite
float arrays. Bounded: 200 examples per property, small limits so no accepted size is large.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.errors import InputError
from explorer.inputs.layouts import LAYOUTS, to_inputs
from explorer.inputs.uploads.decode import read_tensor_file
from explorer.inputs.uploads.describe import describe_files
from explorer.inputs.uploads.examples import encode, example_tensors, example_upload
from explorer.inputs.uploads.files import load_inputs
from explorer.inputs.uploads.limits import UploadLimits

LIMITS = UploadLimits(max_bytes=2**20, max_elements=100_000, max_header_bytes=65_536)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMATS = ("safetensors", "npy", "npz", "pt")
BASES = {fmt: example_upload(fmt) for fmt in FORMATS}
INTERESTING = [0, 1, 2, 7, 0x7F, 0x80, 0xFF, 0xFFFF, 2**31 - 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]

position = st.integers(min_value=0, max_value=2**16)
mutation = st.one_of(
    st.tuples(st.just("xor"), position, st.integers(1, 255)),
    st.tuples(st.just("int"), position, st.sampled_from(INTERESTING), st.sampled_from("BHIQ")),
    st.tuples(st.just("truncate"), position),
    st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=32)),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
)


def mutate(data: bytes, operations: list[tuple]) -> bytes:
    buffer = bytearray(data)
    for kind, where, *args in operations:
        where %= len(buffer) + 1
        if kind == "xor" and where < len(buffer):
            buffer[where] ^= args[0]
        elif kind == "int":
            value, code = args
            size = struct.calcsize(code)
            value %= 2 ** (8 * size)
            buffer[where : where + size] = struct.pack("<" + code, value)
        elif kind == "truncate":
            del buffer[where:]
        elif kind == "insert":
            buffer[where:where] = args[0]
        elif kind == "delete":
            del buffer[where : where + args[0]]
    return bytes(buffer)


def check_load(data: bytes, filename: str) -> None:
    """Load; only InputError may escape, and whatever loads is finite float."""
    try:
        loaded = read_tensor_file(data, filename, limits=LIMITS)
    except InputError:
        return
    for array in loaded.tensors.values():
        assert array.dtype in (np.float32, np.float64)
        assert np.isfinite(array).all()
    with contextlib.suppress(InputError):
        describe_files([(filename, data)], limits=LIMITS)


@pytest.mark.parametrize("fmt", FORMATS)
@FUZZ
@given(operations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files_only_raise_input_error(fmt, operations):
    name, data = BASES[fmt]
    check_load(mutate(data, operations), name)


@pytest.mark.parametrize("fmt", ["pt", "npz"])
@FUZZ
@given(member=st.integers(0, 31), operations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_zip_members_reach_their_parsers(fmt, member, operations):
    """One member mutated, then re-zipped with valid CRCs: the unpickler/.npy parser sees it."""
    name, data = BASES[fmt]
    source = zipfile.ZipFile(io.BytesIO(data))
    members = source.infolist()
    target = members[member % len(members)].filename
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in members:
            content = source.read(info)
            archive.writestr(
                info, mutate(content, operations) if info.filename == target else content
            )
    check_load(buffer.getvalue(), name)


@FUZZ
@given(
    entries=st.dictionaries(
        st.text(max_size=8),
        st.fixed_dictionaries(
            {
                "dtype": st.sampled_from(["F32", "F16", "BF16", "I64", "BOOL", "C64", "X", 3]),
                "shape": st.lists(st.integers(-2, 2**40) | st.booleans(), max_size=4),
                "data_offsets": st.lists(st.integers(-1, 2**40), min_size=0, max_size=3),
            }
        ),
        max_size=3,
    ),
    metadata=st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers()),
    body=st.binary(max_size=64),
)
def test_safetensors_headers(entries, metadata, body):
    header: dict = dict(entries)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    check_load(struct.pack("<Q", len(text)) + text + body, "x.safetensors")


@FUZZ
@given(
    descr=st.sampled_from(["<f4", ">f8", "|b1", "<i8", "O", "|V8", "<U3", "<c8", "<M8[s]", "zz"]),
    fortran=st.sampled_from(["False", "True", "1", "None"]),
    shape=st.lists(st.integers(-1, 2**40), max_size=4).map(tuple),
    version=st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x00\x00"]),
    body=st.binary(max_size=64),
)
def test_npy_headers(descr, fortran, shape, version, body):
    header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape!r}, }}\n"
    size = struct.pack("<H" if version == b"\x01\x00" else "<I", len(header))
    check_load(b"\x93NUMPY" + version + size + header.encode() + body, "x.npy")


@FUZZ
@given(
    members=st.lists(
        st.tuples(
            st.sampled_from(["q.npy", "k.npy", "q", "archive/data.pkl", "a/v.npy"]),
            st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]),
            st.sampled_from(["npy", "random", "empty"]),
        ),
        min_size=1,
        max_size=4,
    ),
    seed=st.integers(0, 2**16),
    filename=st.sampled_from(["x.npz", "x.pt"]),
)
def test_zip_archives(members, seed, filename):
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate member names are part of the fuzz
        for name, method, content in members:
            payload = {
                "npy": encode({"a": rng.standard_normal((2, 3))}, "npy"),
                "random": rng.bytes(int(rng.integers(1, 200))),
                "empty": b"",
            }[content]
            archive.writestr(zipfile.ZipInfo(name), payload, compress_type=method)
    check_load(buffer.getvalue(), filename)


@FUZZ
@given(
    shapes=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=5), min_size=2, max_size=3),
    layout=st.sampled_from(LAYOUTS),
    layer=st.none() | st.integers(-1, 3),
    head=st.none() | st.integers(-1, 5),
)
def test_layouts_only_raise_input_error(shapes, layout, layer, head):
    tensors = {role: np.ones(shape) for role, shape in zip("qkv", shapes, strict=False)}
    try:
        result = to_inputs(tensors, layout=layout, layer=layer, head=head)
    except InputError:
        return
    inputs = result.inputs
    assert inputs.q.ndim == inputs.k.ndim == 3 and inputs.q.shape[2] == inputs.k.shape[2]
    assert result.layout != "auto"


@settings(max_examples=50, deadline=None)
@given(operations=st.lists(mutation, min_size=1, max_size=3), fmt=st.sampled_from(FORMATS))
def test_mutated_separate_files(operations, fmt):
    tensors = example_tensors()
    files = [(f"{role}.{fmt}", encode({role: tensors[role]}, fmt)) for role in "qk"]
    files[1] = (files[1][0], mutate(files[1][1], operations))
    with contextlib.suppress(InputError):
        load_inputs(files, limits=LIMITS)


def test_fuzz_script_runs():
    path = Path(__file__).resolve().parents[4] / "benchmarks" / "fuzz_uploads.py"
    spec = importlib.util.spec_from_file_location("fuzz_uploads", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--cases", "60", "--seed", "3", "--quiet"]) == 0
