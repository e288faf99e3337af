"""Colours and line styles shared by every chart (readable in light and dark themes)."""

SEQUENTIAL = "Viridis"
DIVERGING = "RdBu_r"
NEGATIVE_BLUE = "#2166ac"
BASELINE_STYLE = {"dash": "dash", "color": "#888888"}
THEORY_STYLE = {"dash": "dot", "color": "#444444"}
PALETTE = ("#4c6ef5", "#f76707", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#e67700")
