"""What a swapped model loses, measured against the unmodified model (the reference).

* hidden_relative_error  ‖Ĥ − H‖_F / ‖H‖_F over the real tokens of the final hidden states;
* embedding_cosine       cos(ê, e) of the mean-pooled sentence embeddings (encoders);
* next_token_kl          mean over positions of KL(p ‖ p̂) = Σ_v p_v (log p_v − log p̂_v), p the
                         unmodified model's next-token distribution (causal LMs; nats);
* top1_agreement         share of positions whose most likely next token is unchanged;
* pair_spearman          Spearman's ρ (scipy) between the exact and the approximate cosine
                         similarities of the shipped sentence pairs (``SENTENCE_PAIRS``): 1 when
                         the swap keeps the order of "how similar" the model sees the pairs.
Shapes: hidden (b, l, e), mask (b, l), logits (b, l, vocab).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from explorer.experiments.swap_models import Outputs

PAIRS_FILE = Path(__file__).with_name("data") / "sentence_pairs.json"


@dataclass(frozen=True, kw_only=True)
class SentencePair:
    a: str
    b: str
    relatedness: int  # 4: near-paraphrase … 0: unrelated (the authors' judgement)


@cache
def sentence_pairs() -> tuple[SentencePair, ...]:
    """The shipped pairs, from near-paraphrases to unrelated ones."""
    data = json.loads(PAIRS_FILE.read_text(encoding="utf-8"))
    return tuple(SentencePair(**pair) for pair in data["pairs"])


def pair_texts() -> list[str]:
    """a₀, b₀, a₁, b₁, …: the sentences in the order ``pair_similarities`` reads them."""
    return [text for pair in sentence_pairs() for text in (pair.a, pair.b)]


def pair_similarities(outputs: Outputs) -> torch.Tensor:
    """Cosine of each pair's embeddings (rows 2i, 2i + 1). Shapes: (pairs,)."""
    e = outputs.embeddings()  # (2·pairs, e)
    return torch.nn.functional.cosine_similarity(e[0::2], e[1::2], dim=-1)


def spearman(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman's ρ (scipy.stats.spearmanr); NaN when either side is constant."""
    from scipy.stats import spearmanr

    if float(x.std()) == 0.0 or float(y.std()) == 0.0:
        return math.nan
    return float(spearmanr(x.numpy(), y.numpy()).statistic)


def hidden_relative_error(reference: Outputs, approx: Outputs) -> float:
    mask = reference.mask
    return float((approx.hidden - reference.hidden)[mask].norm() / reference.hidden[mask].norm())


def embedding_cosine(reference: Outputs, approx: Outputs) -> float:
    """Mean over the batch of cos(ê, e)."""
    cos = torch.nn.functional.cosine_similarity(approx.embeddings(), reference.embeddings(), dim=-1)
    return float(cos.mean())


def next_token(reference: Outputs, approx: Outputs) -> dict[str, float]:
    """KL(p ‖ p̂) in nats and top-1 agreement, averaged over the real positions."""
    log_p = torch.log_softmax(reference.logits, dim=-1)[reference.mask]  # (n, vocab)
    log_q = torch.log_softmax(approx.logits, dim=-1)[reference.mask]
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)  # (n,)
    agree = (log_p.argmax(-1) == log_q.argmax(-1)).to(torch.float64)
    return {"next_token_kl": float(kl.mean()), "top1_agreement": float(agree.mean())}


def text_measures(reference: Outputs, approx: Outputs, *, causal_lm: bool) -> dict[str, float]:
    """The measures of one text: hidden error and the embedding or next-token measures."""
    values = {"hidden_relative_error": hidden_relative_error(reference, approx)}
    if causal_lm:
        values |= next_token(reference, approx)
    else:
        values["embedding_cosine"] = embedding_cosine(reference, approx)
    return values
