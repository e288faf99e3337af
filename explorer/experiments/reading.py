"""A comparison's short reading of itself: its skill against uniform attention, and its regime.

Skill = 1 − error / baseline, with the baseline the same error for uniform attention (each
query averages the values it sees): 1 is exact, 0 is no better than uniform, < 0 is worse.
The regime comes from the mean |x + y|² = ρ over all (query, key) pairs (x = q·√scale): a
positive-feature estimate of one kernel value has relative variance (e^ρ − 1)/m (Performer
Lemma 2), so ρ says how hard the inputs are before any feature is drawn:
  mild      ρ ≤ ln 2 (e^ρ − 1 ≤ 1): light tails, errors fall like m^(−1/2);
  moderate  ρ ≤ 3: errors fall, more slowly than m^(−1/2) at small m;
  hard      ρ > 3: heavy tails; m must pass about e^ρ before the error falls much, and
            real heads (MiniLM: ρ ≈ 8-18) sit near the uniform baseline.
A uniform baseline below ``NEAR_UNIFORM`` means attention itself is nearly flat, so the
baseline is a strong competitor whatever the regime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Regime = Literal["mild", "moderate", "hard"]
MILD_MAX = math.log(2.0)  # ρ where e^ρ − 1 = 1: one feature's relative variance is 1
MODERATE_MAX = 3.0  # beyond, the estimate's relative error is heavy-tailed (log-normal-like)
NEAR_UNIFORM = 0.2  # uniform attention within 20 % of exact: attention is nearly flat


@dataclass(frozen=True, kw_only=True)
class Reading:
    """Skill against the uniform baseline and the regime, in numbers and one sentence each."""

    metric: str  # the error read: output_relative_error (or weights_relative_error without V)
    error: float
    baseline: float
    skill: float  # 1 − error/baseline
    mean_pair_sq_sum: float  # ρ
    regime: Regime
    near_uniform: bool  # the baseline itself is small
    sentence: str  # skill, in words
    regime_sentence: str  # what the regime means


def regime_of(mean_pair_sq_sum: float) -> Regime:
    if mean_pair_sq_sum <= MILD_MAX:
        return "mild"
    return "moderate" if mean_pair_sq_sum <= MODERATE_MAX else "hard"


def skill(error: float, baseline: float) -> float:
    """1 − error/baseline (−inf for an infinite error; 1 when both are 0)."""
    if baseline == 0:
        return 1.0 if error == 0 else -math.inf
    return 1.0 - error / baseline


def read(*, error: float, baseline: float, mean_pair_sq_sum: float, metric: str) -> Reading:
    """The reading of one error beside its uniform baseline, at inputs of mean |x + y|² ρ."""
    value, rho = skill(error, baseline), mean_pair_sq_sum
    regime = regime_of(rho)
    near = baseline < NEAR_UNIFORM
    if value >= 0.5:
        verdict = "much better than uniform attention"
    elif value > 0.05:
        verdict = "better than uniform attention"
    elif value >= -0.05:
        verdict = "about as good as uniform attention"
    else:
        verdict = "worse than uniform attention"
    sentence = f"skill {value:+.2f} (1 − {error:.3g}/{baseline:.3g}): {verdict}" + (
        f"; attention is nearly flat here (uniform attention errs by only {baseline:.3g}), "
        "so that baseline is hard to beat"
        if near
        else ""
    )
    meaning = {
        "mild": "light-tailed estimates, errors fall like m^(-1/2)",
        "moderate": "errors fall with m, more slowly than m^(-1/2) at small m",
        "hard": (
            f"heavy-tailed estimates (relative variance e^{rho:.3g} per feature): m must pass "
            "about that before the error falls much"
        ),
    }[regime]
    regime_sentence = f"{regime} regime, mean |x+y|² = {rho:.3g}: {meaning}"
    return Reading(
        metric=metric,
        error=error,
        baseline=baseline,
        skill=value,
        mean_pair_sq_sum=rho,
        regime=regime,
        near_uniform=near,
        sentence=sentence,
        regime_sentence=regime_sentence,
    )


def read_comparison(result) -> Reading:
    """The reading of a ``Comparison``: its output error (weights error without V)."""
    m = result.metrics
    if m.output_relative_error is not None:
        metric, error, baseline = (
            "output_relative_error",
            m.output_relative_error,
            m.uniform_baseline_error,
        )
    else:
        metric, error, baseline = (
            "weights_relative_error",
            m.weights_relative_error,
            m.uniform_weights_error,
        )
    rho = float(result.statistics.mean_pair_sq_sum.mean())
    return read(error=error, baseline=baseline, mean_pair_sq_sum=rho, metric=metric)
