"""Performer Fig. 14 on the bundled MiniLM: swap the first k layers' attention, k = 1 … 6.

For each feature map (positive, trig, oprf, hyperbolic) at m = 64 and 256 (orthogonal
projection, seeds 0 … 2), the first k layers of all-MiniLM-L6-v2 run the explorer's linear
attention instead of softmax; beside each curve, the uniform swap of the same layers. Writes
docs/figures/fig14_minilm.csv (one row per map, m and k) and, per measure, an HTML figure
(plotly.js from the CDN) and a PNG (kaleido + Chromium; skipped with a note without them).
Needs requirements-model.txt. Run from anywhere:  python scripts/fig14_minilm.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is bundled: never reach for a hub
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout, for `explorer`

from explorer.charts.export import static_export_problem, static_image  # noqa: E402
from explorer.charts.swap import drift_chart, swap_frame  # noqa: E402
from explorer.experiments.swap import SwapConfig, run_swap  # noqa: E402
from explorer.experiments.swap_models import load_swap_model  # noqa: E402
from explorer.untrusted import for_csv  # noqa: E402

MAPS = ("positive", "trig", "oprf", "hyperbolic")
COUNTS = (64, 256)
SEEDS = 3
OUT = ROOT / "docs" / "figures"
# The text of the shipped capture sample (scripts/make_sample.py): 63 tokens with coreference.
TEXT = (
    "The animal didn't cross the street because it was too tired. "
    "The trophy doesn't fit into the brown suitcase because it is too large. "
    "When Alice thanked Bob, he smiled at her, and she handed him the keys she had found. "
    "The lawyer questioned the witness because she wanted the truth."
)
MEASURES = {
    "hidden_relative_error": "Fig. 14 on MiniLM: drift of the final hidden states",
    "embedding_cosine": "Fig. 14 on MiniLM: cosine of the sentence embeddings",
    "pair_spearman": "Fig. 14 on MiniLM: do the sentence pairs keep their order?",
}


def main() -> None:
    model = load_swap_model("minilm")
    results, start = [], time.monotonic()
    for name in MAPS:
        for m in COUNTS:
            config = SwapConfig(method=name, num_features=m, seeds=SEEDS, schedule="first")
            results.append(run_swap(model, TEXT, config).to_dict())
            print(f"{name}, m = {m}: {time.monotonic() - start:.0f} s", file=sys.stderr)
    frame = swap_frame(results)
    OUT.mkdir(parents=True, exist_ok=True)
    frame.map(for_csv).to_csv(OUT / "fig14_minilm.csv", index=False, float_format="%.6g")
    problem = static_export_problem()
    for measure, title in MEASURES.items():
        fig = drift_chart(frame, measure, title=title)
        stem = OUT / f"fig14_minilm_{measure}"
        fig.write_html(stem.with_suffix(".html"), include_plotlyjs="cdn")
        if problem is None:
            stem.with_suffix(".png").write_bytes(static_image(fig, "png"))
        else:
            print(f"no PNG: {problem}", file=sys.stderr)
    columns = ["feature_map", "num_features", "x", "hidden_relative_error",
               "hidden_relative_error_std", "uniform_hidden_relative_error", "embedding_cosine",
               "uniform_embedding_cosine", "pair_spearman", "uniform_pair_spearman"]  # fmt: skip
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
