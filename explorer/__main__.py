"""``python -m explorer``: the command line (see explorer/cli/main.py)."""

from explorer.cli.main import main

raise SystemExit(main())
