"""Covalent's dispatch functions: dispatch, dispatch_sync, get_result, cancel, redispatch; and delete."""

from __future__ import annotations

import base64
import uuid
import warnings
from typing import Any, Callable

from covalent_nb._status import TERMINAL, Status
from covalent_nb._suggest import choices_hint
from covalent_nb.notebook.node_kinds import is_user_task
from covalent_nb.result import Result

from .connect import connection
from .http import IDEMPOTENCY_HEADER, DispatcherConnection

__all__ = ["dispatch", "dispatch_sync", "get_result", "cancel", "delete", "redispatch"]

INLINE_LIMIT = 256 * 1024
_WAIT_SLICE = 55.0


def _submit(conn: DispatcherConnection, manifest: dict[str, Any], blobs: dict[str, bytes]) -> str:
    """Send the workflow; warn at once of what the dispatcher warned of (e.g. an unknown executor)."""
    inline = {}
    for key, data in blobs.items():
        if len(data) <= INLINE_LIMIT:
            inline[key] = base64.b64encode(data).decode()
        else:
            conn.put_blob(key, data)
    manifest["blobs"] = inline
    # A new key per dispatch: a retry of this request (its answer lost) returns the same dispatch.
    answer = conn.post_json("dispatches", manifest, headers={IDEMPOTENCY_HEADER: str(uuid.uuid4())})
    for warning in answer.get("warnings") or []:
        message = warning.get("message") if isinstance(warning, dict) else warning
        if isinstance(message, str) and message:
            # stacklevel 3: the line that called dispatch(...)(...) (1 is _submit, 2 is submit)
            warnings.warn(f"dispatch {answer['dispatch_id']}: {message}", UserWarning, stacklevel=3)
    return answer["dispatch_id"]


def _build(lattice: Any, args: tuple, kwargs: dict, replace_electrons: dict | None = None) -> tuple[dict, dict]:
    from covalent_nb.workflow import Lattice, build_manifest

    if not isinstance(lattice, Lattice):
        raise TypeError(f"dispatch takes a lattice (a function decorated with @ct.lattice), "
                        f"not {type(lattice).__name__}")
    if replace_electrons:
        return build_manifest(lattice, args, kwargs, replace_electrons=replace_electrons)
    return build_manifest(lattice, args, kwargs)


def dispatch(lattice: Any, dispatcher_addr: str | None = None) -> Callable[..., str]:
    """``dispatch(lattice)(*args, **kwargs)`` stores the workflow on the dispatcher and
    returns its dispatch id once it is durable.

    A task naming an executor the dispatcher does not offer is a ``UserWarning``
    at once (naming the executor, the task and the close names); the dispatch
    runs, that task fails when it would start, and the dispatch ends FAILED.
    """
    def submit(*args: Any, **kwargs: Any) -> str:
        manifest, blobs = _build(lattice, args, kwargs)
        return _submit(connection(dispatcher_addr), manifest, blobs)
    return submit


def dispatch_sync(lattice: Any, dispatcher_addr: str | None = None) -> Callable[..., Result]:
    """Like :func:`dispatch`, then wait for the Result."""
    def submit(*args: Any, **kwargs: Any) -> Result:
        dispatch_id = dispatch(lattice, dispatcher_addr)(*args, **kwargs)
        return get_result(dispatch_id, wait=True, dispatcher_addr=dispatcher_addr)
    return submit


def get_result(dispatch_id: str, wait: bool = False, dispatcher_addr: str | None = None,
               status_only: bool = False) -> Result | dict[str, Any]:
    """The Result of a dispatch (``wait=True``: once it has ended).

    ``status_only=True`` returns ``{"id": ..., "status": ...}``. An unknown id
    raises :class:`~covalent_nb.errors.DispatchNotFoundError`.
    """
    if not isinstance(dispatch_id, str) or not dispatch_id:
        raise TypeError(f"dispatch_id must be a non-empty string, not {dispatch_id!r}")
    conn = connection(dispatcher_addr)
    if status_only and not wait:
        return conn.get_json(f"dispatches/{dispatch_id}?status_only=1")
    if not wait:
        return Result(conn.get_json(f"dispatches/{dispatch_id}?inline_output=1"), conn)
    while True:  # long-poll: the server answers as soon as the dispatch ends
        view = conn.get_json(f"dispatches/{dispatch_id}/wait?timeout={_WAIT_SLICE}",
                             timeout=_WAIT_SLICE + 30)
        if Status(view["status"]) in TERMINAL:
            break
    if status_only:
        return {"id": dispatch_id, "status": view["status"]}
    return Result(view, conn)


def cancel(dispatch_id: str, task_ids: int | list[int] | None = None,
           dispatcher_addr: str | None = None) -> dict[str, Any]:
    """Cancel a dispatch, or only some of its tasks; the dispatch ends CANCELLED."""
    if isinstance(task_ids, int):
        task_ids = [task_ids]
    return connection(dispatcher_addr).post_json(f"dispatches/{dispatch_id}/cancel", {"task_ids": task_ids})


def delete(dispatch_id: str, dispatcher_addr: str | None = None) -> dict[str, Any]:
    """Delete a finished dispatch: its records, its sublattices' and the payloads no other dispatch uses.

    Returns ``{"dispatch_id", "deleted": [ids], "payloads_removed", "bytes_freed"}``.
    A running dispatch is refused (cancel it first); an unknown id raises
    :class:`~covalent_nb.errors.DispatchNotFoundError`.
    """
    if not isinstance(dispatch_id, str) or not dispatch_id:
        raise TypeError(f"dispatch_id must be a non-empty string, not {dispatch_id!r}")
    return connection(dispatcher_addr).delete_json(f"dispatches/{dispatch_id}")


def redispatch(dispatch_id: str, replace_electrons: dict[str, Any] | None = None,
               reuse_previous_results: bool = False,
               dispatcher_addr: str | None = None) -> Callable[..., str]:
    """Run a stored workflow again: ``redispatch(id, ...)(*new_args, **new_kwargs)``.

    Without new arguments the previous inputs are used. ``replace_electrons``
    maps electron (function) names to replacements. With
    ``reuse_previous_results`` completed tasks whose function and inputs are
    unchanged are not run again.
    """
    def submit(*args: Any, **kwargs: Any) -> str:
        conn = connection(dispatcher_addr)
        previous = Result(conn.get_json(f"dispatches/{dispatch_id}"), conn)
        if not args and not kwargs:
            args, kwargs = previous.input_args, previous.input_kwargs
        _warn_of_unknown_replacements(previous, replace_electrons or {})
        manifest, blobs = _build(previous.lattice, tuple(args), dict(kwargs), replace_electrons)
        manifest["redispatch_of"] = dispatch_id
        manifest["reuse_previous_results"] = bool(reuse_previous_results)
        return _submit(conn, manifest, blobs)
    return submit


def _warn_of_unknown_replacements(previous: Result, replace_electrons: dict[str, Any]) -> None:
    """Warn of names in ``replace_electrons`` that the previous dispatch called no electron by.

    A warning, not an error: with other inputs the workflow may call an electron it did not call before.
    """
    called = list(dict.fromkeys(node["name"] for node in previous._view["nodes"]
                                if is_user_task(node["kind"])))
    for name in replace_electrons:
        if isinstance(name, str) and name not in called:
            # stacklevel 3: the line that called redispatch(...)(...) (1 is this function, 2 is submit)
            warnings.warn(f"redispatch of {previous.dispatch_id}: replace_electrons names {name!r}, which that "
                          f"dispatch called no electron by; it is replaced only if the workflow calls it; "
                          f"{choices_hint(name, called, 'its electrons')}", UserWarning, stacklevel=3)
