"""``python -m app``: the ``nudge`` command without its console script."""

from app.cli import main

main()
