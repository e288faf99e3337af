"""``python -m explorer``: the command line (see explorer/cli.py)."""

from explorer.cli import main

raise SystemExit(main())
