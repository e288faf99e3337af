"""Theory: closed forms of the estimators' errors, and seeded Monte Carlo that checks them.

Entry points: ``closed_forms`` (Lemma 2, FAVOR++, FAVOR#, hybrid, Theorem 2, Fig. 2's ratio,
the delta method), ``montecarlo`` and ``montecarlo_curves`` (with the Theory page's registry
of tables). May import: the leaves, ``explorer.kernels`` and ``explorer.attention``.
"""
