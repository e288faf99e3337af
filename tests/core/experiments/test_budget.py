"""The request budget: configurable from the environment, checked before allocating."""

from __future__ import annotations

import pytest

from explorer.errors import BudgetError
from explorer.experiments.budget import Budget, Workload, comparison_bytes
from explorer.experiments.compare import ExperimentConfig, compare
from explorer.experiments.sweep import sweep

SIZES = {
    "heads": 1,
    "seq_len": 1024,
    "key_len": 1024,
    "head_dim": 64,
    "value_dim": 64,
    "feature_map": "positive",
    "num_features": 256,
}


def test_from_env_reads_every_limit_and_rejects_junk():
    budget = Budget.from_env(
        {
            "EXPLORER_MAX_SEQ_LEN": "4_096",
            "EXPLORER_MEMORY_MB": "100",
            "EXPLORER_TORCH_THREADS": "1",
        }
    )
    assert budget.max_seq_len == 4096 and budget.memory_mb == 100 and budget.torch_threads == 1
    assert Budget.from_env({}) == Budget()
    with pytest.raises(ValueError, match="EXPLORER_MAX_FEATURES"):
        Budget.from_env({"EXPLORER_MAX_FEATURES": "lots"})
    with pytest.raises(ValueError, match="max_heads"):
        Budget.from_env({"EXPLORER_MAX_HEADS": "0"})


@pytest.mark.parametrize(
    "changes, limit",
    [
        ({"seq_len": 10_000}, "EXPLORER_MAX_SEQ_LEN"),
        ({"num_features": 20_000}, "EXPLORER_MAX_FEATURES"),
        ({"heads": 100}, "EXPLORER_MAX_HEADS"),
        ({"heads": 64, "seq_len": 8192, "key_len": 8192}, "EXPLORER_MEMORY_MB"),
        # a learned map at L = 4096 fits 4 heads × 256 rows × 4096 keys × 512 features × 600:
        # 1.4·10¹² multiply-adds (positive features at this size pass every cap)
        (
            {"feature_map": "hedgehog", "heads": 4, "seq_len": 4096, "key_len": 4096},
            "EXPLORER_MAX_FIT_MMAC",
        ),
    ],
)
def test_over_budget_names_the_limit(changes, limit):
    budget = Budget(max_seq_len=8192, max_features=8192, memory_mb=1024)
    budget.check_comparison(Workload(**SIZES))  # the base request fits
    with pytest.raises(BudgetError, match=limit):
        budget.check_comparison(Workload(**{**SIZES, **changes}))


def test_memory_estimate_is_linear_in_length_beyond_the_block():
    small = comparison_bytes(Workload(**{**SIZES, "seq_len": 8192, "key_len": 8192}))
    large = comparison_bytes(Workload(**{**SIZES, "seq_len": 16384, "key_len": 16384}))
    block = 256 * 2**20
    assert (large - block) == pytest.approx(2 * (small - block), rel=0.05)


def test_workload_reads_config_and_inputs():
    config = ExperimentConfig(seq_len=12, key_len=9, head_dim=8, num_heads=3, num_features=16)
    synthetic = Workload.of(config)
    assert (synthetic.heads, synthetic.seq_len, synthetic.key_len, synthetic.value_dim) == (
        3,
        12,
        9,
        8,
    )
    assert Workload.of(ExperimentConfig(feature_map="trig", num_features=16)).feature_dim == 32


def test_sweep_limits():
    with pytest.raises(BudgetError, match="EXPLORER_MAX_SWEEP_RUNS"):
        Budget(max_sweep_runs=10).check_sweep(11)
    config = ExperimentConfig(seq_len=16, head_dim=4, num_features=4)
    with pytest.raises(BudgetError, match="stopped after 1 of 3 runs"):
        sweep(config, {"num_features": [4, 8, 16]}, timeout_s=0)


@pytest.mark.parametrize(("recipe", "width"), [("fast_transformers", 512), ("google", 256)])
def test_workload_sizes_a_peer_recipe_by_its_own_features(recipe, width):
    # a peer's recipe replaces the config's map: fast-transformers' hyperbolic features are 2m
    # wide even where the config names positive (m), so the memory check must use 2m
    config = ExperimentConfig(feature_map="positive", num_features=256, recipe=recipe)
    features = compare(config).feature_dim
    assert Workload.of(config).feature_dim == width == features


def test_fit_work_counts_only_fitted_maps_and_grows_with_the_keys():
    plain, fitted = Workload(**SIZES), Workload(**{**SIZES, "feature_map": "hedgehog"})
    assert plain.fit_work == 0 and fitted.fit_work > 0
    longer = Workload(**{**SIZES, "feature_map": "hedgehog", "key_len": 2048})
    assert longer.fit_work > 1.5 * fitted.fit_work  # the s·2m term dominates at L = 1024
    budget = Budget(max_fit_mmac=fitted.fit_work // 10**6 - 1)
    with pytest.raises(BudgetError, match="hedgehog.*EXPLORER_MAX_FIT_MMAC"):
        budget.check_comparison(fitted)
    budget.check_comparison(plain)
    # the fit's (heads, rows ≤ 256, s) float64 tensors are part of what the comparison holds
    assert comparison_bytes(fitted) - comparison_bytes(plain) >= 6 * 8 * 256 * 1024
