"""Paper figures as presets (Performer Figs. 2, 3, 4): a table, then a figure.

Entry point: ``presets.FIGURES``. May import: everything below it (experiments, theory,
charts, bench).
"""
