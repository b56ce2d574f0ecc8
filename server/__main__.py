"""``python -m covalent_nb.server``: run the dispatcher in the foreground."""

import sys

from .app import serve

sys.exit(serve())
