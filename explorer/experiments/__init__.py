"""Experiments: a frozen config in, plain numpy results out.

Entry points: ``compare.compare`` (one comparison), ``sweep.sweep`` (a grid, as a tidy table),
``control`` (real data beside a norms-matched control), ``budget`` (per-request limits),
``predict`` (closed-form predictions on the current data) and ``summaries`` (tables behind the
scaling charts). May import: everything below it (leaves, kernels, attention, reference,
inputs, theory).
"""
