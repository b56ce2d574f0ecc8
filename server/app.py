"""The dispatcher service and the standalone tornado server that hosts it.

:class:`DispatcherService` bundles the store, the event hub and the
dispatcher; its :meth:`~DispatcherService.handlers` mount the API under any
URL prefix of any tornado application (the Jupyter extension does that).
:func:`serve` runs it standalone (``covalent-nb serve`` / ``start``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.web

from covalent_nb.errors import ConfigError

from .auth import Authenticate, ensure_token, standalone_authenticator
from .cleanup import Cleaner
from .idempotency import PendingRequests
from .data_lock import DataDirBusy, DataDirLock
from .dispatcher import Dispatcher
from .events import EventHub
from .handlers import api_handlers
from .log_redaction import install_token_filter
from .private_files import create_private_file, make_private, private_dir, write_private_text
from .settings import ServerSettings
from .store import ResultStore

__all__ = ["DispatcherService", "make_app", "serve"]

log = logging.getLogger("covalent_nb.server")


class DispatcherService:
    """A dispatcher with its result store and event hub, independent of any host."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.started = time.time()  # the server's uptime counts from here (GET health?detail=1)
        install_token_filter()  # tornado's warnings name request URLs: a WebSocket's may hold a token
        private_dir(settings.data_dir)
        self._lock = DataDirLock(settings.data_dir)  # DataDirBusy when another dispatcher has it
        create_private_file(settings.data_dir / "results.db")  # SQLite gives -wal and -shm the same mode
        self.store = ResultStore(settings.data_dir)
        make_private(settings.data_dir)  # whatever an earlier run or version left open to others
        self.hub = EventHub()
        self.dispatcher = Dispatcher(settings, self.store, self.hub)
        self.cleaner = Cleaner(self.store, is_running=lambda dispatch_id: dispatch_id in self.dispatcher.runs,
                               flush=self.dispatcher.flush)
        self._retention: asyncio.Task | None = None
        self.pending_requests = PendingRequests()

    async def start(self) -> None:
        """Start the Dask cluster in the background (when eager), watch it idle, and resume the
        dispatches that were running when the service last stopped. Never waits for the cluster."""
        clusters = self.dispatcher.clusters
        if self.settings.cluster_start == "eager":
            clusters.start_in_background()
        clusters.close_when_idle(self.settings.cluster_idle_minutes * 60,
                                 busy=lambda: bool(self.dispatcher.runs))
        removed = self.cleaner.remove_temp_files()
        if removed:
            log.info("removed %d temporary file(s) left by an earlier run", removed)
        resumed = await self.dispatcher.resume_unfinished()
        if resumed:
            log.info("resumed %d unfinished dispatch(es)", len(resumed))
        if self.settings.keep_days > 0:
            self._retention = asyncio.ensure_future(self.cleaner.keep_recent(self.settings.keep_days))

    async def stop(self) -> None:
        """Stop the dispatcher and close the store (running work resumes at next start)."""
        if self._retention is not None:
            self._retention.cancel()
        await self.dispatcher.close()
        self.store.close()
        self._lock.release()

    def handlers(self, prefix: str, authenticate: Authenticate) -> list[tuple[str, type, dict[str, Any]]]:
        """Routes of the API under ``prefix``, authenticated by ``authenticate``."""
        if not prefix.endswith("/"):
            prefix += "/"
        return api_handlers(prefix, self, authenticate)


def make_app(service: DispatcherService, token: str, prefix: str = "/") -> tornado.web.Application:
    """A tornado application serving the API (the token, or a web UI session: server/auth.py) and the web
    UI under ``{prefix}ui/`` behind its login page; ``prefix`` itself goes to the UI. Tokens stay out of its log."""
    from covalent_nb.webui import ui_routes

    from .login import SessionUiPage, login_api_routes, login_routes
    from .sessions import SessionKeeper

    settings = service.settings
    sessions = SessionKeeper(settings.data_dir, token, f"covalent_nb_session_{settings.port}", settings.session_days)
    authenticate = standalone_authenticator(token, sessions)
    routes = [(prefix, tornado.web.RedirectHandler, {"url": f"{prefix}ui/", "permanent": False})]
    routes += login_api_routes(prefix, service, authenticate, sessions)  # before the API's catch-all route
    routes += service.handlers(prefix, authenticate)
    routes += login_routes(prefix, sessions, token)
    routes += ui_routes(prefix, page_handler=SessionUiPage,
                        page_kwargs={"sessions": sessions, "prefix": prefix, "host": "standalone", "logout": "logout"})
    return tornado.web.Application(routes, cookie_secret=sessions.cookie_secret,
                                   xsrf_cookies=True, xsrf_cookie_kwargs={"samesite": "Strict", "path": prefix})


def _write_state(data_dir: Path, settings: ServerSettings) -> None:
    url = f"http://{settings.address}:{settings.port}"
    write_private_text(data_dir / "server.pid", str(os.getpid()))
    write_private_text(data_dir / "server.json", json.dumps(
        {"pid": os.getpid(), "url": url, "address": settings.address, "port": settings.port}))


def _clear_state(data_dir: Path) -> None:
    for name in ("server.pid", "server.json"):
        path = data_dir / name
        try:
            if name != "server.pid" or path.read_text().strip() == str(os.getpid()):
                path.unlink()
        except FileNotFoundError:
            pass


async def _serve(settings: ServerSettings) -> int:
    token = ensure_token(settings.data_dir)
    try:
        service = DispatcherService(settings)
    except DataDirBusy as exc:
        print(f"covalent-nb: {exc}", file=sys.stderr)
        return 1
    app = make_app(service, token)
    server = tornado.httpserver.HTTPServer(app, max_body_size=settings.max_payload_bytes + 1,
                                           max_buffer_size=64 * 1024 * 1024)
    try:
        server.listen(settings.port, settings.address)
    except OSError as exc:
        print(f"covalent-nb: cannot listen on {settings.address}:{settings.port}: {exc.strerror}. "
              "Choose another port with --port.", file=sys.stderr)
        await service.stop()
        return 1
    _write_state(settings.data_dir, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    log.info("covalent-nb dispatcher listening on http://%s:%d", settings.address, settings.port)
    print(f"covalent-nb dispatcher listening on http://{settings.address}:{settings.port}", flush=True)
    try:
        await stop.wait()
    finally:
        server.stop()
        await service.stop()
        _clear_state(settings.data_dir)
    return 0


def serve(address: str | None = None, port: int | None = None, workers: int | None = None,
          cluster: bool = True, data_dir: str | Path | None = None) -> int:
    """Run the dispatcher in the foreground until SIGTERM or SIGINT; returns an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = ServerSettings.from_config(address=address, port=port, workers=workers,
                                              data_dir=data_dir)
    except ConfigError as exc:
        print(f"covalent-nb: {exc}", file=sys.stderr)
        return 1
    settings.cluster = cluster
    private_dir(settings.data_dir)
    return asyncio.run(_serve(settings))


if __name__ == "__main__":
    sys.exit(serve())
