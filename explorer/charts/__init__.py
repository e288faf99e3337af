"""Figure builders: plain results in, plotly figures out (no Streamlit, no torch).

Every chart states what it shows in its title; attention maps share one colour scale between
exact and approximate (negative approximate weights, possible with trig features, get their own
blue band) and a diverging scale centred on 0 for the difference. Values go out as float32.
Modules: ``maps`` (attention heatmaps), ``errors`` (error distributions), ``style``.
"""
