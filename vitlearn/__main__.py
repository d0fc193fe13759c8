"""``python -m vitlearn`` is the ``vitlearn`` command."""

from vitlearn.cli import main

raise SystemExit(main())
