"""Importing distributed without silencing the host's tornado logs.

When distributed is first imported it sets tornado's loggers to CRITICAL
(its default logging config), so the access log of the server that hosts
the dispatcher (standalone or Jupyter) went quiet as soon as the Dask
cluster started: no more request lines, not even for 5xx answers.
:func:`import_distributed` imports it and puts those levels back.
"""

from __future__ import annotations

import logging

__all__ = ["TORNADO_LOGGERS", "import_distributed"]

TORNADO_LOGGERS = ("tornado", "tornado.access", "tornado.application", "tornado.general")


def import_distributed() -> None:
    """Import distributed (once per process) keeping the levels of :data:`TORNADO_LOGGERS`."""
    levels = {name: logging.getLogger(name).level for name in TORNADO_LOGGERS}
    import distributed  # noqa: F401  (sets tornado's loggers on its first import)

    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
