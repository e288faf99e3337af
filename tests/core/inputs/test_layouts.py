"""Named tensors → AttentionInputs: the q/k/v naming rule, layouts, selection, tokens, files."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from explorer.errors import InputError
from explorer.inputs.layouts import LAYOUTS, find_qkv, resolve_layout, to_inputs
from explorer.inputs.names import file_role, split_role, tokens_from_metadata
from explorer.inputs.uploads.decode import read_tensor_file
from explorer.inputs.uploads.examples import encode, example_tensors
from explorer.inputs.uploads.files import describe, input_statistics, load_inputs
from explorer.inputs.uploads.limits import UploadLimits

RNG = np.random.default_rng(0)


def canonical(heads=3, length=5, key_length=6, head_dim=4, value_dim=2, layers=2):
    """q, k, v as (layers, h, ·, ·) float64 arrays."""
    return (
        RNG.standard_normal((layers, heads, length, head_dim)),
        RNG.standard_normal((layers, heads, key_length, head_dim)),
        RNG.standard_normal((layers, heads, key_length, value_dim)),
    )


# The naming rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("q", ("", "q")),
        ("Query", ("", "q")),
        ("KEYS", ("", "k")),
        ("values", ("", "v")),
        ("layer0.q", ("layer0", "q")),
        ("layers.3.query", ("layers.3", "q")),
        ("encoder.layer.2.attention.self.key", ("encoder.layer.2.attention.self", "k")),
        ("Layer0/V", ("layer0", "v")),
        ("attn_k", ("attn", "k")),
        ("h-2:value", ("h-2", "v")),
        ("q_proj", None),
        ("query_states", None),
        ("wq", None),
        ("layer0q", None),
        ("key.weight", None),
        ("mask", None),
        ("", None),
        ("k2", None),
    ],
)
def test_split_role(name, expected):
    assert split_role(name) == expected


def test_find_qkv_picks_the_complete_group():
    assert find_qkv(["layer0.q", "layer0.k", "layer0.v", "mask"]) == {
        "q": "layer0.q",
        "k": "layer0.k",
        "v": "layer0.v",
    }
    assert find_qkv(["Query", "Key", "extra.q"]) == {"q": "Query", "k": "Key"}
    assert find_qkv(["Layer1.Q", "layer1_k"]) == {"q": "Layer1.Q", "k": "layer1_k"}


def test_find_qkv_asks_instead_of_guessing():
    names = ["layer0.q", "layer0.k", "layer1.q", "layer1.k", "layer1.v"]
    with pytest.raises(InputError, match="several q/k groups: 'layer0', 'layer1'"):
        find_qkv(names)
    assert find_qkv(names, prefix="Layer1.") == {"q": "layer1.q", "k": "layer1.k", "v": "layer1.v"}
    with pytest.raises(InputError, match="groups: 'layer0', 'layer1'"):
        find_qkv(names, prefix="layer2")
    with pytest.raises(InputError, match="both 'q' and 'Q' name q"):
        find_qkv(["q", "Q", "k"])
    with pytest.raises(InputError, match=r"found q \('layer0.q'\), v .* but no k"):
        find_qkv(["layer0.q", "layer0.v"])
    with pytest.raises(InputError, match="the names are: 'a', 'b'"):
        find_qkv(["a", "b"])


def test_file_roles():
    assert file_role("layer0_key", "layer0_key.npy") == "k"
    with pytest.raises(InputError, match="cannot tell"):
        file_role("weights", "weights.npy")


# Layouts -----------------------------------------------------------------------------------------


def _in_layout(array: np.ndarray, layout: str) -> np.ndarray:
    """(layers, h, l, d) → the tensor a capture in ``layout`` would hold."""
    if layout == "l d":
        return array[0, 0]
    if layout in ("h l d", "auto"):
        return array[0]
    if layout == "l h d":
        return array[0].swapaxes(0, 1)
    if layout == "b l h d":
        return array.swapaxes(1, 2)
    return array  # "b h l d", "layers h l d"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_round_trips(layout):
    q, k, v = canonical(heads=1 if layout == "l d" else 3)
    tensors = {role: _in_layout(a, layout) for role, a in zip("qkv", (q, k, v), strict=True)}
    result = to_inputs(tensors, layout=layout)
    expected = "h l d" if layout == "auto" else layout
    assert result.layout == expected
    np.testing.assert_array_equal(result.inputs.q, q[0, : result.inputs.num_heads])
    np.testing.assert_array_equal(result.inputs.k, k[0, : result.inputs.num_heads])
    np.testing.assert_array_equal(result.inputs.v, v[0, : result.inputs.num_heads])
    assert result.layer == (0 if layout.count(" ") == 3 else None)


def test_auto_reads_rank_and_asks_when_heads_look_like_length():
    assert resolve_layout({"q": (5, 4), "k": (6, 4)}) == "l d"
    assert resolve_layout({"q": (2, 3, 5, 4)}) == "b h l d"
    options = "'b h l d', 'layers h l d' or 'b l h d'"
    with pytest.raises(InputError, match=rf"\(1, 16, 12, 64\).*{options}"):
        resolve_layout({"q (capture)": (1, 16, 12, 64)})  # (b, l, h, d) most likely
    with pytest.raises(InputError, match="'h l d' or 'l h d'"):
        resolve_layout({"q": (128, 12, 64)})
    with pytest.raises(InputError, match="same number of dimensions"):
        resolve_layout({"q": (2, 5, 4), "k": (5, 4)})
    with pytest.raises(InputError, match="5 dimensions"):
        resolve_layout({"q": (1, 1, 2, 5, 4)})
    with pytest.raises(InputError, match=r"k 'kk' has shape \(5, 4\) \(2-D\).*'h l d' is 3-D"):
        resolve_layout({"q 'qq'": (2, 5, 4), "k 'kk'": (5, 4)}, layout="h l d")
    with pytest.raises(InputError, match="unknown layout"):
        resolve_layout({"q": (5, 4)}, layout="b h d l")


def test_explicit_heads_second_layouts():
    q, k, v = canonical(heads=4, length=12, key_length=12)
    tensors = {"q": q.swapaxes(1, 2), "k": k.swapaxes(1, 2), "v": v.swapaxes(1, 2)}
    with pytest.raises(InputError, match="pass layout="):
        to_inputs(tensors)
    result = to_inputs(tensors, layout="b l h d", layer=1)
    np.testing.assert_array_equal(result.inputs.q, q[1])
    assert "index 1 of the first axis" in result.summary()


def test_layout_from_metadata_then_argument_then_shape():
    q, k, _ = canonical(heads=4, length=3, key_length=3)  # heads > length: auto alone would ask
    tensors = {"q": q, "k": k}
    result = to_inputs(tensors, metadata={"layout": "layers h l d"}, layer=1)
    assert (result.layout, result.layout_from) == ("layers h l d", "metadata")
    np.testing.assert_array_equal(result.inputs.q, q[1])
    assert to_inputs(tensors, layout="b h l d", metadata={"layout": "b l h d"}).layout_from == (
        "argument"
    )
    with pytest.raises(InputError, match="pass layout="):
        to_inputs(tensors, metadata={"layout": "<script>"})  # not a layout: ignored
    assert to_inputs({"q": q[0, 0], "k": k[0, 0]}).layout_from == "shape"


def test_the_shipped_sample_capture_loads():
    root = Path(__file__).resolve().parents[3]
    path = root / "explorer" / "inputs" / "data" / "minilm_sample.safetensors"
    if not path.exists():
        pytest.skip("no sample capture in this checkout")
    result = load_inputs([(path.name, path.read_bytes())], layer=5)
    assert (result.layout, result.layout_from, result.layer) == ("layers h l d", "metadata", 5)
    assert len(result.inputs.query_tokens) == result.inputs.q.shape[1]


def test_layer_and_head_selection():
    q, k, v = canonical()
    tensors = {"layers.query": q, "layers.key": k, "layers.value": v}
    result = to_inputs(tensors, layout="layers h l d", layer=1, head=2)
    np.testing.assert_array_equal(result.inputs.q, q[1, 2:3])
    np.testing.assert_array_equal(result.inputs.v, v[1, 2:3])
    assert (result.layer, result.head, result.inputs.num_heads) == (1, 2, 1)
    with pytest.raises(InputError, match="layer=2 is out of range: the first axis has 2"):
        to_inputs(tensors, layer=2)
    with pytest.raises(InputError, match="head=3 is out of range: q has 3 heads"):
        to_inputs(tensors, head=3)
    with pytest.raises(InputError, match="layer=1 needs a 4-D layout"):
        to_inputs({"q": q[0], "k": k[0]}, layer=1)
    for bad in (-1, 1.5, True, "0"):
        with pytest.raises(InputError, match="integer ≥ 0"):
            to_inputs(tensors, head=bad)


def test_cross_attention_and_shape_errors_name_both_tensors():
    q, k, v = canonical(length=5, key_length=9)
    result = to_inputs({"q": q[0], "k": k[0], "v": v[0]})
    assert result.inputs.q.shape[1] == 5 and result.inputs.k.shape[1] == 9
    with pytest.raises(InputError, match=r"head dims differ: q 'q' .* d=4, k 'k' .* d=3"):
        to_inputs({"q": q[0], "k": k[0, ..., :3]})
    with pytest.raises(InputError, match=r"k 'k' \(3, 9, 4\) gives \(h, s\) = \(3, 9\), v 'v'"):
        to_inputs({"q": q[0], "k": k[0], "v": v[0, :, :8]})
    with pytest.raises(InputError, match="first axes"):
        to_inputs({"q": q, "k": k[:1]})
    with pytest.raises(InputError, match="empty"):
        to_inputs({"q": q[0, :, :0], "k": k[0]})


def test_grouped_query_heads_are_repeated():
    q, k, v = canonical(heads=4)
    tensors = {"q": q[0], "k": k[0, :2], "v": v[0, :2]}
    result = to_inputs(tensors)
    assert result.kv_repeat == 2 and "grouped-query" in result.summary()
    np.testing.assert_array_equal(result.inputs.k, np.repeat(k[0, :2], 2, axis=0))
    one = to_inputs(tensors, head=3)
    np.testing.assert_array_equal(one.inputs.k, k[0, 1:2])
    with pytest.raises(InputError, match="not a divisor"):
        to_inputs({"q": q[0], "k": np.concatenate([k[0], k[0, :1]])[:3]})


def test_results_pickle_for_caching():
    tensors = example_tensors()
    data = encode(tensors, "safetensors", metadata={"tokens": json.dumps(list("abcdefgh"))})
    result = pickle.loads(pickle.dumps(load_inputs([("x.safetensors", data)])))
    np.testing.assert_array_equal(result.inputs.q, tensors["q"])
    assert result.inputs.key_tokens == tuple("abcdefgh") and result.tensor_names["v"] == "v"
    assert pickle.loads(pickle.dumps(read_tensor_file(data, "x.safetensors"))).names


def test_inputs_are_writable_copies_with_one_dtype():
    q, k, _ = canonical()
    tensors = {"q": q[0].astype(np.float32), "k": k[0]}
    tensors["q"].flags.writeable = False
    result = to_inputs(tensors)
    assert result.inputs.q.dtype == result.inputs.k.dtype == np.float64
    assert result.inputs.q.flags.writeable and not np.shares_memory(result.inputs.k, k)


# Tokens ------------------------------------------------------------------------------------------


def test_tokens_from_metadata():
    tokens = json.dumps(["a", "b", "c"])
    assert tokens_from_metadata({"tokens": tokens}, query_length=3, key_length=3) == (
        ("a", "b", "c"),
        ("a", "b", "c"),
    )
    both = {"query_tokens": '["x"]', "tokens": tokens}
    assert tokens_from_metadata(both, query_length=1, key_length=3) == (("x",), ("a", "b", "c"))
    assert tokens_from_metadata(None, query_length=1, key_length=1) == (None, None)
    errors = {
        "has 3 tokens but the key length is 4": {"tokens": tokens},
        "not JSON": {"tokens": "[a"},
        "list of strings": {"key_tokens": "[1, 2]"},
        "longer than 256": {"query_tokens": json.dumps(["a" * 300])},
    }
    for match, metadata in errors.items():
        with pytest.raises(InputError, match=match):
            tokens_from_metadata(metadata, query_length=3, key_length=4)
    with pytest.raises(InputError, match="not JSON"):
        tokens_from_metadata({"tokens": "[" * 100_000}, query_length=1, key_length=1)


def test_tokens_reach_the_inputs():
    q, k, _ = canonical(length=2, key_length=3)
    metadata = {"query_tokens": '["a", "b"]', "key_tokens": '["x", "y", "z"]', "other": "{"}
    inputs = to_inputs({"q": q[0], "k": k[0]}, layout="h l d", metadata=metadata).inputs
    assert inputs.query_tokens == ("a", "b") and inputs.key_tokens == ("x", "y", "z")


# Files -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["safetensors", "npz", "pt"])
def test_load_inputs_from_one_file(fmt):
    tensors = example_tensors(heads=2, length=3, key_length=4)
    tensors = {f"model.layer.0.{name}": array for name, array in tensors.items()}
    metadata = {"query_tokens": '["a", "b", "c"]'} if fmt != "npz" else None
    result = load_inputs([(f"capture.{fmt}", encode(tensors, fmt, metadata=metadata))])
    np.testing.assert_array_equal(result.inputs.k, tensors["model.layer.0.k"])
    assert result.inputs.name == f"capture.{fmt}" and result.layout == "h l d"
    assert result.inputs.query_tokens == (("a", "b", "c") if metadata else None)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


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


# describe ----------------------------------------------------------------------------------------


def test_describe_is_json_and_its_statistics_are_exact():
    q, k, v = canonical(heads=2, length=3, key_length=4, head_dim=8)
    data = encode({"layers.q": q, "layers.k": k, "layers.v": v}, "safetensors")
    report = describe(data, "capture.safetensors", layer=1)
    json.dumps(report)
    assert report["qkv"] == {"q": "layers.q", "k": "layers.k", "v": "layers.v"}
    assert (report["layout"], report["layer"], report["problem"]) == ("b h l d", 1, None)
    assert report["layout_from"] == "shape"
    assert report["tensors"][0]["dtype"] == "F64"
    x, y = q[1] * 8**-0.25, k[1] * 8**-0.25
    pairs = ((x[:, :, None, :] + y[:, None, :, :]) ** 2).sum(-1)  # (h, l, s)
    stats = report["statistics"]
    assert stats["mean_norm_x_plus_y_squared"] == pytest.approx(pairs.mean())
    assert stats["max_norm_x"] == pytest.approx(np.linalg.norm(x, axis=-1).max())
    assert stats["max_norm_x_plus_y_squared_bound"] >= pairs.max()
    assert input_statistics(load_inputs([("c.safetensors", data)], layer=1).inputs) == stats


def test_describe_reports_problems_but_raises_for_unreadable_files():
    q, k, _ = canonical(heads=16, length=12, key_length=12)
    report = describe(encode({"q": q, "k": k}, "npz"), "c.npz")
    assert report["qkv"] == {"q": "q", "k": "k"} and "pass layout" in report["problem"]
    assert report["statistics"] is None
    with pytest.raises(InputError):
        describe(b"\x00" * 10, "c.npz")
