"""``CovalentNB``: the jupyter_server extension app.

Local mode (default): the dispatcher and result manager run inside the
notebook server, their API under ``{base_url}covalent/api/v1/``. Remote mode
(``c.CovalentNB.dispatcher_url``): no local dispatcher; kernels are sent to
the remote one (a standalone ``covalent-nb`` server or another Jupyter
server's extension). Either way the extension hands its kernels the
dispatcher's URL and token in their environment, so ``ct.dispatch`` works in
a notebook with no configuration.

A local dispatcher that cannot start (most often: another server's dispatcher
holds the data directory) is reported in one ERROR line with the fix. Kernels
are then sent to the dispatcher that holds the data directory, if it answers
with its token as this user's covalent-nb dispatcher; otherwise they are
handed nothing and find a dispatcher as any Python process does. They are
never handed the URL of a dispatcher that is not there.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import PeriodicCallback
from traitlets import Enum, Float, Int, Unicode

from covalent_nb.client.discovery import (EXTENSION_SOURCE, EXTENSION_SOURCE_ENV, EXTENSION_TOKEN_ENV,
                                          EXTENSION_URL_ENV)

from .data_dir_holder import find_holder, forget_holder, holder_pid, record_holder

__all__ = ["CovalentNB"]

URL_PATH = "covalent"
ACTIVITY_SETTING = "covalent_nb_last_activity"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class CovalentNB(ExtensionApp):
    """Runs covalent-nb's dispatcher inside the Jupyter server, or points kernels at a remote one."""

    name = "covalent_nb"
    load_other_extensions = True

    dispatcher_url = Unicode("", config=True, help=(
        "URL of a remote dispatcher (e.g. http://host:48008/ or http://host:8888/covalent/). "
        "When set, no local dispatcher starts and kernels use the remote one."))
    dispatcher_token = Unicode("", config=True, help=(
        "Token for the remote dispatcher_url (its server.token, or that Jupyter server's token)."))
    data_dir = Unicode("", config=True, help=(
        "Where the local dispatcher keeps its database and payloads; default: the covalent-nb data "
        "dir's 'jupyter' folder (a standalone server keeps its own)."))
    workers = Int(0, config=True, help="Local Dask worker processes (0: the config's server.workers, else one per core).")
    cluster_start = Enum(["eager", "lazy"], None, allow_none=True, config=True, help=(
        "When the local Dask cluster starts: 'eager', in the background as the server starts (never "
        "delaying it), so that the first dispatch finds it ready; 'lazy', when a task first needs it. "
        "Default: the config's server.cluster_start, else 'eager'."))
    cluster_idle_minutes = Float(None, allow_none=True, config=True, help=(
        "Close the local Dask cluster after this many minutes without a task, to give its memory back "
        "(fractions allowed; 0: never); the next task starts it again. Default: the config's "
        "server.cluster_idle_minutes, else 30."))
    shutdown_policy = Enum(["resume", "finish", "cancel"], "resume", config=True, help=(
        "What happens to running dispatches when the Jupyter server stops: 'resume' stops at once and "
        "they continue at the next start; 'finish' waits up to shutdown_timeout for them to end first; "
        "'cancel' cancels them."))
    shutdown_timeout = Float(60.0, config=True, help="Seconds 'finish' waits for running dispatches.")
    activity_interval = Float(30.0, config=True, help=(
        "While dispatches run, the server's last activity is renewed this often (seconds), so an idle "
        "culler does not stop a server with work in flight."))

    service: Any = None
    _ticker: PeriodicCallback | None = None
    _data_dir: Path | None = None
    _dispatcher_token = ""

    @property
    def remote(self) -> bool:
        """True in remote mode."""
        return bool(self.dispatcher_url)

    def initialize_settings(self) -> None:
        if self.remote:
            self.log.info("covalent-nb: kernels will use the remote dispatcher at %s", self.dispatcher_url)
            return
        from covalent_nb import _config
        from covalent_nb.server.app import DispatcherService
        from covalent_nb.server.auth import ensure_token
        from covalent_nb.server.data_lock import DataDirBusy
        from covalent_nb.server.settings import ServerSettings

        data_dir = self._data_dir = Path(self.data_dir) if self.data_dir else _config.data_dir() / "jupyter"
        try:
            settings = ServerSettings.from_config(data_dir=data_dir, workers=self.workers or None,
                                                  cluster_start=self.cluster_start,
                                                  cluster_idle_minutes=self.cluster_idle_minutes)
            self._dispatcher_token = ensure_token(data_dir)  # accepted beside Jupyter's auth (handlers.py)
            self.service = DispatcherService(settings)
        except DataDirBusy:
            self._no_dispatcher(f"its data directory {data_dir} is in use by the dispatcher of process "
                                f"{holder_pid(data_dir) or '?'}; kernels of this server use that one if it "
                                "answers. To run one here, give this server a data directory of its own "
                                "(--CovalentNB.data_dir=DIR, or c.CovalentNB.data_dir in its config)")
            return
        except Exception as exc:  # a data directory that cannot be written, a broken store...
            self._no_dispatcher(f"{_one_line(exc)}. Fix that, or give this server another data "
                                "directory (--CovalentNB.data_dir=DIR, or c.CovalentNB.data_dir in its config)")
            return
        self.settings[ACTIVITY_SETTING] = _utcnow()
        self.log.info("covalent-nb: dispatcher at %s, data in %s", self._local_url(), data_dir)

    def _no_dispatcher(self, why_and_fix: str) -> None:
        """Say in one ERROR line that this server runs no dispatcher, why, and how to fix it."""
        self.service = None
        self.log.error("covalent-nb: this Jupyter server runs no dispatcher: %s", why_and_fix)

    def initialize_handlers(self) -> None:
        if self.service is None:
            return
        from .handlers import jupyter_handlers

        from .ui import jupyter_ui_routes

        routes = self.service.handlers(f"/{URL_PATH}/", authenticate=None)
        self.handlers.extend(jupyter_handlers(routes, self._dispatcher_token))
        self.handlers.extend(jupyter_ui_routes(f"/{URL_PATH}/"))  # the web UI, behind Jupyter's login

    def _local_url(self) -> str:
        base_url = self.serverapp.base_url if self.serverapp else "/"
        port = self.serverapp.port if self.serverapp else 8888
        return f"http://127.0.0.1:{port}{url_path_join(base_url, URL_PATH)}/"

    def _hand_to_kernels(self, url: str | None, token: str = "", source: str = "") -> None:
        """Kernels inherit the server's environment: tell them where the dispatcher is (None: nothing)."""
        for name, value in ((EXTENSION_URL_ENV, url), (EXTENSION_TOKEN_ENV, token),
                            (EXTENSION_SOURCE_ENV, source)):
            if url and value:
                os.environ[name] = value
            else:
                os.environ.pop(name, None)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if self.remote:
            self._hand_to_kernels(self.dispatcher_url, self.dispatcher_token,
                                  f"{EXTENSION_SOURCE} (c.CovalentNB.dispatcher_url of this Jupyter server)")
            return
        if self.service is not None:
            self._hand_to_kernels(self._local_url(), self.serverapp.identity_provider.token if self.serverapp
                                  else "", f"{EXTENSION_SOURCE} (the dispatcher inside this Jupyter server)")
            try:
                await self.service.start()
            except Exception as exc:
                await self._give_up_service(exc)
        if self.service is None:
            await self._hand_holder_to_kernels()
            return
        assert self._data_dir is not None
        try:
            record_holder(self._data_dir, self._local_url())
        except OSError as exc:  # this server still works; another one on its data directory cannot find it
            self.log.warning("covalent-nb: cannot record this dispatcher in %s (%s)", self._data_dir, _one_line(exc))
        self.service.hub.subscribe_all(self._on_event)
        self._ticker = PeriodicCallback(self._renew_activity, self.activity_interval * 1000)
        self._ticker.start()

    async def _give_up_service(self, exc: Exception) -> None:
        service = self.service
        self._no_dispatcher(f"its dispatcher failed to start ({_one_line(exc)}). Fix that and "
                            "restart this server, or give it another data directory (--CovalentNB.data_dir=DIR)")
        try:
            await service.stop()
        except Exception:  # already broken: what matters is that kernels are not sent to it
            self.log.debug("covalent-nb: stopping the failed dispatcher", exc_info=True)

    async def _hand_holder_to_kernels(self) -> None:
        """Send kernels to the dispatcher that holds the data directory if it answers, else hand them nothing."""
        data_dir = self._data_dir
        holder, why_not = await find_holder(data_dir) if data_dir is not None else (None, "no data directory")
        if holder is None:
            self._hand_to_kernels(None)
            self.log.warning("covalent-nb: kernels of this server get no dispatcher address from it (%s); they "
                             "find one as any Python process does (%%covalent status shows which)", why_not)
            return
        self._hand_to_kernels(holder.url, holder.token, (
            f"{EXTENSION_SOURCE}: this Jupyter server's own dispatcher could not start (its data directory "
            f"{data_dir} is in use), so the dispatcher that holds it (process {holder.pid})"))
        self.log.info("covalent-nb: kernels of this server use the dispatcher of process %d at %s, which holds "
                      "the data directory %s", holder.pid, holder.url, data_dir)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.serverapp.web_app.settings[ACTIVITY_SETTING] = _utcnow()

    def _renew_activity(self) -> None:
        if self.service is not None and self.service.dispatcher.runs:
            self.serverapp.web_app.settings[ACTIVITY_SETTING] = _utcnow()

    def current_activity(self) -> dict[str, Any] | None:
        """The running dispatches, so that the server counts as busy while they run."""
        if self.service is None or not self.service.dispatcher.runs:
            return None
        return {"running_dispatches": len(self.service.dispatcher.runs)}

    async def stop_extension(self) -> None:
        """Stop the dispatcher as ``shutdown_policy`` says, then the Dask cluster."""
        if self._ticker is not None:
            self._ticker.stop()
        if self.service is None:
            return
        if self._data_dir is not None:
            forget_holder(self._data_dir)
        dispatcher = self.service.dispatcher
        if self.shutdown_policy == "cancel":
            for run in list(dispatcher.runs.values()):
                if run.parent is None:
                    dispatcher.cancel(run.owner, run.id)
            dispatcher.flush()
        elif self.shutdown_policy == "finish" and dispatcher.runs:
            deadline = asyncio.get_running_loop().time() + self.shutdown_timeout
            while dispatcher.runs and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.2)  # shutdown only: wait for the last dispatches to end
        await self.service.stop()
        self.service = None
