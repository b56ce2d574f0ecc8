"""Settings of one dispatcher service, read from the covalent-nb config file."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from covalent_nb.errors import ConfigError

from .dask_security import ExternalTLS

__all__ = ["CLUSTER_STARTS", "ServerSettings"]

CLUSTER_STARTS = ("eager", "lazy")
"""``eager``: the local Dask cluster starts with the server; ``lazy``: when a task first needs it."""


@dataclasses.dataclass
class ServerSettings:
    """What a dispatcher needs to know about its host and its resources.

    ``workers`` is the size of the local Dask cluster (0: one per core);
    ``scheduler_address`` points at an existing Dask cluster instead;
    ``cluster=False`` starts no local cluster (tasks need an explicit executor
    or a scheduler address). ``cluster_start`` says when the cluster starts
    (see :data:`CLUSTER_STARTS`; eager never delays the server's own start);
    ``cluster_idle_minutes`` closes the local cluster after that long without
    a task, to give its memory back (0: never); the next task starts it again.
    ``keep_days`` deletes finished dispatches that many days after they end
    (0: never; fractions allowed). ``session_days``: how long a login to the
    standalone server's web UI lasts (its session cookie's lifetime).
    ``dask_tls_ca_file``, ``dask_tls_client_cert`` and ``dask_tls_client_key``
    (``[dask] tls_ca_file``, ...) are the credentials for existing Dask
    clusters at ``tls://`` addresses; ``dask_tls`` holds them, checked.
    """

    data_dir: Path
    address: str = "localhost"
    port: int = 48008
    workers: int = 0
    cluster: bool = True
    scheduler_address: str = ""
    max_payload_bytes: int = 512 * 1024 * 1024
    spill_threshold: int = 1024 * 1024
    executors: dict = dataclasses.field(default_factory=dict)
    cluster_start: str = "eager"
    cluster_idle_minutes: float = 30.0
    keep_days: float = 0.0
    session_days: float = 7.0
    dask_tls_ca_file: str = ""
    dask_tls_client_cert: str = ""
    dask_tls_client_key: str = ""
    dask_tls: ExternalTLS | None = dataclasses.field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.cluster_start not in CLUSTER_STARTS:
            raise ConfigError(f"server.cluster_start must be 'eager' or 'lazy'; got {self.cluster_start!r}")
        self.cluster_idle_minutes = _minutes(self.cluster_idle_minutes)
        self.keep_days = _days(self.keep_days)
        self.session_days = _days(self.session_days, "server.session_days", "more than 0, e.g. 7 or 0.5")
        if self.session_days == 0:
            raise ConfigError("server.session_days must be a number of days, more than 0, e.g. 7 or 0.5; got 0")
        self.dask_tls = ExternalTLS.from_config(self.dask_tls_ca_file, self.dask_tls_client_cert,
                                                self.dask_tls_client_key)
        if self.scheduler_address.startswith("tls://") and self.dask_tls is None:
            raise ConfigError(f"dask.scheduler_address {self.scheduler_address!r} speaks TLS: set dask.tls_ca_file, "
                              "dask.tls_client_cert and dask.tls_client_key to the files of this server's "
                              "credentials for it")

    @property
    def worker_count(self) -> int:
        """The number of local Dask worker processes to start."""
        return self.workers if self.workers > 0 else (os.cpu_count() or 1)

    @classmethod
    def from_config(cls, **overrides: object) -> "ServerSettings":
        """Settings from the config file, with explicit values (not None) winning."""
        from covalent_nb import _config

        conf = _config.get_config()
        server = conf.get("server", {})
        dask = conf.get("dask", {})
        values: dict[str, Any] = dict(
            data_dir=_config.data_dir(),
            address=conf["dispatcher"].get("address", "localhost"),
            port=int(conf["dispatcher"].get("port", 48008)),
            workers=int(server.get("workers", 0)),
            scheduler_address=dask.get("scheduler_address", ""),
            max_payload_bytes=int(float(server.get("max_payload_mb", 512)) * 1024 * 1024),
            executors=dict(conf.get("executors", {})),
            cluster_start=server.get("cluster_start", "eager"),
            cluster_idle_minutes=server.get("cluster_idle_minutes", 30.0),
            keep_days=server.get("keep_days", 0.0),
            session_days=server.get("session_days", 7.0),
            dask_tls_ca_file=dask.get("tls_ca_file", ""),
            dask_tls_client_cert=dask.get("tls_client_cert", ""),
            dask_tls_client_key=dask.get("tls_client_key", ""),
        )
        for name, value in overrides.items():
            if value is not None:
                values[name] = Path(value) if name == "data_dir" else value
        return cls(**values)


def _minutes(value: object) -> float:
    """``server.cluster_idle_minutes`` as a number of minutes, 0 or more (fractions allowed)."""
    try:
        minutes = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        minutes = math.nan
    if not math.isfinite(minutes) or minutes < 0:
        raise ConfigError("server.cluster_idle_minutes must be a number of minutes, 0 (never close the "
                          f"idle cluster) or more, e.g. 30 or 0.5; got {value!r}")
    return minutes


def _days(value: object, name: str = "server.keep_days",
          meaning: str = "0 (keep finished dispatches until deleted) or more, e.g. 30 or 0.5") -> float:
    """A setting (``server.keep_days`` unless told) as a number of days, 0 or more (fractions allowed)."""
    try:
        days = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        days = math.nan
    if not math.isfinite(days) or days < 0:
        raise ConfigError(f"{name} must be a number of days, {meaning}; got {value!r}")
    return days
