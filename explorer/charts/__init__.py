"""Charts: plain results in, plotly figures out (no Streamlit, no torch).

Entry points, one module per kind of chart: ``heatmaps`` (exact | approximate | difference
attention maps), ``errors`` (error distributions), ``scaling`` (error vs m, vs σ),
``theory`` (closed forms beside Monte Carlo), ``estimates`` (what an estimator estimates),
``timing`` (time and memory vs L), ``style`` (colours, float32 data) and ``export`` (PNG, SVG,
PDF through kaleido). Every chart says what it shows in its title; exact and approximate maps
share one colour scale. May import: the leaves, ``explorer.reference`` (result types),
``explorer.theory`` and ``explorer.experiments`` (plain tables); never streamlit.
"""
