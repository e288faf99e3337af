"""run_swap: schedules, the measures against the unmodified model, seeds, the sentence pairs."""

from __future__ import annotations

import math

import pytest
import torch

from explorer.experiments.swap import SwapConfig, run_swap, schedule_layers  # noqa: E402
from explorer.experiments.swap_measures import (  # noqa: E402
    next_token,
    pair_similarities,
    pair_texts,
    sentence_pairs,
    spearman,
)
from explorer.experiments.swap_models import Outputs, forward, load_swap_model, tokenize  # noqa: E402
from tests.core.experiments.tiny_models import tiny

TEXT = "the cat sat on the mat and looked at the dog by the door"


def test_a_map_fitted_per_head_is_not_swapped_in():
    with pytest.raises(ValueError, match="cannot replace attention inside the model"):
        SwapConfig(method="hedgehog", num_features=16)


def test_schedules():
    assert schedule_layers("all", 3) == [(0, 1, 2)]
    assert schedule_layers("first", 3) == [(0,), (0, 1), (0, 1, 2)]
    assert schedule_layers("each", 3) == [(0,), (1,), (2,)]
    with pytest.raises(ValueError, match="schedule"):
        SwapConfig(schedule="last")
    with pytest.raises(ValueError, match="replacement"):
        SwapConfig(method="softmax")
    with pytest.raises(ValueError, match="num_features"):
        SwapConfig(num_features=0)


def test_the_exact_swap_loses_nothing_and_uniform_is_its_own_baseline():
    minilm = load_swap_model("minilm")
    exact = run_swap(minilm, TEXT, SwapConfig(method="exact", schedule="all")).to_dict()
    (step,) = exact["steps"]
    assert step["layers"] == list(range(6)) and exact["seeds"] == []
    assert step["hidden_relative_error"] < 1e-5
    assert step["embedding_cosine"] == pytest.approx(1.0, abs=1e-9)
    assert step["pair_spearman"] == pytest.approx(1.0)
    assert step["uniform_hidden_relative_error"] > 0.1  # the baseline is far off
    uniform = run_swap(minilm, TEXT, SwapConfig(method="uniform", schedule="each")).to_dict()
    for row in uniform["steps"]:
        for name in ("hidden_relative_error", "embedding_cosine", "pair_spearman"):
            assert row[name] == pytest.approx(row[f"uniform_{name}"], rel=1e-12)


def test_seeds_give_mean_and_spread_and_the_first_k_curve_grows():
    config = SwapConfig(method="positive", num_features=16, seeds=3, schedule="first")
    result = run_swap(tiny("llama"), TEXT, config).to_dict()
    assert result["seeds"] == [0, 1, 2] and result["kind"] == "causal_lm"
    first, last = result["steps"]
    assert first["layers"] == [0] and last["layers"] == [0, 1]
    for row in result["steps"]:
        assert row["hidden_relative_error_std"] > 0  # independent draws differ
        assert 0 <= row["top1_agreement"] <= 1 and row["next_token_kl"] > 0
        assert "embedding_cosine" not in row and "pair_spearman" not in row
    again = run_swap(tiny("llama"), TEXT, config).to_dict()
    assert again == result  # seeded: the same numbers every time


def test_next_token_measures_against_a_closed_form():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]], dtype=torch.float64))
    other = torch.log(torch.tensor([[[0.25, 0.5, 0.25], [0.1, 0.2, 0.7]]], dtype=torch.float64))
    mask = torch.ones(1, 2, dtype=torch.bool)
    hidden = torch.zeros(1, 2, 1, dtype=torch.float64)
    values = next_token(Outputs(hidden=hidden, mask=mask, logits=logits),
                        Outputs(hidden=hidden, mask=mask, logits=other))  # fmt: skip
    kl = 0.5 * math.log(2) + 0.25 * math.log(0.5)  # first position; the second is 0
    assert values["next_token_kl"] == pytest.approx(kl / 2)
    assert values["top1_agreement"] == 0.5


def test_the_shipped_pairs_go_from_paraphrases_to_unrelated():
    pairs = sentence_pairs()
    assert len(pairs) >= 30
    assert {p.relatedness for p in pairs} == {0, 1, 2, 3, 4}
    minilm = load_swap_model("minilm")
    sims = pair_similarities(forward(minilm, tokenize(minilm, pair_texts(), max_tokens=64)))
    labels = torch.tensor([float(p.relatedness) for p in pairs])
    # MiniLM's own similarities follow the written order closely (it was trained for this).
    assert spearman(sims, labels) > 0.8
    assert math.isnan(spearman(sims, torch.ones_like(sims)))


def test_layers_the_model_does_not_name_and_timeouts_are_refused(monkeypatch):
    from explorer.errors import BudgetError
    from explorer.experiments.swap_attention import SwapError
    from explorer.experiments.swap_models import SwapModel

    with pytest.raises(BudgetError, match="EXPLORER_SWEEP_TIMEOUT_S"):
        run_swap(tiny("bert"), TEXT, SwapConfig(method="uniform"), timeout_s=0)
    monkeypatch.setattr(SwapModel, "num_layers", property(lambda self: 3))
    with pytest.raises(SwapError, match="layers cannot be chosen"):
        run_swap(tiny("bert"), TEXT, SwapConfig(method="uniform"))
