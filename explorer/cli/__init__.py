"""The command line, ``python -m explorer``: every argparse in one place.

Entry point: ``main.main``. May import: everything except ``explorer.ui``.
"""
