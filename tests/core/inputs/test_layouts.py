"""Named tensors → AttentionInputs: the q/k/v naming rule, layouts, selection, tokens, files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from explorer.errors import InputError
from explorer.inputs.layouts import LAYOUTS, resolve_layout, to_inputs
from explorer.inputs.uploads.decode import read_tensor_file
from explorer.inputs.uploads.examples import encode, example_tensors
from explorer.inputs.uploads.files import load_inputs

RNG = np.random.default_rng(0)


def canonical(heads=3, length=5, key_length=6, head_dim=4, value_dim=2, layers=2):
    """q, k, v as (layers, h, ·, ·) float64 arrays."""
    return (
        RNG.standard_normal((layers, heads, length, head_dim)),
        RNG.standard_normal((layers, heads, key_length, head_dim)),
        RNG.standard_normal((layers, heads, key_length, value_dim)),
    )


# The naming rule ---------------------------------------------------------------------------------


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


def test_grouped_query_heads_are_kept_not_repeated():
    # The core handles grouped-query heads itself (query head i uses k/v head i // g), so an
    # upload's two k/v heads stay two: no repeated copy of K or V is ever made.
    q, k, v = canonical(heads=4)
    tensors = {"q": q[0], "k": k[0, :2], "v": v[0, :2]}
    result = to_inputs(tensors)
    assert result.kv_repeat == 2 and "grouped-query" in result.summary()
    np.testing.assert_array_equal(result.inputs.k, k[0, :2])
    assert result.inputs.num_kv_heads == 2 and result.inputs.group == 2
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


def test_tokens_reach_the_inputs():
    q, k, _ = canonical(length=2, key_length=3)
    metadata = {"query_tokens": '["a", "b"]', "key_tokens": '["x", "y", "z"]', "other": "{"}
    inputs = to_inputs({"q": q[0], "k": k[0]}, layout="h l d", metadata=metadata).inputs
    assert inputs.query_tokens == ("a", "b") and inputs.key_tokens == ("x", "y", "z")


# Files -------------------------------------------------------------------------------------------


# describe ----------------------------------------------------------------------------------------


# The model's softmax, read from metadata ----------------------------------------------------------


def test_capture_metadata_sets_scale_mask_window_and_grouped_heads():
    q = RNG.standard_normal((2, 4, 6, 8))
    k, v = RNG.standard_normal((2, 2, 6, 8)), RNG.standard_normal((2, 2, 6, 8))
    metadata = {
        "layout": "layers h l d",
        "softmax_scale": "0.3",
        "causal": "true",
        "sliding_windows": "[null, 3]",
        "num_kv_heads": "2",
        "logit_softcapping": "50.0",
    }
    first = to_inputs({"q": q, "k": k, "v": v}, metadata=metadata).inputs
    second = to_inputs({"q": q, "k": k, "v": v}, metadata=metadata, layer=1).inputs
    assert (first.softmax_scale, first.causal, first.window, first.softcap) == (
        0.3,
        True,
        None,
        50.0,
    )
    assert second.window == 3 and (second.num_heads, second.num_kv_heads) == (4, 2)
    assert second.k.shape == (2, 6, 8)  # key/value heads kept, never repeated
    assert to_inputs({"q": q, "k": k}, metadata=metadata, layer=1, head=3).inputs.k.shape[0] == 1
    wrong = {**metadata, "num_kv_heads": "4"}
    with pytest.raises(InputError, match="num_kv_heads is 4 but k"):
        to_inputs({"q": q, "k": k}, metadata=wrong)
    for key, value in (("softmax_scale", "-1"), ("causal", "yes"), ("sliding_windows", "[0]")):
        with pytest.raises(InputError, match=key):
            to_inputs({"q": q, "k": k}, metadata={**metadata, key: value})
    with pytest.raises(InputError, match="heads"):  # 4 query heads cannot share 3 key heads
        to_inputs({"q": q, "k": RNG.standard_normal((2, 3, 6, 8))}, layout="layers h l d")
