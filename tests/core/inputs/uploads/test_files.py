"""Uploaded files to AttentionInputs: one file or one per tensor, caps over all, describe."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from explorer.errors import InputError
from explorer.inputs.uploads.describe import describe_files
from explorer.inputs.uploads.examples import encode, example_tensors
from explorer.inputs.uploads.files import input_statistics, load_inputs
from explorer.inputs.uploads.limits import UploadLimits

RNG = np.random.default_rng(0)


def canonical(heads=3, length=5, key_length=6, head_dim=4, value_dim=2, layers=2):
    """q, k, v as (layers, h, ·, ·) float64 arrays."""
    return (
        RNG.standard_normal((layers, heads, length, head_dim)),
        RNG.standard_normal((layers, heads, key_length, head_dim)),
        RNG.standard_normal((layers, heads, key_length, value_dim)),
    )


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "pt"])
def test_load_inputs_from_one_file(fmt):
    tensors = example_tensors(heads=2, length=3, key_length=4)
    tensors = {f"model.layer.0.{name}": array for name, array in tensors.items()}
    metadata = {"query_tokens": '["a", "b", "c"]'} if fmt != "npz" else None
    result = load_inputs([(f"capture.{fmt}", encode(tensors, fmt, metadata=metadata))])
    np.testing.assert_array_equal(result.inputs.k, tensors["model.layer.0.k"])
    assert result.inputs.name == f"capture.{fmt}" and result.layout == "h l d"
    assert result.inputs.query_tokens == (("a", "b", "c") if metadata else None)


def test_load_inputs_from_separate_files():
    q, k, v = canonical()
    files = [
        ("V.safetensors", encode({"value": v[0]}, "safetensors", metadata={"tokens": "[]"})),
        ("layer0_query.npy", _npy(q[0])),
        ("k.pt", encode({"x": k[0]}, "pt")),
    ]
    with pytest.raises(InputError, match="0 tokens but the query length is 5"):
        load_inputs(files)
    files[0] = ("V.safetensors", encode({"value": v[0]}, "safetensors"))
    result = load_inputs(files)
    np.testing.assert_array_equal(result.inputs.v, v[0])
    assert dict(result.tensor_names) == {"q": "layer0_query.npy", "k": "k.pt", "v": "V.safetensors"}
    assert load_inputs(files[1:]).inputs.v is None


def test_separate_file_errors():
    q, k, _ = canonical()
    errors = {
        "both hold q": [("q.npy", _npy(q[0])), ("query.npy", _npy(q[0]))],
        "cannot tell": [("q.npy", _npy(q[0])), ("x.npy", _npy(k[0]))],
        "holds 2 tensors": [("q.npy", _npy(q[0])), ("k.npz", encode({"a": k, "b": k}, "npz"))],
        "both q and k": [("q.npy", _npy(q[0])), ("v.npy", _npy(k[0]))],
        "4 files": [("q.npy", b"")] * 4,
        "no file": [],
    }
    for match, files in errors.items():
        with pytest.raises(InputError, match=match):
            load_inputs(files)
    with pytest.raises(InputError, match="prefix"):
        load_inputs([("q.npy", _npy(q[0])), ("k.npy", _npy(k[0]))], prefix="layer0")


def test_caps_apply_to_all_files_together():
    q, k, _ = canonical()
    files = [("q.npy", _npy(q[0])), ("k.npy", _npy(k[0]))]
    with pytest.raises(InputError, match="total"):
        load_inputs(files, limits=UploadLimits(max_bytes=len(files[0][1]) + 10))
    with pytest.raises(InputError, match="elements"):
        load_inputs(files, limits=UploadLimits(max_elements=q[0].size + 10))


def test_describe_is_json_and_its_statistics_are_exact():
    q, k, v = canonical(heads=2, length=3, key_length=4, head_dim=8)
    data = encode({"layers.q": q, "layers.k": k, "layers.v": v}, "safetensors")
    report = describe_files([("capture.safetensors", data)], layer=1)
    json.dumps(report)
    assert report["qkv"] == {"q": "layers.q", "k": "layers.k", "v": "layers.v"}
    assert (report["layout"], report["layer"], report["problem"]) == ("b h l d", 1, None)
    assert report["layout_from"] == "shape"
    assert report["files"][0]["tensors"][0]["dtype"] == "F64"
    x, y = q[1] * 8**-0.25, k[1] * 8**-0.25
    pairs = ((x[:, :, None, :] + y[:, None, :, :]) ** 2).sum(-1)  # (h, l, s)
    stats = report["statistics"]
    assert stats["mean_norm_x_plus_y_squared"] == pytest.approx(pairs.mean())
    assert stats["max_norm_x"] == pytest.approx(np.linalg.norm(x, axis=-1).max())
    assert stats["max_norm_x_plus_y_squared_bound"] >= pairs.max()
    assert input_statistics(load_inputs([("c.safetensors", data)], layer=1).inputs) == stats


def test_describe_reports_problems_but_raises_for_unreadable_files():
    q, k, _ = canonical(heads=16, length=12, key_length=12)
    report = describe_files([("c.npz", encode({"q": q, "k": k}, "npz"))])
    assert report["qkv"] == {"q": "q", "k": "k"} and "pass layout" in report["problem"]
    assert report["statistics"] is None
    with pytest.raises(InputError):
        describe_files([("c.npz", b"\x00" * 10)])
