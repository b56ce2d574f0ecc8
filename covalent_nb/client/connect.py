"""One kept-alive connection per dispatcher location (see discovery.py for how it is found)."""

from __future__ import annotations

import threading

from .discovery import locate_dispatcher
from .http import DispatcherConnection

__all__ = ["connection"]

_cache: dict[tuple[str, int, str, str | None, str], DispatcherConnection] = {}
_lock = threading.Lock()


def connection(dispatcher_addr: str | None = None) -> DispatcherConnection:
    """The connection for ``dispatcher_addr`` ("host:port" or a URL), or the dispatcher found by discovery.

    Its errors name where the address came from (the location's ``source``).
    """
    where = locate_dispatcher(dispatcher_addr)
    key = (where.host, where.port, where.prefix, where.token, where.source)
    with _lock:
        conn = _cache.get(key)
        if conn is None:
            conn = _cache[key] = DispatcherConnection(where.host, where.port, where.token, where.prefix,
                                                      source=where.source, remedy=where.remedy)
        return conn
