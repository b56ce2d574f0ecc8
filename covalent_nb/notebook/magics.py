"""The IPython magics: ``%%covalent`` runs a cell as a workflow, ``%covalent`` manages dispatches.

Registered by ``%load_ext covalent_nb`` (see :func:`load_ipython_extension`).
"""

from __future__ import annotations

import datetime as _dt
import os
import urllib.parse
from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from covalent_nb._status import Status
from covalent_nb._suggest import choices_hint
from covalent_nb.errors import (CovalentNBError, DispatcherError, DispatchNotFoundError,
                                GraphBuildError, SerializationError)
from covalent_nb.notebook.cell_lattice import LAST_KEY, CellError, CellLattice, lattice_from_cell
from covalent_nb.notebook.handle import DispatchHandle, wait_for_result
from covalent_nb.notebook.node_kinds import display_status
from covalent_nb.result import Result
from covalent_nb.workflow.builder import CallSignatureError

__all__ = ["CellBuildError", "CellDispatchError", "CellWorkflowError", "CovalentMagicError",
           "CovalentMagics", "load_ipython_extension"]

SUBCOMMANDS = ("list", "show", "cancel", "delete", "status", "config", "ui")
_SECRET_WORDS = ("token", "secret", "password", "key")


class CellBuildError(CellError, GraphBuildError):
    """The cell's graph could not be built (or pickled); nothing was dispatched."""


class CellDispatchError(CellError):
    """The dispatcher refused the cell's dispatch or could not be reached."""


class CellWorkflowError(CellError):
    """The cell's workflow ended FAILED or CANCELLED; the message names the failed tasks."""

    def __init__(self, message: str, result: Result) -> None:
        super().__init__(message)
        self.result = result


class CovalentMagicError(CellError):
    """A ``%covalent`` subcommand could not do what was asked."""


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%covalent`` and ``%covalent`` with an IPython shell (``%load_ext covalent_nb``)."""
    ipython.register_magics(CovalentMagics)


@magics_class
class CovalentMagics(Magics):
    """``%%covalent`` (a cell as a workflow) and ``%covalent`` (list, show, cancel, delete, status, config, ui)."""

    @magic_arguments.magic_arguments("%covalent")  # shown as %%covalent
    @magic_arguments.argument("--executor", metavar="NAME",
                              help="default executor of the cell's electrons (those without their own)")
    @magic_arguments.argument("--name", metavar="NAME", default="covalent_cell",
                              help="the workflow's name (default: covalent_cell)")
    @magic_arguments.argument("--wait", action="store_true",
                              help="wait until done, then put the names the cell assigns into the "
                                   "notebook and show the last expression's value")
    @magic_arguments.argument("-o", dest="output", metavar="VAR",
                              help="store a handle to the dispatch in the notebook variable VAR")
    @magic_arguments.argument("--addr", metavar="HOST:PORT",
                              help="the dispatcher to use (default: the one the client finds)")
    @cell_magic("covalent")
    def covalent_cell(self, line: str, cell: str) -> Any:
        """Run the cell as a workflow: its electron calls are the tasks, notebook data its inputs.

        Without --wait the cell returns at once with a handle, shown as a live
        widget. A cell with a syntax error, or whose graph cannot be built,
        dispatches nothing.
        """
        args = magic_arguments.parse_argstring(self.covalent_cell, line)
        if args.output is not None and not args.output.isidentifier():
            raise UsageError(f"-o takes a variable name, not {args.output!r}")
        compiled = lattice_from_cell(cell, self.shell.user_ns, name=args.name, executor=args.executor)
        handle = DispatchHandle(_dispatch(compiled, args.addr), args.addr)
        if args.output:
            self.shell.user_ns[args.output] = handle
        if not args.wait:
            return handle
        try:
            result = wait_for_result(handle.dispatch_id, handle.dispatcher_addr)
        except KeyboardInterrupt:
            print(_still_running(handle))
            return handle
        if result.status != Status.COMPLETED:
            display(handle)
            raise CellWorkflowError(_failure_message(result, args.output), result)
        values = {**compiled.definitions, **result.result}
        last = values.pop(LAST_KEY, None)
        self.shell.user_ns.update(values)
        return None if cell.rstrip().endswith(";") else last

    @magic_arguments.magic_arguments("covalent")
    @magic_arguments.argument("subcommand", nargs="?", metavar="SUBCOMMAND",
                              help="list | show ID | cancel ID | delete ID | status | config | ui [ID]")
    @magic_arguments.argument("dispatch_id", nargs="?", metavar="ID",
                              help="a dispatch id (show, cancel, delete; ui: its page)")
    @magic_arguments.argument("-n", dest="limit", type=int, default=20, metavar="N",
                              help="list: how many dispatches (default 20)")
    @magic_arguments.argument("--addr", metavar="HOST:PORT",
                              help="the dispatcher to use (default: the one the client finds)")
    @line_magic("covalent")
    def covalent_line(self, line: str) -> Any:
        """Manage dispatches: list (newest first), show ID (the widget), cancel ID, delete ID (a finished
        one, with the payloads only it used), status, config, ui [ID] (a link to the web UI, or to the
        dispatch's page there)."""
        args = magic_arguments.parse_argstring(self.covalent_line, line)
        if args.subcommand not in SUBCOMMANDS:
            said = f"unknown subcommand {args.subcommand!r}" if args.subcommand else "a subcommand is needed"
            raise UsageError(f"%covalent: {said}; {choices_hint(args.subcommand or '', SUBCOMMANDS, 'use one of')}\n"
                             f"{self.covalent_line.parser.format_usage()}")
        if args.subcommand in ("show", "cancel", "delete") and not args.dispatch_id:
            raise UsageError(f"%covalent {args.subcommand} needs a dispatch id: %covalent {args.subcommand} ID")
        try:
            return getattr(self, f"_{args.subcommand}")(args)
        except CellError:
            raise
        except CovalentNBError as error:
            raise CovalentMagicError(f"%covalent {args.subcommand}: {error}") from error

    # ---- line magic subcommands ------------------------------------------------------

    def _list(self, args: Any) -> None:
        from covalent_nb.client.connect import connection

        limit = max(1, args.limit)
        conn = connection(args.addr)
        dispatches: list[dict[str, Any]] = []
        cursor = None
        while len(dispatches) < limit:  # the server answers a page of at most 1000; its 'next' asks for more
            query = f"dispatches?limit={limit - len(dispatches)}"
            page = conn.get_json(query + (f"&before={urllib.parse.quote(cursor)}" if cursor else ""))
            dispatches += page["dispatches"]
            cursor = page.get("next")
            if not cursor:
                break
        if not dispatches:
            print("No dispatches yet.")
            return
        rows = [(d["id"], d["name"], display_status(d["status"]), _progress(d),
                 _local_time(d["start_time"] or d["created"])) for d in dispatches]
        print(_table(("ID", "NAME", "STATUS", "PROGRESS", "STARTED"), rows))

    def _show(self, args: Any) -> Any:
        _check_known(args.dispatch_id, args.addr, "show")
        try:
            from covalent_nb.notebook import show_dispatch
        except ImportError:  # no ipywidgets: the handle shows as text
            return DispatchHandle(args.dispatch_id, args.addr)
        return show_dispatch(args.dispatch_id, args.addr)

    def _cancel(self, args: Any) -> None:
        from covalent_nb.client import cancel

        _check_known(args.dispatch_id, args.addr, "cancel")
        answer = cancel(args.dispatch_id, dispatcher_addr=args.addr)
        cancelled = answer.get("cancelled") or []
        print(f"Dispatch {args.dispatch_id}: {answer.get('status')} "
              f"({len(cancelled)} unfinished task(s) cancelled).")

    def _delete(self, args: Any) -> None:
        from covalent_nb.client import delete

        _check_known(args.dispatch_id, args.addr, "delete")
        answer = delete(args.dispatch_id, dispatcher_addr=args.addr)
        others = len(answer.get("deleted") or []) - 1
        subs = f" and {others} sublattice dispatch(es)" if others > 0 else ""
        print(f"Deleted dispatch {args.dispatch_id}{subs}; {answer.get('payloads_removed', 0)} payload(s) "
              f"no other dispatch used were removed ({_size(answer.get('bytes_freed', 0))}).")

    def _ui(self, args: Any) -> None:
        from covalent_nb.client.discovery import locate_dispatcher
        from covalent_nb.notebook.ui_links import ui_link_html, ui_url

        if args.dispatch_id:
            _check_known(args.dispatch_id, args.addr, "ui")
        url = locate_dispatcher(args.addr).url
        what = f"Dispatch {args.dispatch_id}" if args.dispatch_id else "Your dispatches"
        display({"text/plain": f"{what}: {ui_url(url, args.dispatch_id)}",
                 "text/html": f"{what}: {ui_link_html(url, args.dispatch_id)}"}, raw=True)

    def _status(self, args: Any) -> None:
        from covalent_nb.client.connect import connection
        from covalent_nb.client.discovery import locate_dispatcher

        where = locate_dispatcher(args.addr)
        print(f"Dispatcher: {where.url}\nFound via:  {where.source}\nToken:      {_masked(where.token)}")
        try:
            health = connection(args.addr).get_json("health", timeout=10)
        except CovalentNBError as error:
            print(f"Reachable:  no ({error})")
        else:
            print(f"Reachable:  yes (covalent-nb {health.get('version', '?')})")

    def _config(self, args: Any) -> None:
        from covalent_nb import _config
        from covalent_nb.client.discovery import (EXTENSION_TOKEN_ENV, EXTENSION_URL_ENV, HUB_URL_ENV,
                                                  locate_dispatcher)

        path = _config.config_path()
        print(f"Config file: {path}{'' if path.exists() else ' (not there: defaults)'}")
        for section, values in _config.get_config().items():
            print(f"[{section}]")
            for key, value in _flat(values):
                print(f"  {key} = {_masked(value) if _is_secret(key) else repr(value)}")
        for name in (EXTENSION_URL_ENV, EXTENSION_TOKEN_ENV, HUB_URL_ENV, _config.TOKEN_ENV):
            if os.environ.get(name):
                shown = _masked(os.environ[name]) if _is_secret(name) else os.environ[name]
                print(f"Environment: {name}={shown}")
        where = locate_dispatcher(args.addr)
        print(f"Dispatcher: {where.url} (found via {where.source}; token {_masked(where.token)})")


# ---- helpers -------------------------------------------------------------------------------


def _dispatch(compiled: CellLattice, dispatcher_addr: str | None) -> str:
    """Build the cell's graph and dispatch it; errors say what went wrong and that nothing ran."""
    from covalent_nb.client import dispatch

    name = compiled.lattice.__name__
    try:
        return dispatch(compiled.lattice, dispatcher_addr=dispatcher_addr)(**compiled.kwargs)
    except (GraphBuildError, SerializationError, CallSignatureError) as error:
        raise CellBuildError(_build_failure(compiled, error)) from error
    except DispatcherError as error:
        raise CellDispatchError(f"%%covalent cell {name!r} could not be dispatched: {error}") from error


def _check_known(dispatch_id: str, dispatcher_addr: str | None, subcommand: str) -> None:
    from covalent_nb.client import get_result
    from covalent_nb.client.connect import connection

    try:
        get_result(dispatch_id, dispatcher_addr=dispatcher_addr, status_only=True)
    except DispatchNotFoundError:
        raise CovalentMagicError(f"%covalent {subcommand}: the dispatcher at {connection(dispatcher_addr).url} "
                                 f"has no dispatch {dispatch_id!r} of yours; %covalent list shows them") from None


def _build_failure(compiled: CellLattice, error: Exception) -> str:
    cause = error.__cause__ if isinstance(error, GraphBuildError) and error.__cause__ else error
    what = f"{type(cause).__name__}: {cause}" if cause is not error else str(error)
    line = compiled.error_line(error)
    where = f", line {line}" if line else ""
    message = f"building the graph of %%covalent cell {compiled.lattice.__name__!r} failed{where}: {what}"
    source_lines = compiled.lattice.source.splitlines()
    if line and 0 < line <= len(source_lines):
        message += f"\n    {source_lines[line - 1].strip()}"
    return message + "\nNothing was dispatched."


def _still_running(handle: DispatchHandle) -> str:
    dispatch_id, addr = handle.dispatch_id, handle.dispatcher_addr
    if addr:
        return (f"Still running: dispatch {dispatch_id}. Cancel it with %covalent cancel {dispatch_id} "
                f"--addr {addr} (or ct.cancel(\"{dispatch_id}\", dispatcher_addr=\"{addr}\")).")
    return (f"Still running: dispatch {dispatch_id}. Cancel it with %covalent cancel {dispatch_id} "
            f"(or ct.cancel(\"{dispatch_id}\")).")


def _failure_message(result: Result, variable: str | None) -> str:
    failed = [n for n in result.get_all_node_results() if n["status"] == Status.FAILED]
    lines = [f"dispatch {result.dispatch_id} ({result.name}) ended {result.status.value}"]
    for node in failed:
        lines.append(f"  task {node['node_name']!r} (node {node['node_id']}) failed: {_last_line(node['error'])}")
    if not failed and result.error:
        lines.append(f"  {result.error}")
    handle = variable or f'DispatchHandle("{result.dispatch_id}")'
    if failed:
        lines.append(f"Tracebacks: select the task in the widget above, or "
                     f"{handle}.result(wait=False).get_node_result({failed[0]['node_id']})['error']")
    return "\n".join(lines)


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no error message)"


def _progress(dispatch: dict[str, Any]) -> str:
    """Done/total over the user's tasks (electrons and sublattices), as the widget counts them."""
    if "task_progress" in dispatch:
        counts = dispatch["task_progress"] or {}
        total = sum(counts.values())
    else:  # a server without per-task counts: every node
        counts = dispatch.get("progress") or {}
        total = dispatch.get("node_count") or sum(counts.values())
    text = f"{counts.get(Status.COMPLETED.value, 0)}/{total}"
    failed = counts.get(Status.FAILED.value, 0)
    return f"{text} ({failed} failed)" if failed else text


def _size(n_bytes: int) -> str:
    """A byte count for people: 512 bytes, 3.2 MB."""
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    exponent = min(4, (len(str(int(n_bytes))) - 1) // 3)
    return f"{n_bytes / 1000 ** exponent:.1f} {('kB', 'MB', 'GB', 'TB')[exponent - 1]}"


def _local_time(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return _dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in (headers, *rows))


def _is_secret(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _masked(value: Any) -> str:
    return "****" if value else "(none)"


def _flat(values: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if not isinstance(values, dict):
        return [(prefix.rstrip("."), values)]
    if not values:
        return [(prefix.rstrip("."), {})] if prefix else []
    pairs: list[tuple[str, Any]] = []
    for key, value in values.items():
        pairs.extend(_flat(value, f"{prefix}{key}."))
    return pairs
