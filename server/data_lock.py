"""One dispatcher per data directory: an exclusive lock held while the service runs."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

__all__ = ["DataDirBusy", "DataDirLock"]


class DataDirBusy(RuntimeError):
    """Another dispatcher process already uses this data directory."""


class DataDirLock:
    """An exclusive ``flock`` on ``<data_dir>/dispatcher.lock``; released on close or exit."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "dispatcher.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: IO[str] | None = os.fdopen(fd, "a+")
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            self._file = None
            raise DataDirBusy(f"the data directory {data_dir} is in use by dispatcher pid {holder}; "
                              "stop it, or give this one its own COVALENT_NB_DATA_DIR") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(str(os.getpid()))
        self._file.flush()

    def release(self) -> None:
        """Give the directory up."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
