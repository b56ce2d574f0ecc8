"""The expected noise of closing a local Dask cluster, kept out of the server log.

When the server closes its local cluster, the cluster's scheduler (which
runs in the server's process) may still be writing to a worker's stream
while that worker closes. distributed then logs "Batched Comm Closed"
(INFO) with the ``CommClosedError`` traceback: the normal end of that
stream, not a failure, but it reads like one in ``covalent-nb logs``.

While :func:`quiet_closed_comms` is active, such records keep their one
line and lose the traceback. Any other record, and any record logged
outside it, is untouched.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = ["CLOSING_LOGGERS", "quiet_closed_comms"]

CLOSING_LOGGERS = ("distributed.batched",)
"""The loggers that report a stream closed under them, with its traceback, while a cluster closes."""


class _ClosedCommWithoutTraceback(logging.Filter):
    """Drops the traceback of records about a ``CommClosedError``; keeps every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        from distributed.comm.core import CommClosedError

        if record.exc_info and isinstance(record.exc_info[1], CommClosedError):
            record.exc_info = None
            record.exc_text = None
        return True


@contextlib.contextmanager
def quiet_closed_comms() -> Iterator[None]:
    """Inside: closed-stream records of :data:`CLOSING_LOGGERS` are logged without a traceback."""
    quiet = _ClosedCommWithoutTraceback()
    loggers = [logging.getLogger(name) for name in CLOSING_LOGGERS]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)
