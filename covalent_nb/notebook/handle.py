"""``DispatchHandle``: a dispatch in a notebook, displayed as the live result widget.

The ``%%covalent`` magic returns one (and stores it with ``-o VAR``); it asks
the dispatcher for fresh state on every use and displays as the widget of
:mod:`covalent_nb.notebook.widget` (text when ipywidgets is missing), whose
output is brought up to date when a running dispatch ends.
"""

from __future__ import annotations

import threading
from typing import Any

from covalent_nb._status import Status
from covalent_nb.errors import CovalentNBError
from covalent_nb.result import Result

from .node_kinds import display_status

__all__ = ["DispatchHandle", "wait_for_result"]


WAIT_SLICE = 10.0
"""Seconds one long-poll of the dispatcher lasts; an abandoned wait ends within one slice."""


def wait_for_result(dispatch_id: str, dispatcher_addr: str | None = None) -> Result:
    """The dispatch's Result once it has ended; Ctrl-C stops the waiting, not the workflow.

    The long-poll runs in a helper thread, so an interrupt lands in the
    caller's ``join`` and never leaves a half-read response on the caller's
    kept-alive connection; the helper then stops after its current poll.
    """
    outcome: dict[str, Any] = {}
    stop = threading.Event()

    def wait() -> None:
        try:
            outcome["result"] = _long_poll(dispatch_id, dispatcher_addr, stop)
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    waiter = threading.Thread(target=wait, name=f"covalent-nb wait {dispatch_id}", daemon=True)
    waiter.start()
    try:
        waiter.join()
    except BaseException:
        stop.set()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _long_poll(dispatch_id: str, dispatcher_addr: str | None, stop: threading.Event) -> Result | None:
    from covalent_nb.client.connect import connection

    conn = connection(dispatcher_addr)
    while not stop.is_set():
        view = conn.get_json(f"dispatches/{dispatch_id}/wait?timeout={WAIT_SLICE}", timeout=WAIT_SLICE + 30)
        if Status(view["status"]).is_terminal:
            return Result(view, conn)
    return None


class DispatchHandle:
    """A dispatch by id: ``.status``, ``.result()``, ``.wait()``, ``.cancel()``; displays as the widget.

    ``dispatcher_addr`` is where the dispatch lives (None: the dispatcher the
    client finds by discovery). Nothing is cached: every property asks the
    dispatcher.
    """

    def __init__(self, dispatch_id: str, dispatcher_addr: str | None = None) -> None:
        if not isinstance(dispatch_id, str) or not dispatch_id:
            raise TypeError(f"dispatch_id must be a non-empty string, not {dispatch_id!r}")
        self.dispatch_id = dispatch_id
        self.dispatcher_addr = dispatcher_addr

    @property
    def status(self) -> Status:
        """The dispatch's status now."""
        from covalent_nb.client import get_result

        answer = get_result(self.dispatch_id, dispatcher_addr=self.dispatcher_addr, status_only=True)
        return Status(answer["status"])

    def result(self, wait: bool = True) -> Result:
        """The dispatch's :class:`~covalent_nb.result.Result` (``wait=True``: once it has ended)."""
        if wait:
            return wait_for_result(self.dispatch_id, self.dispatcher_addr)
        from covalent_nb.client import get_result

        return get_result(self.dispatch_id, dispatcher_addr=self.dispatcher_addr)

    def wait(self) -> Result:
        """Block until the dispatch has ended and return its Result (Ctrl-C stops waiting only)."""
        return self.result(wait=True)

    def cancel(self) -> dict[str, Any]:
        """Cancel the dispatch; it ends CANCELLED. Returns the dispatcher's answer."""
        from covalent_nb.client import cancel

        return cancel(self.dispatch_id, dispatcher_addr=self.dispatcher_addr)

    def __repr__(self) -> str:
        try:
            state = display_status(self.status.value)
        except CovalentNBError as error:
            state = f"status unknown: {error}"
        where = f" at {self.dispatcher_addr}" if self.dispatcher_addr else ""
        return f"<DispatchHandle {self.dispatch_id}{where}: {state}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return _widget_bundle(self.dispatch_id, self.dispatcher_addr, self)

    def _ipython_display_(self) -> None:
        """Show the dispatch in IPython as the widget; shown while running, its output gets the
        final picture when the dispatch ends (see :func:`~covalent_nb.notebook.display.display_dispatch`)."""
        from IPython.display import display

        from covalent_nb.notebook.display import display_dispatch

        try:
            display_dispatch(self.dispatch_id, self.dispatcher_addr)
        except CovalentNBError as error:  # e.g. the dispatcher is not reachable now
            display({"text/plain": f"{self!r}\n(no widget: {error})"}, raw=True)


def _widget_bundle(dispatch_id: str, dispatcher_addr: str | None, shown: Any) -> dict[str, Any]:
    try:
        from covalent_nb.notebook import mime_bundle_for
    except ImportError:  # the widget modules cannot be imported here
        return {"text/plain": repr(shown)}
    try:
        return mime_bundle_for(dispatch_id, dispatcher_addr)
    except CovalentNBError as error:  # e.g. the dispatcher is not reachable now
        return {"text/plain": f"{shown!r}\n(no widget: {error})"}
