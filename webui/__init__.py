"""The web UI: static pages that speak only the public ``api/v1``, as any client does.

Installed as ``covalent_nb.webui``. A host mounts :func:`ui_routes` under its
URL prefix (``{prefix}ui/``): the standalone server behind its login page,
the Jupyter extension behind Jupyter's login, the JupyterHub service behind
the Hub's. The host gives the page handler (who may see the page) and, if
it wants, the static file handler; the page itself finds the API at
``../api/v1/`` and the event WebSocket beside it, so it works under any
prefix.

Pages are hash routes of one document: ``#/`` (dispatches), ``#/dispatches/<id>``,
``#/dispatches/<id>/tasks/<node_id>``, ``#/executors``, ``#/server``.

Caching: the page's assets are named with the hash of their content
(``static/js/app.js?v=<hash>``; an import map in the page does it for the
modules the scripts import), and a hashed URL is cached for a year. The page
itself, and an asset asked for without its hash, are revalidated every time.
No asset comes from elsewhere: the page's code and style are these files,
with no library.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import tornado.web

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "UiPageHandler", "UiStaticHandler", "asset_url", "content_security_policy",
           "ui_routes"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The page's scripts (``js/``) and style (``app.css``)."""
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
"""The page (``index.html``) and the standalone server's login form (``login.html``)."""

_hashes: dict[Path, tuple[float, str]] = {}


def _content_hash(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of a static file (read again when it changes)."""
    mtime = path.stat().st_mtime
    known = _hashes.get(path)
    if known is None or known[0] != mtime:
        known = (mtime, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
        _hashes[path] = known
    return known[1]


def asset_url(name: str) -> str:
    """The URL of a static file relative to ``{prefix}ui/``, with its content hash."""
    return f"static/{name}?v={_content_hash(STATIC_DIR / name)}"


def _import_map() -> str:
    """Every module by its hashed URL, for the modules that scripts import by plain relative names."""
    modules = sorted(p.relative_to(STATIC_DIR).as_posix() for p in (STATIC_DIR / "js").glob("*.js"))
    return json.dumps({"imports": {f"./static/{name}": f"./{asset_url(name)}" for name in modules}})


def content_security_policy(nonce: str) -> str:
    """What the page may load and do: its own files only, its one inline script (the import map) by
    ``nonce``, connections to its own origin, and a frame only in a page of the same origin."""
    return "; ".join([
        "default-src 'none'", f"script-src 'self' 'nonce-{nonce}'", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:", "connect-src 'self'", "font-src 'self'", "form-action 'self'",
        "base-uri 'none'", "frame-ancestors 'self'",
    ])


class UiPageHandler(tornado.web.RequestHandler):
    """``GET {prefix}ui/``: the page. Hosts subclass it to require their login.

    ``host`` (``standalone``, ``jupyter``...) and ``logout`` (the URL of a
    logout form, or "" when the host has its own) are given per mount.
    """

    def initialize(self, host: str = "standalone", logout: str = "") -> None:
        self.ui_host = host
        self.logout_url = logout

    @functools.cached_property
    def nonce(self) -> str:
        """This answer's nonce for the page's inline import map (made when first needed: a host may
        send its security header before :meth:`initialize`)."""
        return secrets.token_urlsafe(16)

    def get_template_path(self) -> str:
        return str(TEMPLATE_DIR)

    def set_page_headers(self) -> None:
        """The page's security and caching headers."""
        self.set_header("Content-Security-Policy", content_security_policy(self.nonce))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-cache, private")

    def get(self) -> None:
        self.write_page()

    def write_page(self) -> None:
        """Answer with the page (setting the ``_xsrf`` cookie that its state-changing requests repeat)."""
        self.xsrf_token  # noqa: B018 - tornado sets the cookie when the token is first read
        self.set_page_headers()
        self.render("index.html", nonce=self.nonce, asset=asset_url, import_map=_import_map(),
                    ui_host=self.ui_host, logout_url=self.logout_url)


class UiStaticHandler(tornado.web.StaticFileHandler):
    """The page's assets: a year in the cache when asked for by content hash (``?v=``), else revalidated."""

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return self.CACHE_MAX_AGE if self.get_query_argument("v", None) else 0

    def set_extra_headers(self, path: str) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        if not self.get_query_argument("v", None):
            self.set_header("Cache-Control", "no-cache")
        else:
            self.set_header("Cache-Control", f"public, max-age={self.CACHE_MAX_AGE}, immutable")


class _SlashRedirect(tornado.web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.request.path + "/", permanent=False)


def ui_routes(prefix: str, page_handler: type = UiPageHandler, static_handler: type = UiStaticHandler,
              page_kwargs: dict[str, Any] | None = None) -> list[tuple[str, type, dict[str, Any]]]:
    """The routes of the UI under ``prefix`` (ending with '/'): ``{prefix}ui`` (redirects to ``ui/``),
    ``{prefix}ui/`` (``page_handler``, given ``page_kwargs``) and ``{prefix}ui/static/...``."""
    if not prefix.endswith("/"):
        prefix += "/"
    base = prefix + "ui"
    return [
        (base, _SlashRedirect, {}),
        (base + "/", page_handler, dict(page_kwargs or {})),
        (base + "/static/(.*)", static_handler, {"path": str(STATIC_DIR)}),
    ]
