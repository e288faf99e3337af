"""Attention: the exact softmax reference and linear attention with any feature map.

Entry points: ``exact.softmax_attention`` (row-blocked, the reference), ``linear.linear_attention``
(non-causal and blocked-causal) and ``linear.favor_attention`` (FAVOR+ fused, for speed).
May import: the leaves (errors, device, streams) and ``explorer.kernels``.
"""
