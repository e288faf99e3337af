"""The README's "Learned map (Hedgehog-style)" figures: held-out error on the shipped MiniLM sample.

Every layer, all 12 heads at once, m = 16, 64, 256, feature seeds 0-2, float32 on the CPU,
the sample's own softmax (scale 1/√d, not causal). The learned map is fitted on each head's
even query rows (32 of 63) and every number of it covers the 31 held-out odd rows, its
uniform baseline included; FAVOR+ (positive) covers every row, with its own baseline. The last
two rows print the maps table's head-0 entries (layers 0 and 3, m = 256, seeds 0-4).
Run: python scripts/learned_minilm.py
"""

from __future__ import annotations

import statistics

from explorer.experiments.compare import compare
from explorer.experiments.config import ExperimentConfig
from explorer.inputs.capture import load_sample

SIZES = (16, 64, 256)


def _errors(inputs, feature_map: str, m: int, seeds) -> tuple[list[float], float, list]:
    runs = [
        compare(
            ExperimentConfig(feature_map=feature_map, num_features=m, seed=s),
            inputs,
            with_maps=False,
        )  # fmt: skip
        for s in seeds
    ]
    errors = [r.metrics.output_relative_error for r in runs]
    return errors, runs[0].metrics.uniform_baseline_error, [r.fit for r in runs]


def main() -> None:
    sample = load_sample()
    header = " | ".join(f"m = {m}" for m in SIZES)
    print(f"| layer | hedgehog (held-out) {header} | its baseline | positive {header} | "
          "its baseline | fit (m = 256, 12 heads) |")  # fmt: skip
    print("|---" * (2 * len(SIZES) + 4) + "|")
    for layer in range(sample.num_layers):
        inputs = sample.layer(layer)
        learned, positive, fits = [], [], None
        for m in SIZES:
            errors, learned_base, fits = _errors(inputs, "hedgehog", m, range(3))
            learned.append(statistics.mean(errors))
            errors, positive_base, _ = _errors(inputs, "positive", m, range(3))
            positive.append(statistics.mean(errors))
        fit = fits[0]
        print(
            f"| {layer} | "
            + " | ".join(f"{e:.3f}" for e in learned)
            + f" | {learned_base:.3f} | "
            + " | ".join(f"{e:.3f}" for e in positive)
            + f" | {positive_base:.3f} | "
            f"{fit.steps} steps, {fit.seconds:.1f} s, {fit.feature_dim} features |"
        )
    for layer in (0, 3):
        errors, base, _ = _errors(sample.layer(layer).head(0), "hedgehog", 256, range(5))
        print(f"head 0, layer {layer}: {statistics.mean(errors):.2f} ± "
              f"{statistics.stdev(errors):.2f} (held-out baseline {base:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
