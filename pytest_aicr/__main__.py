"""``python -m pytest_aicr``: the ``aicr`` command without its console script."""

from pytest_aicr.cli import main

raise SystemExit(main())
