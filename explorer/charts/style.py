"""Colours, line styles and array conversion shared by every chart (light and dark themes)."""

import numpy as np

SEQUENTIAL = "Viridis"
DIVERGING = "RdBu_r"
NEGATIVE_BLUE = "#2166ac"
BASELINE_STYLE = {"dash": "dash", "color": "#888888"}
THEORY_STYLE = {"dash": "dot", "color": "#444444"}
PALETTE = ("#4c6ef5", "#f76707", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700")


def f32(values) -> np.ndarray:
    """Chart data as float32: half the bytes sent to the browser, all the precision a plot needs."""
    return np.asarray(values, dtype=np.float64).astype(np.float32)
