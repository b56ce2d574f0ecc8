"""``CovalentNB``: the jupyter_server extension app.

Local mode (default): the dispatcher and result manager run inside the
notebook server, their API under ``{base_url}covalent/api/v1/``. Remote mode
(``c.CovalentNB.dispatcher_url``): no local dispatcher; kernels are sent to
the remote one (a standalone ``covalent-nb`` server or another Jupyter
server's extension). Either way the extension hands its kernels the
dispatcher's URL and token in their environment, so ``ct.dispatch`` works in
a notebook with no configuration.
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

from covalent_nb.client.discovery import EXTENSION_TOKEN_ENV, EXTENSION_URL_ENV

__all__ = ["CovalentNB"]

URL_PATH = "covalent"
ACTIVITY_SETTING = "covalent_nb_last_activity"


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


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
        from covalent_nb.server.settings import ServerSettings

        data_dir = Path(self.data_dir) if self.data_dir else _config.data_dir() / "jupyter"
        settings = ServerSettings.from_config(data_dir=data_dir, workers=self.workers or None)
        self.service = DispatcherService(settings)
        self.settings[ACTIVITY_SETTING] = _utcnow()
        self.log.info("covalent-nb: dispatcher at %s, data in %s", self._local_url(), data_dir)

    def initialize_handlers(self) -> None:
        if self.service is None:
            return
        from .handlers import jupyter_handlers

        routes = self.service.handlers(f"/{URL_PATH}/", authenticate=None)
        self.handlers.extend(jupyter_handlers(routes))

    def _local_url(self) -> str:
        base_url = self.serverapp.base_url if self.serverapp else "/"
        port = self.serverapp.port if self.serverapp else 8888
        return f"http://127.0.0.1:{port}{url_path_join(base_url, URL_PATH)}/"

    def _hand_to_kernels(self) -> None:
        """Kernels inherit the server's environment: tell them where the dispatcher is."""
        if self.remote:
            os.environ[EXTENSION_URL_ENV] = self.dispatcher_url
            token = self.dispatcher_token
        else:
            os.environ[EXTENSION_URL_ENV] = self._local_url()
            token = self.serverapp.identity_provider.token if self.serverapp else ""
        if token:
            os.environ[EXTENSION_TOKEN_ENV] = token
        else:
            os.environ.pop(EXTENSION_TOKEN_ENV, None)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self._hand_to_kernels()
        if self.service is None:
            return
        await self.service.start()
        self.service.hub.subscribe_all(self._on_event)
        self._ticker = PeriodicCallback(self._renew_activity, self.activity_interval * 1000)
        self._ticker.start()

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
