"""Finding the dispatcher a client talks to: explicit address, then config."""

from __future__ import annotations

import threading

from covalent_nb import _config

from .http import DispatcherConnection

__all__ = ["connection"]

_cache: dict[tuple[str, int, str | None], DispatcherConnection] = {}
_lock = threading.Lock()


def connection(dispatcher_addr: str | None = None) -> DispatcherConnection:
    """The connection for ``dispatcher_addr`` ("host:port"), or the configured dispatcher."""
    host, port = _config.dispatcher_address(dispatcher_addr)
    token = _config.client_token()
    key = (host, port, token)
    with _lock:
        conn = _cache.get(key)
        if conn is None:
            conn = _cache[key] = DispatcherConnection(host, port, token)
        return conn
