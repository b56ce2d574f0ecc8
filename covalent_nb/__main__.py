"""``python -m covalent_nb``: the ``covalent-nb`` command line."""

from covalent_nb.cli import main

raise SystemExit(main())
