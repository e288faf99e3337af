"""In the model: a Hugging Face model with attention replaced in chosen layers, and what it loses.

Errors of single heads do not say whether a model still works: they compound across layers
(Performer, Choromanski et al. 2021, App. D.1, Fig. 14, where swapping the first k layers of a
pretrained model for FAVOR+ raises its error with k). ``run_swap`` runs the unmodified model
(the reference) and then, for each step of a schedule, the model with the attention of that
step's layers replaced (``swap_attention``): by a feature map at m features (one run per seed,
mean and spread), by ``exact`` (the control: equals the reference to float rounding) or by
``uniform``. Every step also runs the uniform swap of the same layers: the line an
approximation must stay well under to be worth anything. Schedules: ``all`` (every layer at
once), ``first`` (layers 0 … k − 1 for k = 1 … n: the Fig. 14 curve), ``each`` (one layer at
a time: which layer hurts most). Seeds: seed s draws W of layer ℓ from
``swap_attention.layer_stream(s, ℓ)``, so layers never share features and the seeds of a
setting are independent draws. Measures: ``swap_measures``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from explorer.cancel import checkpoint
from explorer.errors import BudgetError
from explorer.experiments.budget import Budget
from explorer.experiments.config import DEFAULTS
from explorer.experiments.swap_attention import (
    SwapError,
    exact_replacement,
    feature_replacement,
    uniform_replacement,
)
from explorer.experiments.swap_measures import (
    pair_similarities,
    pair_texts,
    spearman,
    text_measures,
)
from explorer.experiments.swap_models import Outputs, SwapModel, forward, tokenize
from explorer.inputs.hf_attention import AttentionCall, recording
from explorer.kernels.feature_maps import FEATURE_MAPS, get_feature_map
from explorer.kernels.projections import get_projection

Schedule = Literal["all", "first", "each"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
CONTROLS = ("exact", "uniform")  # the replacements that are not feature maps
# Maps fitted to the head (``learned``) are not swapped in: they would be refitted at every
# layer of every forward pass (minutes for MiniLM's sentence pairs); measure them per head.
METHODS: tuple[str, ...] = (*CONTROLS, *(n for n, f in FEATURE_MAPS.items() if f.fit is None))
FEATURE_COPIES = 4  # φ(q), φ(k) and their stabiliser temporaries, float64, alive at once
CHUNK_ENTRIES = 2**24  # sequences per forward pass of the sentence pairs: b·h·l·m' at most
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True, kw_only=True)
class SwapConfig:
    """What replaces attention, where, and how often it is redrawn."""

    method: str = DEFAULTS.feature_map  # a feature map of the registry, "exact" or "uniform"
    num_features: int = DEFAULTS.num_features  # m
    projection: str = DEFAULTS.projection
    seeds: int = 3  # feature draws per step (controls: one run)
    seed: int = DEFAULTS.seed  # the first seed: seeds seed … seed + seeds − 1
    schedule: Schedule = "first"
    max_tokens: int = 128
    pairs: bool = True  # encoders: the sentence pairs' Spearman ρ too

    def __post_init__(self) -> None:
        if self.method in FEATURE_MAPS and FEATURE_MAPS[self.method].fit is not None:
            raise ValueError(
                f"{self.method} is fitted to each head's own queries and keys: it cannot "
                "replace attention inside the model (it would be refitted at every layer of "
                "every forward pass); compare it per head on Attention maps or the Model report"
            )
        if self.method not in METHODS:
            raise ValueError(
                f"unknown replacement {self.method!r}: use one of {', '.join(METHODS)}"
            )
        if self.method not in CONTROLS:
            get_feature_map(self.method)
        get_projection(self.projection)
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown schedule {self.schedule!r}: use one of {', '.join(SCHEDULES)}"
            )
        for name in ("num_features", "seeds", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def random(self) -> bool:
        """Whether the replacement draws features (seeds matter)."""
        return self.method not in CONTROLS and FEATURE_MAPS[self.method].uses_projection

    def feature_dim(self, head_dim: int) -> int:
        if self.method in CONTROLS:
            return 0
        return FEATURE_MAPS[self.method].feature_dim(self.num_features, head_dim)


def schedule_layers(schedule: Schedule, num_layers: int) -> list[tuple[int, ...]]:
    """The swapped layers of each step: all, the first k (k = 1 … n), or each one alone."""
    if schedule == "all":
        return [tuple(range(num_layers))]
    if schedule == "first":
        return [tuple(range(k)) for k in range(1, num_layers + 1)]
    if schedule == "each":
        return [(layer,) for layer in range(num_layers)]
    raise ValueError(f"unknown schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")


@dataclass(frozen=True, kw_only=True)
class SwapStep:
    """One step: its layers, each measure per seed, and the uniform swap's measures."""

    layers: tuple[int, ...]
    values: Mapping[str, tuple[float, ...]]  # measure → one value per seed
    uniform: Mapping[str, float]

    def summary(self) -> dict[str, object]:
        """layers, each measure's mean and standard deviation, and its uniform_ twin."""
        out: dict[str, object] = {"layers": list(self.layers)}
        for name, values in self.values.items():
            finite = [v for v in values if math.isfinite(v)]
            out[name] = _number(statistics.fmean(finite)) if finite else None
            out[f"{name}_std"] = _number(statistics.stdev(finite)) if len(finite) > 1 else 0.0
            out[f"uniform_{name}"] = _number(self.uniform[name])
        return out


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN


@dataclass(frozen=True, kw_only=True)
class SwapResult:
    model: str
    kind: str
    config: SwapConfig
    num_layers: int
    tokens: int
    seeds: tuple[int, ...]
    steps: tuple[SwapStep, ...] = field(repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "kind": self.kind,
            "feature_map": self.config.method,
            "num_features": self.config.num_features,
            "projection": self.config.projection,
            "schedule": self.config.schedule,
            "seeds": list(self.seeds),
            "num_layers": self.num_layers,
            "tokens": self.tokens,
            "steps": [step.summary() for step in self.steps],
        }


def run_swap(
    model: SwapModel,
    text: str,
    config: SwapConfig,
    *,
    progress: Progress | None = None,
    budget: Budget | None = None,
    timeout_s: float | None = None,
) -> SwapResult:
    """The reference pass, then every step of the schedule (``progress(done, total, text)``).

    Refused before any pass (``BudgetError``) when m, the number of runs or the features of
    one layer are over the ``budget`` (default: the environment's); stopped with a
    ``BudgetError`` between runs once ``timeout_s`` have passed.
    """
    budget = Budget.from_env() if budget is None else budget
    if config.method not in CONTROLS and config.num_features > budget.max_features:
        raise BudgetError(
            f"m = {config.num_features:,} random features is over the limit of "
            f"{budget.max_features:,} (EXPLORER_MAX_FEATURES): choose a smaller m"
        )
    cfg = model.model.config
    heads = int(cfg.num_attention_heads)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
    width = max(1, config.feature_dim(head_dim))
    batch = tokenize(model, [text], max_tokens=config.max_tokens)
    tokens = int(batch["input_ids"].shape[1])
    need = FEATURE_COPIES * 8 * heads * tokens * width
    if need > budget.memory_mb * 2**20:
        raise BudgetError(
            f"the features of {tokens} tokens × {heads} heads × {width} need about "
            f"{need / 2**20:,.0f} MB, over the budget of {budget.memory_mb:,} MB "
            "(EXPLORER_MEMORY_MB): lower m or shorten the text"
        )
    pairs = config.pairs and model.kind == "encoder"
    pair_batch = tokenize(model, pair_texts(), max_tokens=config.max_tokens) if pairs else None
    rows = None
    if pair_batch is not None:
        rows = CHUNK_ENTRIES // (heads * pair_batch["input_ids"].shape[1] * width)
    causal_lm = model.kind == "causal_lm"
    seeds = tuple(range(config.seed, config.seed + (config.seeds if config.random else 1)))
    layer_sets = schedule_layers(config.schedule, model.num_layers)
    total, done = len(layer_sets) * (len(seeds) + 1), 0
    budget.check_sweep(total)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    records: list[AttentionCall] = []
    with recording(records=records):  # the model's own attention, each call recorded
        reference = forward(model, batch)
    seen = sorted({call.layer for call in records})
    if seen != list(range(model.num_layers)):
        raise SwapError(
            f"{model.name}: its attention calls name layers {seen[:8]}, not 0 … "
            f"{model.num_layers - 1}, so layers cannot be chosen (no layer_idx)"
        )
    reference_pairs = (
        None if pair_batch is None else pair_similarities(forward(model, pair_batch, rows=rows))
    )

    def measure(replacement, layers: tuple[int, ...]) -> dict[str, float]:
        checkpoint()
        if deadline is not None and time.monotonic() > deadline:
            raise BudgetError(
                f"the swap ran past {timeout_s:g} s (EXPLORER_SWEEP_TIMEOUT_S): use fewer "
                "seeds, the all schedule or a shorter text"
            )
        with recording(replacement=replacement, layers=set(layers)):
            values = text_measures(reference, forward(model, batch), causal_lm=causal_lm)
            if pair_batch is not None:
                approx: Outputs = forward(model, pair_batch, rows=rows)
                values["pair_spearman"] = spearman(reference_pairs, pair_similarities(approx))
        return values

    steps = []
    for layers in layer_sets:
        what = f"layers {layers[0]}–{layers[-1]}" if len(layers) > 1 else f"layer {layers[0]}"
        uniform = measure(uniform_replacement, layers)
        done += 1
        runs = []
        for seed in seeds:
            if progress is not None:
                progress(done, total, f"{config.method} in {what}, seed {seed}")
            runs.append(measure(_replacement(config, seed), layers))
            done += 1
        values = {name: tuple(run[name] for run in runs) for name in runs[0]}
        steps.append(SwapStep(layers=layers, values=values, uniform=uniform))
    if progress is not None:
        progress(total, total, "done")
    return SwapResult(
        model=model.name,
        kind=model.kind,
        config=config,
        num_layers=model.num_layers,
        tokens=tokens,
        seeds=seeds if config.random else (),
        steps=tuple(steps),
    )


def _replacement(config: SwapConfig, seed: int):
    if config.method == "exact":
        return exact_replacement
    if config.method == "uniform":
        return uniform_replacement
    return feature_replacement(
        config.method, num_features=config.num_features, projection=config.projection, seed=seed
    )
