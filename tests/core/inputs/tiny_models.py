"""Tiny random-weight Hugging Face models built from configs (no download), saved with a tokenizer.

Each kind stands for a family of today's attention: BERT (encoder, absolute positions), GPT-2
(causal, fused qkv), Llama (rotary, grouped-query heads), Mistral (a sliding window shorter than
the test texts), Qwen3 (q/k norms), Gemma 2 (its own query scalar, soft-capped logits,
alternating windows). The tokenizer is all-MiniLM-L6-v2's (bundled), so every model reads text.
"""

from __future__ import annotations

from pathlib import Path

COMMON = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 128,
    "initializer_range": 0.15,  # not 0.02: attention far from uniform, so checks bite
}
GROUPED = {"num_key_value_heads": 2}
KINDS = {
    "bert": {},
    "gpt2": {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128},
    "llama": GROUPED,
    "mistral": {**GROUPED, "sliding_window": 5},
    "qwen3": {**GROUPED, "head_dim": 16},
    "gemma2": {
        **GROUPED,
        "head_dim": 16,
        "sliding_window": 6,
        "attn_logit_softcapping": 5.0,  # small, so the cap bends the test's logits
        "query_pre_attn_scalar": 8,  # scaling 8^(-1/2), not d^(-1/2) = 1/4
    },
}
DECODERS = ("gpt2", "llama", "mistral", "qwen3", "gemma2")


def tiny_tokenizer():
    """all-MiniLM-L6-v2's tokenizer (bundled): the vocabulary of every tiny model."""
    from explorer.inputs.models import load_model

    return load_model("minilm").tokenizer


def tiny_config(kind: str, **overrides):
    """A fresh config of ``kind`` (COMMON, then KINDS[kind], then ``overrides``)."""
    from transformers import AutoConfig

    tokenizer = tiny_tokenizer()
    ids = {"pad_token_id": 0, "bos_token_id": 101, "eos_token_id": 102}  # [PAD], [CLS], [SEP]
    fields = {**ids, **COMMON, **KINDS[kind], **overrides}
    return AutoConfig.for_model(kind, vocab_size=len(tokenizer), **fields)


def save_tiny_model(kind: str, directory: Path, *, seed: int = 0) -> Path:
    """A fresh config of ``kind`` with random weights (seeded), saved with MiniLM's tokenizer."""
    import torch
    from transformers import AutoModel

    tokenizer = tiny_tokenizer()
    config = tiny_config(kind)
    torch.manual_seed(seed)
    model = AutoModel.from_config(config, attn_implementation="eager")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
