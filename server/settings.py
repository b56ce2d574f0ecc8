"""Settings of one dispatcher service, read from the covalent-nb config file."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

__all__ = ["ServerSettings"]


@dataclasses.dataclass
class ServerSettings:
    """What a dispatcher needs to know about its host and its resources.

    ``workers`` is the size of the local Dask cluster (0: one per core);
    ``scheduler_address`` points at an existing Dask cluster instead;
    ``cluster=False`` starts no local cluster (tasks need an explicit executor
    or a scheduler address).
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
        settings = cls(
            data_dir=_config.data_dir(),
            address=conf["dispatcher"].get("address", "localhost"),
            port=int(conf["dispatcher"].get("port", 48008)),
            workers=int(server.get("workers", 0)),
            scheduler_address=conf.get("dask", {}).get("scheduler_address", ""),
            max_payload_bytes=int(float(server.get("max_payload_mb", 512)) * 1024 * 1024),
            executors=dict(conf.get("executors", {})),
        )
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, Path(value) if name == "data_dir" else value)
        return settings
