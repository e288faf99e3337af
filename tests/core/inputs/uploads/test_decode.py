"""Loading uploaded tensor files: round trips per format, limits, and hostile files refused."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch
from safetensors.numpy import save as save_safetensors
from safetensors.torch import save as save_torch_safetensors

from explorer.errors import InputError
from explorer.inputs.uploads.decode import file_format, file_stem, load_tensors, read_tensor_file
from explorer.inputs.uploads.examples import encode, example_tensors, example_upload
from explorer.inputs.uploads.limits import UploadLimits

FORMATS = ("safetensors", "npy", "npz", "pt")
SMALL = UploadLimits(max_bytes=2**20, max_elements=10_000)


def npy_bytes(array: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    return buffer.getvalue()


def torch_bytes(obj: object, **kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def safetensors_raw(header: dict, body: bytes = b"", *, length: int | None = None) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + body


class Payload:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


# Round trips -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_names_values_and_float_dtype(fmt):
    tensors = example_tensors(seed=1)
    if fmt == "npy":
        tensors = {"q": tensors["q"]}
    loaded = read_tensor_file(encode(tensors, fmt), f"q.{fmt}")
    assert loaded.format == fmt and set(loaded.tensors) == set(tensors)
    for name, array in tensors.items():
        np.testing.assert_array_equal(loaded.tensors[name], array)
        assert loaded.tensors[name].dtype == np.float32
        assert not loaded.tensors[name].flags.writeable  # shared results cannot be mutated


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        ("float64", np.float64),
        ("float16", np.float32),
        ("int16", np.float32),
        ("uint8", np.float32),
        ("bool", np.float32),
        (">f8", np.float64),
        (">f4", np.float32),
    ],
)
def test_numpy_dtypes_convert_to_float32_or_float64(dtype, expected):
    array = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    for data, name in ((npy_bytes(array), "q.npy"), (encode({"q": array}, "npz"), "q.npz")):
        loaded = read_tensor_file(data, name)
        assert loaded.tensors["q"].dtype == expected
        np.testing.assert_array_equal(loaded.tensors["q"], array.astype(expected))
        assert loaded.source_dtypes["q"] == np.dtype(dtype).str


def test_fortran_order_npy_and_compressed_npz():
    array = np.asfortranarray(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(load_tensors(npy_bytes(array), "x.npy")["x"], array)
    data = encode({"q": array, "k": array + 1}, "npz", compressed=True)
    np.testing.assert_array_equal(load_tensors(data, "x.npz")["k"], array + 1)


@pytest.mark.parametrize(
    ("dtype", "name"),
    [
        (torch.bfloat16, "BF16"),
        (torch.float16, "F16"),
        (torch.float8_e4m3fn, "F8_E4M3"),
        (torch.int64, "I64"),
        (torch.uint16, "U16"),
        (torch.bool, "BOOL"),
        (torch.float64, "F64"),
    ],
)
def test_safetensors_dtypes(dtype, name):
    tensor = (torch.arange(6).reshape(2, 3) % 2).to(dtype)
    loaded = read_tensor_file(save_torch_safetensors({"q": tensor}), "x.safetensors")
    assert loaded.source_dtypes["q"] == name
    np.testing.assert_array_equal(loaded.tensors["q"], tensor.to(torch.float64).numpy())


def test_safetensors_metadata_is_returned():
    data = save_safetensors({"q": np.ones((2, 3), np.float32)}, metadata={"tokens": '["a"]'})
    assert dict(read_tensor_file(data, "x.safetensors").metadata) == {"tokens": '["a"]'}


def test_pt_nested_containers_parameters_and_tokens():
    content = {
        "layer0": {"q": torch.ones(2, 3), "k": torch.nn.Parameter(torch.zeros(2, 3))},
        "extra": [torch.full((2,), 2.0)],
        "epoch": 3,
        "tokens": ["a", "b"],
    }
    loaded = read_tensor_file(torch_bytes(content), "run.pth")
    assert list(loaded.tensors) == ["layer0.q", "layer0.k", "extra.0"]
    assert json.loads(loaded.metadata["tokens"]) == ["a", "b"]
    single = read_tensor_file(torch_bytes(torch.ones(3, dtype=torch.bfloat16)), "query.pt")
    assert list(single.tensors) == ["query"] and single.tensors["query"].dtype == np.float32


def test_examples_and_bytes_like_inputs():
    for fmt in FORMATS:
        name, data = example_upload(fmt)
        assert read_tensor_file(bytearray(data), name).tensors
        assert read_tensor_file(memoryview(data), name).format == fmt


def test_file_names():
    assert file_format("DIR/Sub\\Q.NPY") == "npy" and file_format("a.pth") == "pt"
    assert file_stem("C:\\tmp\\layer0.q.npy") == "layer0.q"
    for name in ("q.txt", "q", "q.npy.exe", "q.pkl", "q.npy:stream", ""):
        with pytest.raises(InputError, match="unsupported extension"):
            file_format(name)


# Limits ------------------------------------------------------------------------------------------


def test_limits_from_env_and_validation():
    limits = UploadLimits.from_env(
        {"EXPLORER_MAX_UPLOAD_BYTES": "1_000", "EXPLORER_MAX_UPLOAD_ELEMENTS": " 50 "}
    )
    assert (limits.max_bytes, limits.max_elements) == (1000, 50)
    assert UploadLimits.from_env({}) == UploadLimits()
    for bad in ("ten", "-1", "0", "1.5"):
        with pytest.raises(ValueError, match="EXPLORER_MAX_UPLOAD_BYTES"):
            UploadLimits.from_env({"EXPLORER_MAX_UPLOAD_BYTES": bad})
    with pytest.raises(ValueError, match="max_elements"):
        UploadLimits(max_elements=0)


def test_default_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_UPLOAD_BYTES", "100")
    with pytest.raises(InputError, match="at most 100 bytes"):
        read_tensor_file(npy_bytes(np.zeros(100)), "q.npy")


def test_byte_cap_is_checked_before_anything():
    with pytest.raises(InputError, match="at most"):
        read_tensor_file(os.urandom(2**20 + 1), "x.unknown", limits=SMALL)


@pytest.mark.parametrize("fmt", FORMATS)
def test_element_cap_from_headers(fmt):
    tensors = {"q": np.zeros((101, 100), np.float32)}
    with pytest.raises(InputError, match="10,000"):
        read_tensor_file(encode(tensors, fmt), f"q.{fmt}", limits=SMALL)


def test_expanded_torch_view_is_counted_before_it_is_copied():
    data = torch_bytes({"q": torch.zeros(1).expand(10**9)})  # one stored number, 10⁹ elements
    start = time.perf_counter()
    with pytest.raises(InputError, match="1,000,000,000"):
        read_tensor_file(data, "q.pt")
    assert time.perf_counter() - start < 2


# Malformed files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_random_and_truncated_files(fmt):
    name, data = example_upload(fmt)
    with pytest.raises(InputError, match="empty"):
        read_tensor_file(b"", name)
    rng = np.random.default_rng(0)
    for size in (1, 7, 8, 100, 5000):
        with pytest.raises(InputError):
            read_tensor_file(rng.bytes(size), name)
    for cut in (1, 8, 9, 20, len(data) // 2, len(data) - 1):
        with pytest.raises(InputError):
            read_tensor_file(data[:cut], name)


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_finite_values_name_tensor_and_index(fmt):
    tensors = example_tensors()
    tensors["k"][1, 2, 3] = np.nan if fmt != "pt" else -np.inf
    if fmt == "npy":
        tensors = {"k": tensors["k"]}
    with pytest.raises(InputError, match=r"tensor 'k' has a non-finite value .*\(1, 2, 3\)"):
        read_tensor_file(encode(tensors, fmt), f"k.{fmt}")


def test_float16_overflow_is_not_an_issue_but_inf_is_refused():
    array = np.array([1.0, np.inf], dtype=np.float16)
    with pytest.raises(InputError, match=r"inf\) at index \(1,\)"):
        read_tensor_file(npy_bytes(array), "q.npy")


@pytest.mark.parametrize(
    "array",
    [
        np.array(["ab", "c"]),
        np.zeros(2, complex),
        np.zeros(2, "datetime64[s]"),
        np.zeros(2, [("a", "f4"), ("b", "f4")]),
        np.zeros(2, [("a", "f4", (2,))]),
    ],
)
def test_non_numeric_npy_dtypes_are_refused(array):
    with pytest.raises(InputError, match="only bool, int and float"):
        read_tensor_file(npy_bytes(array), "q.npy")
    with pytest.raises(InputError, match="only bool, int and float"):
        read_tensor_file(encode({"q": array}, "npz"), "q.npz")


def test_non_numeric_torch_tensors_are_refused():
    with pytest.raises(InputError, match="complex64"):
        read_tensor_file(torch_bytes({"q": torch.zeros(2, dtype=torch.complex64)}), "q.pt")
    with pytest.raises(InputError, match="not a dense tensor"):
        read_tensor_file(torch_bytes({"q": torch.eye(2).to_sparse()}), "q.pt")
    with pytest.raises(InputError, match="no tensors"):
        read_tensor_file(torch_bytes({"epoch": 3}), "q.pt")


def test_npz_members_must_be_arrays_with_unique_names():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("q.txt", "hello")
    with pytest.raises(InputError, match="not a .npy array"):
        read_tensor_file(buffer.getvalue(), "x.npz")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("q.npy", npy_bytes(np.ones(2)))
        archive.writestr("q.npy", npy_bytes(np.ones(3)))
    with pytest.raises(InputError, match="same name"):
        read_tensor_file(buffer.getvalue(), "x.npz")


def test_npz_member_size_must_match_its_header():
    header = _npy_header_for((100_000, 100_000))  # 80 GB declared, no data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("q.npy", header)
    with pytest.raises(InputError, match="needs 74.5 GiB"):
        read_tensor_file(buffer.getvalue(), "x.npz")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("q.npy", npy_bytes(np.zeros(4))[:-8])
    with pytest.raises(InputError, match="declares"):
        read_tensor_file(buffer.getvalue(), "x.npz")


def test_oversized_npy_header_is_refused_without_pickle_advice():
    array_header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    padded = array_header + b" " * 70_000 + b"\n"
    data = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(padded)) + padded + bytes(8)
    with pytest.raises(InputError) as caught:
        read_tensor_file(data, "q.npy", limits=UploadLimits(max_header_bytes=65_536))
    assert "header" in str(caught.value) and "allow_pickle" not in str(caught.value)


# Code in files never runs ------------------------------------------------------------------------


def _assert_refused_without_running(data: bytes, name: str, marker, match: str) -> None:
    with pytest.raises(InputError, match=match):
        read_tensor_file(data, name)
    assert not marker.exists(), "code from the uploaded file ran"


def test_pickled_code_in_a_zip_pt_does_not_run(tmp_path):
    marker = tmp_path / "ran"
    data = torch_bytes({"q": torch.ones(2), "x": Payload(str(marker))})
    _assert_refused_without_running(data, "q.pt", marker, "never code")


def test_legacy_torch_pickles_are_refused_unread(tmp_path):
    marker = tmp_path / "ran"
    legacy = torch_bytes({"q": torch.ones(2)}, _use_new_zipfile_serialization=False)
    _assert_refused_without_running(legacy, "q.pt", marker, "legacy")
    hostile = torch_bytes(Payload(str(marker)), _use_new_zipfile_serialization=False)
    _assert_refused_without_running(hostile, "q.pt", marker, "legacy")
    _assert_refused_without_running(pickle.dumps(Payload(str(marker))), "q.pth", marker, "legacy")


def test_object_arrays_with_pickles_do_not_run(tmp_path):
    marker = tmp_path / "ran"
    array = np.array([Payload(str(marker)), 1], dtype=object)
    _assert_refused_without_running(
        npy_bytes(array, allow_pickle=True), "q.npy", marker, "only bool, int and float"
    )
    buffer = io.BytesIO()
    np.savez(buffer, q=array)
    _assert_refused_without_running(buffer.getvalue(), "q.npz", marker, "only bool")


def _rezip(data: bytes, extra: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
        for name, content in extra.items():
            target.writestr(name, content)
    return buffer.getvalue()


def test_torchscript_archives_and_large_pickles_are_refused():
    data = torch_bytes({"q": torch.ones(2)})
    scripted = _rezip(data, {"archive/code/__torch__.py": b"import os"})
    with pytest.raises(InputError, match="TorchScript"):
        read_tensor_file(scripted, "q.pt")
    with pytest.raises(InputError, match="data.pkl' is .*at most 64 bytes"):
        read_tensor_file(data, "q.pt", limits=UploadLimits(max_header_bytes=64))


# Zip bombs and lying zip headers -----------------------------------------------------------------


def _bounded(call) -> str:
    """Run ``call`` expecting InputError; assert it is fast and allocates little."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InputError) as caught:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2
    assert peak < 32 * 2**20, f"peak {peak} bytes"
    return str(caught.value)


def test_npz_bomb_is_refused_fast_with_bounded_memory():
    # A real bomb: 256 MiB of float64 zeros (within the element cap) deflated to about 1 MiB.
    header = _npy_header_for((2**25,))
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("q.npy", "w", force_zip64=True) as member,
    ):
        member.write(header)
        zeros = bytes(2**20)
        for _ in range(256):
            member.write(zeros)
    data = buffer.getvalue()
    assert len(data) < 4 * 2**20
    assert "zip bomb" in _bounded(lambda: read_tensor_file(data, "q.npz"))


def _npy_header_for(shape: tuple[int, ...]) -> bytes:
    """The .npy header (magic included) of a float64 array of ``shape``, without its data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def _patch_sizes(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the declared uncompressed size of member ``name`` in both zip headers."""
    data = bytearray(data)
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, size)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, size)
    assert data[central + 46 : central + 46 + len(name)] == name
    return bytes(data)


def test_npz_member_declaring_gigabytes_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("q.npy", npy_bytes(np.zeros(1000)))
    data = _patch_sizes(buffer.getvalue(), b"q.npy", 2**31)
    assert "zip bomb" in _bounded(lambda: read_tensor_file(data, "q.npz"))


def test_deflated_pt_is_refused():
    stored = torch_bytes({"q": torch.zeros(1000, 1000)})
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(stored)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    data = buffer.getvalue()
    assert len(data) < len(stored) / 50  # a 4 MB tensor in a few KB
    assert "compressed" in _bounded(lambda: read_tensor_file(data, "q.pt"))


def test_pt_with_a_member_declaring_gigabytes_is_refused():
    stored = torch_bytes({"q": torch.zeros(4)})
    data = bytearray(stored)
    with zipfile.ZipFile(io.BytesIO(stored)) as archive:
        info = archive.getinfo("archive/data/0")
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(info.filename)] != info.filename.encode():
        central = data.find(b"PK\x01\x02", central + 4)
    struct.pack_into("<II", data, central + 20, 2**31, 2**31)  # compressed and uncompressed
    message = _bounded(lambda: read_tensor_file(bytes(data), "q.pt"))
    assert "claims more bytes" in message or "declares" in message


def test_zip_directory_claiming_many_entries_is_refused_before_parsing():
    _, data = example_upload("npz")
    data = bytearray(data)
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HHI", data, end + 8, 60_000, 60_000, 60_000 * 46)
    assert "zip members" in _bounded(lambda: read_tensor_file(bytes(data), "q.npz"))
    with pytest.raises(InputError, match="zip members"):
        read_tensor_file(torch_bytes({str(i): torch.zeros(1) for i in range(80)}), "q.pt")


# safetensors headers -----------------------------------------------------------------------------


def test_safetensors_header_claiming_40_gb():
    header = {"q": {"dtype": "F32", "shape": [10_000_000_000], "data_offsets": [0, 40 * 10**9]}}
    data = safetensors_raw(header, bytes(16))
    assert "outside" in _bounded(lambda: read_tensor_file(data, "q.safetensors"))


def test_safetensors_header_length_2_pow_40_and_truncation():
    data = struct.pack("<Q", 2**40) + b"{}"
    with pytest.raises(InputError, match="header"):
        read_tensor_file(data, "q.safetensors")
    header = {"q": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    with pytest.raises(InputError, match="truncated"):
        read_tensor_file(safetensors_raw(header, bytes(8), length=500), "q.safetensors")


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}, "outside"),
        ({"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}, "does not fit"),
        ({"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}, "only bool, int and float"),
        ({"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}, "invalid shape"),
        ({"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}, "invalid shape"),
        ({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}, "outside"),
        ({"dtype": "F32", "shape": [2], "data_offsets": [0]}, "data_offsets"),
        ({"dtype": "F32", "shape": [2]}, "exactly"),
        ({"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}, "invalid shape"),
    ],
)
def test_safetensors_lying_entries(entry, match):
    with pytest.raises(InputError, match=match):
        read_tensor_file(safetensors_raw({"q": entry}, bytes(8)), "q.safetensors")


def test_safetensors_structure_errors():
    entry = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
    cases = {
        "gaps": safetensors_raw({"q": {**entry, "data_offsets": [4, 8]}}, bytes(8)),
        "after the last": safetensors_raw({"q": entry}, bytes(8)),
        "overlaps": safetensors_raw({"q": entry, "k": entry}, bytes(4)),
        "not valid JSON": struct.pack("<Q", 5) + b"{'a':",
        "not a JSON object": safetensors_raw([1, 2]),  # type: ignore[arg-type]
        "strings to strings": safetensors_raw({"__metadata__": {"a": 1}}),
        "repeats a key": struct.pack("<Q", 17) + b'{"a": {}, "a": 1}',
    }
    for match, data in cases.items():
        with pytest.raises(InputError, match=match):
            read_tensor_file(data, "q.safetensors")
    deep = b"[" * 100_000
    with pytest.raises(InputError, match="not valid JSON"):
        read_tensor_file(struct.pack("<Q", len(deep)) + deep, "q.safetensors")


def test_errors_are_input_errors_and_value_errors():
    with pytest.raises(ValueError):
        read_tensor_file(b"garbage", "q.npy")
    with pytest.raises(InputError, match="expected the file's bytes"):
        read_tensor_file("q", "q.npy")  # type: ignore[arg-type]


def test_npz_bomb_header_helper_is_valid():
    header = _npy_header_for((3,))
    data = header + np.arange(3.0).tobytes()
    np.testing.assert_array_equal(load_tensors(data, "q.npy")["q"], [0, 1, 2])
