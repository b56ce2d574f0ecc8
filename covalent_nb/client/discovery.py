"""Which dispatcher a client talks to, found in a fixed order.

1. ``dispatcher_addr`` given to the call (``"host:port"`` or a URL with a path).
2. ``ct.set_config`` called in this process with ``dispatcher.address`` or
   ``dispatcher.port`` (the values it wrote to the config file).
3. What the Jupyter server extension hands its kernels:
   ``COVALENT_NB_DISPATCHER_URL`` and ``COVALENT_NB_DISPATCHER_TOKEN``, and in
   ``COVALENT_NB_DISPATCHER_SOURCE`` which dispatcher that is and why.
4. A JupyterHub deployment: ``COVALENT_NB_HUB_URL`` (set in the spawner's
   environment) with the user's ``JUPYTERHUB_API_TOKEN``.
5. The config file, when it sets ``dispatcher.address`` or ``dispatcher.port``
   (another process's ``ct.set_config``, or an edit by hand). It is every
   process's setting, so what a host hands a process (3, 4) wins over it.
6. The config defaults: ``localhost:48008``.

Except in steps 3 and 4, the token comes from ``COVALENT_NB_TOKEN``, then
``dispatcher.token``, then the local server's token file.

:attr:`DispatcherLocation.source` says in words where the address came from;
``%covalent status`` shows it, and every "cannot reach" error names it.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse

from covalent_nb import _config

__all__ = ["DEFAULT_REMEDY", "DispatcherLocation", "locate_dispatcher", "EXTENSION_URL_ENV", "EXTENSION_TOKEN_ENV",
           "EXTENSION_SOURCE_ENV", "HUB_URL_ENV"]

EXTENSION_URL_ENV = "COVALENT_NB_DISPATCHER_URL"
EXTENSION_TOKEN_ENV = "COVALENT_NB_DISPATCHER_TOKEN"
EXTENSION_SOURCE_ENV = "COVALENT_NB_DISPATCHER_SOURCE"
HUB_URL_ENV = "COVALENT_NB_HUB_URL"

EXTENSION_SOURCE = "the Jupyter server extension"
"""How a location handed by the extension is named when the extension says no more."""

_ADDRESS_KEYS = ("dispatcher.address", "dispatcher.port")

DEFAULT_REMEDY = ("Start one with `covalent-nb start`, or point the client at a running one with "
                  "ct.set_config({'dispatcher.address': ..., 'dispatcher.port': ...}) or "
                  "dispatcher_addr='host:port'.")
"""What to do when no dispatcher answers at an address nobody chose (the defaults)."""

_REMEDIES = {
    "argument": "Check the address, or start a dispatcher there with `covalent-nb start`.",
    "set_config": ("Start a dispatcher there with `covalent-nb start`, or ct.set_config another "
                   "'dispatcher.address'/'dispatcher.port'."),
    "extension": ("The Jupyter server's dispatcher does not answer: its log says why; restart the "
                  "Jupyter server, or pass dispatcher_addr='host:port'."),
    "hub": ("The JupyterHub service does not answer: ask the Hub's administrator, or pass "
            "dispatcher_addr='host:port'."),
    "config_file": ("Start a dispatcher there with `covalent-nb start`, or change dispatcher.address/"
                    "dispatcher.port in that file (ct.set_config)."),
    "default": DEFAULT_REMEDY,
}


@dataclasses.dataclass(frozen=True)
class DispatcherLocation:
    """Where a dispatcher's API lives, the token to send it, and where that was found."""

    host: str
    port: int
    prefix: str
    token: str | None
    source: str
    """Where the address came from, in words (shown by ``%covalent status`` and in errors)."""
    kind: str = "argument"
    """The discovery step: argument, set_config, extension, hub, config_file or default."""

    @property
    def url(self) -> str:
        """The base URL the API hangs under (``<url>api/v1/...``)."""
        return f"http://{_config.url_host(self.host)}:{self.port}{self.prefix}"

    @property
    def remedy(self) -> str:
        """What to do when no dispatcher answers here."""
        return _REMEDIES.get(self.kind, _REMEDIES["default"])


def _from_url(url: str, token: str | None, source: str, kind: str) -> DispatcherLocation:
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "") or not parts.hostname:
        raise ValueError(f"{source}: {url!r} is not an http URL like http://host:port/prefix/")
    prefix = parts.path or "/"
    if not prefix.endswith("/"):
        prefix += "/"
    return DispatcherLocation(parts.hostname, parts.port or 80, prefix, token, source, kind)


def _from_argument(dispatcher_addr: str) -> DispatcherLocation:
    source = f"dispatcher_addr={dispatcher_addr!r} (given to the call)"
    if "/" in dispatcher_addr.split("://", 1)[-1]:
        return _from_url(dispatcher_addr, _config.client_token(), source, "argument")
    host, port = _config.dispatcher_address(dispatcher_addr)
    return DispatcherLocation(host, port, "/", _config.client_token(), source, "argument")


def _handed_by_host() -> DispatcherLocation | None:
    """What the Jupyter server extension or a JupyterHub spawner put in this process's environment."""
    url = os.environ.get(EXTENSION_URL_ENV, "").strip()
    if url:
        source = os.environ.get(EXTENSION_SOURCE_ENV, "").strip() or EXTENSION_SOURCE
        return _from_url(url, os.environ.get(EXTENSION_TOKEN_ENV) or None, source, "extension")
    hub_url = os.environ.get(HUB_URL_ENV, "").strip()
    if hub_url:
        return _from_url(hub_url, os.environ.get("JUPYTERHUB_API_TOKEN") or None,
                         f"JupyterHub ({HUB_URL_ENV} in the spawner's environment)", "hub")
    return None


def _from_config(source: str, kind: str) -> DispatcherLocation:
    host, port = _config.dispatcher_address()
    return DispatcherLocation(host, port, "/", _config.client_token(), source, kind)


def locate_dispatcher(dispatcher_addr: str | None = None) -> DispatcherLocation:
    """The dispatcher this process should use (see the module docstring for the order)."""
    if dispatcher_addr:
        return _from_argument(dispatcher_addr)
    path = _config.config_path()
    if any(_config.is_set_in_process(key) for key in _ADDRESS_KEYS):
        handed = os.environ.get(EXTENSION_URL_ENV, "").strip()
        wins = ", which wins over the Jupyter server extension's dispatcher" if handed else ""
        return _from_config(f"the config file {path}, set by ct.set_config in this process{wins}", "set_config")
    handed_location = _handed_by_host()
    if handed_location is not None:
        return handed_location
    set_keys = [key for key in _ADDRESS_KEYS if _config.is_set_in_file(key)]
    if set_keys:
        return _from_config(f"the config file {path} (it sets {' and '.join(set_keys)})", "config_file")
    return _from_config("the default address (no dispatcher_addr, ct.set_config, Jupyter server extension, "
                        "JupyterHub or config file names one)", "default")
