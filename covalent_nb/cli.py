"""The ``covalent-nb`` command: run, start, stop and inspect the dispatcher server.

Verbs follow Covalent's CLI: ``serve`` (foreground), ``start``, ``stop``,
``restart``, ``status``, ``logs``, ``purge``, plus ``executors``, which lists
the executors the running server offers, ``gc``, which removes payloads no
dispatch uses, ``demo``, which runs an example workflow end to end, and
``ui``, which opens the server's web UI in the browser, logged in.
Exit codes: 0 success, 1 failure, 2 bad usage, 3 ``status`` found no server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from covalent_nb import _config, _server_process
from covalent_nb._suggest import did_you_mean
from covalent_nb.errors import CovalentNBError, ServerProcessError

if TYPE_CHECKING:
    from covalent_nb.client.http import DispatcherConnection

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_NOT_RUNNING = 0, 1, 3
_NAME = "covalent-nb dispatcher"


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535), e.g. 48008")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0 (0: one per core)")
    return int(text)


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes >= 0, e.g. 60 or 0.5")
    return value


def _err(message: str) -> None:
    print(f"covalent-nb: {message}", file=sys.stderr)


# ---------------------------------------------------------------- options


def _server_options(args: argparse.Namespace) -> tuple[str, int, int]:
    """``(address, port, workers)``: command-line options win over the config file."""
    config_host, config_port = _config.dispatcher_address()
    host, port = config_host, config_port
    if getattr(args, "address", None):
        host, port = _config.parse_address(args.address, default_port=config_port)
    if getattr(args, "port", None):
        port = args.port
    workers = getattr(args, "workers", None)
    if workers is None:
        workers = int(_config.get_config("server.workers"))
    return host, port, workers


def _start(args: argparse.Namespace) -> int:
    address, port, workers = _server_options(args)
    server, started = _server_process.start_server(
        address, port, workers=workers, cluster=not getattr(args, "no_cluster", False)
    )
    if not started:
        print(f"{_NAME} is already running at {server.url or '(address unknown)'} (pid {server.pid})")
        if getattr(args, "port", None) and server.url and not server.url.endswith(f":{port}"):
            print(f"it is not on port {port}: use `covalent-nb restart --port {port}` to move it")
        if server.url:
            print(f"web UI: {server.url.rstrip('/')}/ui/ (`covalent-nb ui` opens it logged in)")
        return EXIT_OK
    print(f"{_NAME} running at {server.url} (pid {server.pid})")
    link = _ui_link(server.url, _config.server_state_paths()) if server.url else None
    if link:
        print(f"web UI: {link}\n  (a one-time login link, for {_LINK_MINUTES} minutes; `covalent-nb ui` opens a new one)")
    return EXIT_OK


_LINK_MINUTES = 10
"""How long a one-time login link works (the server's sessions.CODE_SECONDS)."""


def _ui_link(url: str, paths: _config.ServerStatePaths) -> str | None:
    """A one-time login link to the web UI of the server at ``url`` (None when the server gives none)."""
    try:
        answer = _connect(url, paths, timeout=30).post_json("login-codes", {})
    except CovalentNBError:
        return None
    return f"{url.rstrip('/')}/{answer['path']}"


# ---------------------------------------------------------------- verbs


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server in the foreground until SIGTERM or SIGINT."""
    address, port, workers = _server_options(args)
    try:
        from covalent_nb.server.app import serve
    except ImportError as exc:
        raise ServerProcessError(
            f"cannot load the dispatcher server (covalent_nb.server.app): {exc}; "
            "reinstall covalent-nb (pip install -e .)"
        ) from exc
    code = serve(address=address, port=port, workers=workers, cluster=not args.no_cluster)
    return code if isinstance(code, int) else EXIT_OK


def cmd_start(args: argparse.Namespace) -> int:
    """Start the server in the background and wait until it answers."""
    return _start(args)


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop the background server."""
    server = _server_process.running_server()
    if server is None:
        stale = _server_process.remove_stale_state()
        print(f"{_NAME} is not running" + (" (removed a stale pid file)" if stale else ""))
        return EXIT_OK
    _server_process.stop_server(server, timeout=args.timeout)
    print(f"stopped {_NAME} (pid {server.pid})")
    return EXIT_OK


def cmd_restart(args: argparse.Namespace) -> int:
    """Stop the server, then start it again (on its previous address unless told otherwise)."""
    server = _server_process.running_server()
    if server is not None:
        if server.address and server.port and not args.address and not args.port:
            args.address, args.port = server.address, server.port
        _server_process.stop_server(server, timeout=args.timeout)
        print(f"stopped {_NAME} (pid {server.pid})")
    return _start(args)


def cmd_status(args: argparse.Namespace) -> int:
    """Say whether the server runs, where, and whether it answers /health."""
    paths = _config.server_state_paths()
    server = _server_process.running_server(paths)
    if server is None:
        print(f"{_NAME} is not running (start it with `covalent-nb start`)")
        return EXIT_NOT_RUNNING
    if server.url is None:
        print(f"{_NAME} is running (pid {server.pid}) but has not written {paths.info_file} yet")
        return EXIT_OK
    print(f"{_NAME} running at {server.url} (pid {server.pid})")
    token = _server_process.read_server_token(paths) or _config.client_token()
    status = _server_process.health_status(server.url, token)
    if status == 200:
        print("health: ok")
    else:
        answer = f"HTTP {status}" if status else "no connection"
        print(f"health: {server.url}{_server_process.HEALTH_PATH} does not answer ok ({answer}); "
              "see `covalent-nb logs`")
    return EXIT_OK


def cmd_executors(args: argparse.Namespace) -> int:
    """List the executors the running server offers and their settings (secrets masked)."""
    paths = _config.server_state_paths()
    server = _server_process.running_server(paths)
    if server is None:
        _err(f"executors: no {_NAME} is running here (data dir {paths.root}); "
             "start one with `covalent-nb start`")
        return EXIT_FAILED
    url = _server_url(server, paths)
    listing = _connect(url, paths, timeout=30).get_json("executors")
    if args.json:
        print(json.dumps(listing, indent=2))
        return EXIT_OK
    print(f"executors of the {_NAME} at {url} (default: {listing['default']})")
    for entry in listing["executors"]:
        print(_executor_heading(entry, listing["default"]))
        for setting, value in entry.get("settings", {}).items():
            shown = "(required, not set)" if setting in entry.get("missing", ()) else json.dumps(value)
            print(f"    {setting} = {shown}")
    return EXIT_OK


def _server_url(server: _server_process.RunningServer, paths: _config.ServerStatePaths) -> str:
    """The URL of the running ``server``; ServerProcessError while it has not written its info file yet."""
    if server.url is None:
        raise ServerProcessError(f"the {_NAME} (pid {server.pid}) has not written {paths.info_file} yet; try again")
    return server.url


def _connect(url: str, paths: _config.ServerStatePaths, timeout: float) -> DispatcherConnection:
    """A client of the dispatcher this data directory's server runs at ``url``, with its token."""
    from covalent_nb.client.http import DispatcherConnection

    parts = urllib.parse.urlsplit(url)
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(parts.hostname or "", parts.hostname or "")
    token = _server_process.read_server_token(paths) or _config.client_token()
    return DispatcherConnection(host, parts.port or 80, token, timeout=timeout)


def cmd_gc(args: argparse.Namespace) -> int:
    """Remove stored payloads no dispatch uses and leftover temporary files (the running server does it,
    else this command)."""
    paths = _config.server_state_paths()
    grace = args.grace_minutes * 60
    server = _server_process.running_server(paths)
    if server is not None:
        url = _server_url(server, paths)
        answer = _connect(url, paths, timeout=600).post_json("gc", {"grace_seconds": grace})
        where = f"by the {_NAME} at {url}"
    elif not paths.root.is_dir():
        print(f"nothing to collect: {paths.root} does not exist")
        return EXIT_OK
    else:
        from covalent_nb.server.cleanup import collect_garbage_offline
        from covalent_nb.server.data_lock import DataDirBusy

        try:
            answer = collect_garbage_offline(paths.root, grace)
        except DataDirBusy as exc:
            _err(f"gc: {exc}; or ask that dispatcher (POST api/v1/gc)")
            return EXIT_FAILED
        where = f"in {paths.root} (no {_NAME} runs)"
    print(f"removed {answer['payloads_removed']} payload(s) no dispatch uses "
          f"({answer['bytes_freed']} bytes, stored more than {args.grace_minutes:g} minute(s) ago) and "
          f"{answer['temp_files_removed']} temporary file(s), {where}")
    return EXIT_OK


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the running server's web UI in the browser, logged in (a one-time login link)."""
    paths = _config.server_state_paths()
    server = _server_process.running_server(paths)
    if server is None:
        _err(f"ui: {_NAME} is not running; start it with `covalent-nb start`")
        return EXIT_NOT_RUNNING
    url = _server_url(server, paths)
    link = _ui_link(url, paths)
    if link is None:
        _err(f"ui: the {_NAME} at {url} gave no login link (is it an older version?); open "
             f"{url.rstrip('/')}/ui/ and log in with the token in {paths.token_file}")
        return EXIT_FAILED
    print(f"web UI: {link}")
    if args.no_browser:
        print(f"  (a one-time login link, for {_LINK_MINUTES} minutes)")
        return EXIT_OK
    import webbrowser

    if not webbrowser.open(link):
        print(f"no browser could be opened here: open the link above in yours (it works once, for "
              f"{_LINK_MINUTES} minutes)")
    return EXIT_OK


def _executor_heading(entry: dict, default: str) -> str:
    notes = []
    if entry["name"] == default:
        notes.append("default")
    if not entry.get("installed", True):
        notes.append("configured but not installed on the server")
    elif entry.get("configured"):
        notes.append("set in the server's config")
    if entry.get("installed", True) and entry.get("missing"):
        notes.append(f"electrons must give {', '.join(entry['missing'])}")
    return entry["name"] + (f" ({'; '.join(notes)})" if notes else "")


def cmd_logs(args: argparse.Namespace) -> int:
    """Print the end of the server log."""
    log_file = _config.server_state_paths().log_file
    if not log_file.is_file():
        _err(f"no server log at {log_file} yet; it is written by `covalent-nb start`")
        return EXIT_FAILED
    for line in _server_process.log_tail(log_file, args.lines):
        print(line)
    return EXIT_OK


def _confirm_purge(paths: _config.ServerStatePaths) -> bool:
    if not sys.stdin.isatty():
        _err(f"refusing to purge {paths.root} and the config file without confirmation "
             "(stdin is not a terminal); pass --yes to purge")
        return False
    question = (f"Delete all covalent-nb server state in {paths.root} (results, blobs, logs, token) "
                f"and the config file {_config.config_path()}? [y/N] ")
    if input(question).strip().lower() in ("y", "yes"):
        return True
    _err("purge cancelled; nothing was deleted")
    return False


def cmd_purge(args: argparse.Namespace) -> int:
    """Stop the server and delete its data directory and the config file."""
    paths = _config.server_state_paths()
    config_file = _config.config_path()
    if not paths.root.exists() and not config_file.exists():
        print(f"nothing to purge: neither {paths.root} nor {config_file} exists")
        return EXIT_OK
    if not args.yes and not _confirm_purge(paths):
        return EXIT_FAILED
    server = _server_process.running_server(paths)
    if server is not None:
        _server_process.stop_server(server)
        print(f"stopped {_NAME} (pid {server.pid})")
    deleted = _server_process.delete_server_state(paths)
    config_file.unlink(missing_ok=True)
    print(f"purged {paths.root} ({len(deleted)} entries) and {config_file}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the example workflow, starting (and afterwards stopping) a server if none runs."""
    server = _server_process.running_server()
    started_now = False
    if server is None:
        address, port, workers = _server_options(args)
        print(f"starting {_NAME} on {address}:{port} for the demo ...")
        server, started_now = _server_process.start_server(address, port, workers=workers)
    try:  # from here on, the server this demo started stops even if printing fails
        if started_now:
            print(f"{_NAME} running at {server.url} (pid {server.pid})")
        from covalent_nb import demo

        ok = demo.run(dispatcher_addr=server.host_port)
    finally:
        if started_now and not args.keep_server:
            _server_process.stop_server(server)
            print(f"stopped {_NAME} (pid {server.pid}); pass --keep-server to keep it running")
    return EXIT_OK if ok else EXIT_FAILED


# ---------------------------------------------------------------- parser


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", help="address to listen on (default: dispatcher.address)")
    parser.add_argument("-p", "--port", type=_port, help="port to listen on (default: dispatcher.port)")
    parser.add_argument("-n", "--workers", type=_count,
                        help="local Dask worker processes (default: server.workers; 0: one per core)")
    parser.add_argument("--no-cluster", action="store_true",
                        help="start no local Dask cluster (use dask.scheduler_address or explicit executors)")


def _add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds to wait after SIGTERM before SIGKILL (default 20)")


def _add_verb(
    subparsers: argparse._SubParsersAction, name: str, handler: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=handler.__doc__, description=handler.__doc__)
    parser.set_defaults(handler=handler)
    return parser


class _Parser(argparse.ArgumentParser):
    """An argument parser whose answer to a choice it does not have names the close one ("did you mean")."""

    def _check_value(self, action: argparse.Action, value: object) -> None:
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as error:
            suggestion = did_you_mean(str(value), [str(choice) for choice in action.choices or ()])
            if suggestion:
                error.message += f"; {suggestion}"
            raise


def build_parser() -> argparse.ArgumentParser:
    """The ``covalent-nb`` argument parser with one sub-command per verb."""
    parser = _Parser(
        prog="covalent-nb", description="Run and manage the covalent-nb dispatcher server.",
        epilog="Config: COVALENT_NB_CONFIG_DIR; server state: COVALENT_NB_DATA_DIR.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbs = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_server_options(_add_verb(verbs, "serve", cmd_serve))
    _add_server_options(_add_verb(verbs, "start", cmd_start))
    _add_timeout(_add_verb(verbs, "stop", cmd_stop))
    restart = _add_verb(verbs, "restart", cmd_restart)
    _add_server_options(restart)
    _add_timeout(restart)
    _add_verb(verbs, "status", cmd_status)
    executors = _add_verb(verbs, "executors", cmd_executors)
    executors.add_argument("--json", action="store_true", help="print the server's answer as JSON")
    logs = _add_verb(verbs, "logs", cmd_logs)
    logs.add_argument("-n", "--lines", type=_count, default=50, help="how many lines (default 50)")
    gc = _add_verb(verbs, "gc", cmd_gc)
    gc.add_argument("--grace-minutes", type=_minutes, default=60.0,
                    help="keep payloads stored less than this long ago: their dispatch may be on its way "
                         "(default 60)")
    purge = _add_verb(verbs, "purge", cmd_purge)
    purge.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    demo = _add_verb(verbs, "demo", cmd_demo)
    demo.add_argument("--keep-server", action="store_true", help="leave the server running afterwards")
    demo.add_argument("-p", "--port", type=_port, help="port for a server the demo starts (default 48008)")
    ui = _add_verb(verbs, "ui", cmd_ui)
    ui.add_argument("--no-browser", action="store_true", help="print the login link instead of opening it")
    return parser


def _version() -> str:
    from covalent_nb import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``covalent-nb`` command line; returns the exit code.

    When the reader of standard output goes away (``covalent-nb logs | head``),
    the command stops writing and exits with 1, without a traceback (the way
    the Python documentation's "Note on SIGPIPE" does it).
    """
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # output still buffered fails here, not at interpreter exit
    except BrokenPipeError:
        # Python flushes stdout once more at exit: send what is left to /dev/null instead
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args)
    except CovalentNBError as exc:
        _err(f"{args.command}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err(f"{args.command}: interrupted")
        return 130
