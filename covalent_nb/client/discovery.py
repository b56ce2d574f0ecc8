"""Which dispatcher a client talks to, found in a fixed order.

1. ``dispatcher_addr`` given to the call (``"host:port"`` or a URL with a path).
2. The config file, when it sets ``dispatcher.address`` or ``dispatcher.port``
   (``ct.set_config`` writes there).
3. What the Jupyter server extension hands its kernels:
   ``COVALENT_NB_DISPATCHER_URL`` and ``COVALENT_NB_DISPATCHER_TOKEN``.
4. A JupyterHub deployment: ``COVALENT_NB_HUB_URL`` (set in the spawner's
   environment) with the user's ``JUPYTERHUB_API_TOKEN``.
5. The config defaults: ``localhost:48008``.

Except in steps 3 and 4, the token comes from ``COVALENT_NB_TOKEN``, then
``dispatcher.token``, then the local server's token file.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse

from covalent_nb import _config

__all__ = ["DispatcherLocation", "locate_dispatcher", "EXTENSION_URL_ENV", "EXTENSION_TOKEN_ENV", "HUB_URL_ENV"]

EXTENSION_URL_ENV = "COVALENT_NB_DISPATCHER_URL"
EXTENSION_TOKEN_ENV = "COVALENT_NB_DISPATCHER_TOKEN"
HUB_URL_ENV = "COVALENT_NB_HUB_URL"


@dataclasses.dataclass(frozen=True)
class DispatcherLocation:
    """Where a dispatcher's API lives and the token to send it."""

    host: str
    port: int
    prefix: str
    token: str | None
    source: str

    @property
    def url(self) -> str:
        """The base URL the API hangs under (``<url>api/v1/...``)."""
        return f"http://{_config.url_host(self.host)}:{self.port}{self.prefix}"


def _from_url(url: str, token: str | None, source: str) -> DispatcherLocation:
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "") or not parts.hostname:
        raise ValueError(f"{source}: {url!r} is not an http URL like http://host:port/prefix/")
    prefix = parts.path or "/"
    if not prefix.endswith("/"):
        prefix += "/"
    return DispatcherLocation(parts.hostname, parts.port or 80, prefix, token, source)


def locate_dispatcher(dispatcher_addr: str | None = None) -> DispatcherLocation:
    """The dispatcher this process should use (see the module docstring for the order)."""
    if dispatcher_addr:
        if "/" in dispatcher_addr.split("://", 1)[-1]:
            return _from_url(dispatcher_addr, _config.client_token(), "dispatcher_addr")
        host, port = _config.dispatcher_address(dispatcher_addr)
        return DispatcherLocation(host, port, "/", _config.client_token(), "dispatcher_addr")
    explicit = _config.is_set_in_file("dispatcher.address") or _config.is_set_in_file("dispatcher.port")
    if not explicit:
        url = os.environ.get(EXTENSION_URL_ENV, "").strip()
        if url:
            return _from_url(url, os.environ.get(EXTENSION_TOKEN_ENV) or None, "the Jupyter server extension")
        hub_url = os.environ.get(HUB_URL_ENV, "").strip()
        if hub_url:
            return _from_url(hub_url, os.environ.get("JUPYTERHUB_API_TOKEN") or None, "JupyterHub")
    host, port = _config.dispatcher_address()
    return DispatcherLocation(host, port, "/", _config.client_token(),
                              "the config file" if explicit else "the default address")
