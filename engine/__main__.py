"""``python -m engine run --config PATH [--db PATH]``; see :mod:`engine.cli`."""

from engine.cli import main

raise SystemExit(main())
