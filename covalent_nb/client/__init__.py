"""The plain-Python client of the dispatcher API."""

from .api import cancel, delete, dispatch, dispatch_sync, get_result, redispatch

__all__ = ["cancel", "delete", "dispatch", "dispatch_sync", "get_result", "redispatch"]
