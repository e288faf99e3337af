"""What names mean: q/k/v roles from tensor and file names, and tokens from metadata."""

from __future__ import annotations

import json

import pytest

from explorer.errors import InputError
from explorer.inputs.layouts import find_qkv
from explorer.inputs.names import file_role, split_role, tokens_from_metadata


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
