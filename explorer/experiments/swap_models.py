"""The models a swap runs: an encoder (hidden states, mean-pooled embeddings) or a causal LM.

A directory whose ``config.json`` names a language-model head (an architecture ending in
``ForCausalLM`` or ``LMHeadModel``) is loaded with ``AutoModelForCausalLM`` (next-token logits);
anything else, and the bundled MiniLM, with ``models.load_model`` (the base model). Loading is
offline (``local_files_only``), never runs a repository's code (``trust_remote_code=False``) and
goes through ``hf_attention.ATTENTION_NAME``, so ``recording(replacement=...)`` reaches every
layer. Sentence embeddings are MiniLM's own pooling, the mean of the token states under the
attention mask, e = Σ_i m_i h_i / Σ_i m_i (sentence-transformers' ``Pooling(mean)``); other
encoders are pooled the same way. Shapes: hidden (b, l, e), mask (b, l), logits (b, l, vocab).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import torch

from explorer.inputs.models import (
    INSTALL_HINT,
    MINILM,
    ModelError,
    check_directory,
    load_model,
)

ModelKind = Literal["encoder", "causal_lm"]
LM_SUFFIXES = ("ForCausalLM", "LMHeadModel")


@dataclass(frozen=True, kw_only=True)
class SwapModel:
    """A loaded model in eval mode with its tokenizer and what its outputs are."""

    name: str
    kind: ModelKind
    model: Any  # transformers.PreTrainedModel
    tokenizer: Any

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def max_tokens(self) -> int | None:
        config = self.model.config
        for key in ("max_position_embeddings", "n_positions"):
            value = getattr(config, key, None)
            if isinstance(value, int) and value > 0:
                return value
        return None


@dataclass(frozen=True, kw_only=True)
class Outputs:
    """What one forward pass gave, for the measures."""

    hidden: torch.Tensor  # (b, l, e) final hidden states, float64
    mask: torch.Tensor  # (b, l) bool: real tokens
    logits: torch.Tensor | None  # (b, l, vocab) float64, causal LMs only

    def embeddings(self) -> torch.Tensor:
        """Mean pooling under the mask. Shapes: (b, e)."""
        weights = self.mask.to(self.hidden.dtype).unsqueeze(-1)  # (b, l, 1)
        return (self.hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def has_lm_head(directory: Path) -> bool:
    """Whether config.json names a causal language-model architecture."""
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{directory}: cannot read config.json ({error})") from None
    return any(str(a).endswith(LM_SUFFIXES) for a in config.get("architectures") or [])


def load_swap_model(model: str | Path) -> SwapModel:
    """``"minilm"`` or a local directory (causal LMs with their head), cached per process."""
    if str(model) == MINILM:
        loaded = load_model(MINILM)
        return SwapModel(name=loaded.name, kind="encoder", model=loaded.model,
                         tokenizer=loaded.tokenizer)  # fmt: skip
    directory = Path(model).expanduser().resolve()
    check_directory(directory)
    if not has_lm_head(directory):
        loaded = load_model(directory)
        return SwapModel(name=loaded.name, kind="encoder", model=loaded.model,
                         tokenizer=loaded.tokenizer)  # fmt: skip
    return _load_lm(directory)


@lru_cache(maxsize=2)
def _load_lm(directory: Path) -> SwapModel:
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise ModelError(f"{INSTALL_HINT} ({error.name or error} is missing)") from error
    from explorer.inputs.hf_attention import install

    offline = {"local_files_only": True, "trust_remote_code": False}
    try:
        loaded = AutoModelForCausalLM.from_pretrained(
            directory, attn_implementation=install(), dtype=torch.float32, **offline
        )
        tokenizer = AutoTokenizer.from_pretrained(directory, **offline)
    except Exception as error:  # OSError, ValueError, KeyError alike: one line
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        raise ModelError(f"{directory}: cannot load ({type(error).__name__}: {first})") from error
    return SwapModel(name=directory.name, kind="causal_lm", model=loaded.eval(),
                     tokenizer=tokenizer)  # fmt: skip


def tokenize(model: SwapModel, texts: list[str], *, max_tokens: int) -> dict[str, torch.Tensor]:
    """input_ids and attention_mask (and token_type_ids where the model takes them)."""
    if not texts or any(not str(t).strip() for t in texts):
        raise ValueError("the text is empty: give at least one word")
    limit = min(max_tokens, model.max_tokens or max_tokens)
    tokenizer = model.tokenizer
    pad = len(texts) > 1
    if pad and tokenizer.pad_token is None:
        raise ValueError(f"{model.name}: its tokenizer has no padding token; give one text")
    batch = tokenizer(
        list(texts), return_tensors="pt", padding=pad, truncation=True, max_length=limit
    )
    accepted = inspect.signature(model.model.forward).parameters
    return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask") or k in accepted}


@torch.no_grad()
def forward(
    model: SwapModel, batch: dict[str, torch.Tensor], *, rows: int | None = None
) -> Outputs:
    """One pass over ``batch`` (in chunks of ``rows`` sequences); float64 outputs."""
    size = batch["input_ids"].shape[0]
    rows = size if rows is None else max(1, rows)
    hidden, logits = [], []
    for start in range(0, size, rows):
        part = {k: v[start : start + rows] for k, v in batch.items()}
        out = model.model(**part, output_hidden_states=model.kind == "causal_lm")
        if model.kind == "causal_lm":
            hidden.append(out.hidden_states[-1].to(torch.float64))  # (b, l, e)
            logits.append(out.logits.to(torch.float64))  # (b, l, vocab)
        else:
            hidden.append(out.last_hidden_state.to(torch.float64))
    return Outputs(
        hidden=torch.cat(hidden),
        mask=batch["attention_mask"].bool(),
        logits=torch.cat(logits) if logits else None,
    )
