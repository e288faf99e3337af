"""In the model: attention replaced inside a real model, and what its outputs lose per layer."""

from __future__ import annotations

import streamlit as st

from explorer import ui
from explorer.charts.swap import MEASURE_LABELS, drift_chart, swap_frame
from explorer.experiments.config import DEFAULTS
from explorer.experiments.swap import CONTROLS, METHODS, SCHEDULES, SwapConfig
from explorer.inputs.models import host_models
from explorer.kernels.feature_maps import FEATURE_MAPS
from explorer.kernels.projections import PROJECTIONS
from explorer.ui.sidebar import FEATURE_COUNTS
from explorer.ui.swap import swap_result

ui.run_from_app()  # first: a page opened on its own (a deep link) runs app.py instead

PAGE_M = 64  # the page's first m: a few seconds per schedule on MiniLM (the config's 256 is slower)
SCHEDULE_LABELS = {
    "first": "the first k layers, k = 1 … n (Performer Fig. 14)",
    "each": "one layer at a time (which layer hurts most)",
    "all": "every layer at once",
}
DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog, and the dog does not seem to mind."

st.title("In the model")
st.markdown(
    "Per-head errors do not say whether a model still works: errors compound across layers "
    "(Performer App. D.1, Fig. 14). Here the model's own attention is replaced, in the layers "
    "of a schedule, by the explorer's linear attention with a feature map (causal where the "
    "model is, its grouped heads, scale and sliding windows), and its outputs are compared "
    "with the unmodified model's. The dashed grey line swaps the same layers for **uniform** "
    "attention (each token averages what it may see): a replacement above it on the error "
    "chart has kept nothing of what attention does. **exact** is the control (error ≈ 1e-7)."
)


def method_label(name: str) -> str:
    if name in CONTROLS:
        return {"exact": "exact softmax (control)", "uniform": "uniform (baseline)"}[name]
    return FEATURE_MAPS[name].label


with ui.errors_as_messages():
    models = host_models()
c1, c2, c3 = st.columns([2, 3, 2])
model = c1.selectbox(
    "Model", list(models), key="im_model", format_func=ui.escape_markdown,
    help="MiniLM is bundled; the host lists others in EXPLORER_MODELS.",
)  # fmt: skip
method = c2.selectbox(
    "Replacement", list(METHODS), list(METHODS).index(DEFAULTS.feature_map),
    format_func=method_label, key="im_map",
)  # fmt: skip
schedule = c3.selectbox(
    "Schedule", list(SCHEDULES), list(SCHEDULES).index("first"),
    format_func=SCHEDULE_LABELS.get, key="im_schedule",
)  # fmt: skip
c1, c2, c3 = st.columns([3, 2, 2])
m = c1.select_slider("Random features m", FEATURE_COUNTS, PAGE_M, key="im_m")
projection = c2.selectbox(
    "Projection", list(PROJECTIONS), list(PROJECTIONS).index(DEFAULTS.projection),
    key="im_projection",
)  # fmt: skip
seeds = c3.slider("Seeds (feature draws)", 1, 8, 2, key="im_seeds")
text = st.text_area("Text", DEFAULT_TEXT, max_chars=2000, key="im_text")

config = SwapConfig(
    method=method, num_features=m, projection=projection, seeds=seeds, schedule=schedule,
    max_tokens=128,
)  # fmt: skip
with ui.errors_as_messages():
    result = swap_result(model, text, config)
if result is not None:  # None: cancelled, a note and a Run button instead
    frame = swap_frame([result])
    encoder = result["kind"] == "encoder"
    st.caption(
        f"{ui.escape_markdown(result['model'])}: {result['num_layers']} layers, "
        f"{result['tokens']} tokens; "
        + (f"{len(result['seeds'])} seeds (mean ± std)." if result["seeds"] else "one run.")
    )
    st.subheader("Drift of the final hidden states")
    ui.chart(drift_chart(frame, "hidden_relative_error"), "im_hidden", table=frame,
             name="swap_hidden")  # fmt: skip
    if encoder:
        st.subheader("Sentence embedding (mean pooling)")
        ui.chart(drift_chart(frame, "embedding_cosine"), "im_cosine", name="swap_cosine")
        if "pair_spearman" in frame:
            st.subheader("Does meaning survive? The sentence pairs")
            st.markdown(
                "Over 32 pairs shipped with the explorer, from near-paraphrases to unrelated "
                "sentences: Spearman's ρ between the pairs' similarities under the exact and "
                "the swapped model. 1: the swapped model orders the pairs as the model does."
            )
            ui.chart(drift_chart(frame, "pair_spearman"), "im_pairs", name="swap_pairs")
    else:
        st.subheader("Next-token predictions")
        ui.chart(drift_chart(frame, "next_token_kl"), "im_kl", name="swap_kl")
        ui.chart(drift_chart(frame, "top1_agreement"), "im_top1", name="swap_top1")
    measures = [k for k in MEASURE_LABELS if k in frame]
    shown = frame[["layers", *[c for k in measures for c in (k, f"{k}_std", f"uniform_{k}")]]]
    st.dataframe(shown, hide_index=True)
