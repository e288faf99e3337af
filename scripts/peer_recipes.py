"""The README's "Peers' recipes" table: every recipe on the shipped MiniLM sample.

Layers 0 and 3, head 0, m = 256, seeds 0-3, float32 on the CPU, the sample's own softmax
(scale 1/√d, not causal). Run: python scripts/peer_recipes.py
"""

from __future__ import annotations

from explorer.experiments.config import ExperimentConfig
from explorer.experiments.recipes import recipe_table
from explorer.inputs.capture import load_sample


def main() -> None:
    sample = load_sample()
    config = ExperimentConfig(num_features=256, device="cpu", dtype="float32")
    print("| layer | recipe | ‖Ŷ−Y‖/‖Y‖ mean ± std | ‖Ŷ−U‖/‖Y‖ | seed-mean error | distinct W |")
    print("|---|---|---|---|---|---|")
    for layer in (0, 3):
        table = recipe_table(config, sample.layer(layer).head(0), seeds=range(4))
        for row in table.itertuples():
            print(
                f"| {layer} | {row.recipe} | {row.output_error_mean:.3f} ± "
                f"{row.output_error_std:.3f} | {row.distance_to_uniform:.3f} | "
                f"{row.seed_mean_error:.3f} | {row.distinct_w} |"
            )
        print(f"| {layer} | uniform baseline ‖U−Y‖/‖Y‖ | {table.uniform_baseline_error[0]:.3f} |")


if __name__ == "__main__":
    main()
