"""Kernels: how the random projection W is drawn, and which feature map φ is applied to it.

Entry points: ``PROJECTIONS`` / ``draw_projection`` (``projections``) and ``FEATURE_MAPS`` /
``get_feature_map`` (``feature_maps``). The two axes are independent (google-research's
RandomMatrix × kernel_feature_creator): "orthogonal" is a property of W, not of φ.
``RECIPES`` / ``get_recipe`` (``recipes``): the peers' whole recipes (map, W, eps, stabiliser,
seed), their maths in ``peers``.
May import: ``explorer.errors``, ``explorer.device``, ``explorer.streams``.
"""
