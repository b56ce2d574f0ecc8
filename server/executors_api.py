"""``GET <prefix>api/v1/executors``: the executors this server offers, read-only.

The server's executor configuration belongs to whoever runs the server (its
config file): a client can read it, secrets masked, but never change it, since
a change would silently alter every other user's workflows. Every writing
method answers 405.
"""

from __future__ import annotations

from typing import Any

from .handlers import ApiHandler

__all__ = ["ExecutorsHandler"]

READ_ONLY_MESSAGE = ("the server's executors cannot be changed through the API: they are set in the "
                     "[executors.<name>] sections of the server's config file by whoever runs the server")


class ExecutorsHandler(ApiHandler):
    """``GET executors``: ``{"default": "dask", "executors": [{"name", "settings", ...}]}``."""

    def get(self) -> None:
        self.write_json(self.service.dispatcher.executors.describe())

    def refuse_change(self, *args: Any) -> None:
        """Writing methods: 405, the configuration is read-only."""
        self.fail(405, READ_ONLY_MESSAGE)

    post = put = patch = delete = refuse_change

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:
            self.set_header("Allow", "GET")
        super().write_error(status_code, **kwargs)
