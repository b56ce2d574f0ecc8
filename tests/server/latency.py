"""How long a server takes to answer ``GET health`` while it does something else (a thread that polls it)."""

from __future__ import annotations

import http.client
import threading
import time

__all__ = ["HealthPoller"]


class HealthPoller:
    """Polls ``GET api/v1/health`` every ``every`` seconds on one kept-alive connection, recording each latency.

    Use as a context manager; ``latencies`` are seconds, ``worst`` the largest.
    A request that fails counts as ``timeout`` seconds (and is kept in ``errors``).
    """

    def __init__(self, address: str, port: int, token: str, every: float = 0.05, timeout: float = 30) -> None:
        self.address, self.port, self.token = address, port, token
        self.every, self.timeout = every, timeout
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="health-poller", daemon=True)

    def __enter__(self) -> "HealthPoller":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)

    @property
    def worst(self) -> float:
        """The longest answer so far, in seconds (0 before any)."""
        return max(self.latencies, default=0.0)

    def _poll(self) -> None:
        conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
        headers = {"Authorization": f"token {self.token}"}
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", "/api/v1/health", headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    self.errors.append(f"status {response.status}")
                self.latencies.append(time.perf_counter() - started)
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                self.latencies.append(self.timeout)
                conn.close()
                conn = http.client.HTTPConnection(self.address, self.port, timeout=self.timeout)
            self._stop.wait(max(0.0, self.every - (time.perf_counter() - started)))
        conn.close()
