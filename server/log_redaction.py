"""Keep tokens out of the server's logs.

Request URLs reach the logs in two places: the access log (one line per
request) and tornado's warnings and errors about a request, which name its
method and URL. A WebSocket client may carry its token in the URL
(``?token=``, the only way a browser has), so every ``token=`` value in
those lines is replaced by ``[redacted]``, and so is the ``once=`` of a
one-time login link to the web UI. Headers are never logged.
"""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "TornadoTokenFilter", "install_token_filter", "redact"]

REDACTED = "[redacted]"
_TOKEN_IN_QUERY = re.compile(r"((?:^|[?&;\s])(?:[\w.-]*token|once)=)[^&;#\s'\"]*", re.IGNORECASE)
_TORNADO_LOGGERS = ("tornado.access", "tornado.application", "tornado.general")


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` (or ``..._token=``) and ``once=`` parameter replaced by
    ``[redacted]``."""
    return _TOKEN_IN_QUERY.sub(lambda match: match.group(1) + REDACTED, text)


class TornadoTokenFilter(logging.Filter):
    """Redacts tokens in the records of tornado's loggers (whatever host set up their handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        lowered = message.lower()
        if "token=" in lowered or "once=" in lowered:
            record.msg, record.args = redact(message), None
        return True


_FILTER = TornadoTokenFilter()


def install_token_filter() -> None:
    """Put the filter on tornado's loggers (once per process)."""
    for name in _TORNADO_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
