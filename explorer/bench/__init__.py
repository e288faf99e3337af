"""The benchmark: FAVOR+ against exact attention and performer-pytorch, time and memory.

Entry point: ``run.benchmark``; methods in ``methods.METHODS``. May import: the leaves,
kernels, attention, inputs and experiments.
"""
