"""Exceptions raised to users of covalent-nb."""

from __future__ import annotations

__all__ = [
    "CovalentNBError",
    "DispatcherError",
    "DispatcherUnreachableError",
    "AuthenticationError",
    "DispatchNotFoundError",
    "GraphBuildError",
    "SerializationError",
    "ExecutorError",
    "ConfigError",
    "ServerProcessError",
]


class CovalentNBError(Exception):
    """Base class of every covalent-nb error."""


class GraphBuildError(CovalentNBError):
    """The lattice body raised while its transport graph was being built."""


class SerializationError(CovalentNBError):
    """A function, argument or output could not be pickled."""


class ExecutorError(CovalentNBError):
    """An executor is unknown, misconfigured or given attributes of the wrong type."""


class DispatcherError(CovalentNBError):
    """The dispatcher answered with an error; ``status`` is its HTTP code."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DispatcherUnreachableError(DispatcherError):
    """No dispatcher answers at the address the client was given, or it dropped the connection mid-request."""


class AuthenticationError(DispatcherError):
    """The dispatcher refused the client's token (HTTP 401/403)."""


class DispatchNotFoundError(DispatcherError, KeyError):
    """No dispatch with that id exists for this user."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(CovalentNBError, ValueError):
    """The config file or a config value is malformed; the message names which and how to fix it."""


class ServerProcessError(CovalentNBError):
    """The dispatcher server process could not be started, found or stopped."""
