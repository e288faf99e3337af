"""The reference pass: exact output, every error metric and the display maps in one pass.

Entry point: ``metrics.reference_errors``. Row blocks of P and P̂ are built once
(``fused_pass``), reduced to per-row statistics (``block_statistics``) and pooled for display
(``display_maps``). May import: the leaves, ``explorer.kernels`` and ``explorer.attention``.
"""
