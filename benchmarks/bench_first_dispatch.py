"""The first dispatch in a fresh Jupyter server: from running the cell to its result.

For each round: start a new ``jupyter server`` with covalent-nb's extension
(its own config, data and runtime dirs, default settings), start a kernel
through the server's REST API as soon as the server answers, and run one
cell in it at once. The cell imports covalent_nb, defines a workflow of 7
trivial tasks, dispatches it and waits for its result; it times itself from
its first line to the result. Prints each round and the median.

Then, unless ``--idle-minutes 0``: one more fresh server, whose config sets
``server.cluster_idle_minutes``, runs the cell; the memory of the server and
its Dask worker processes (the kernel left out) is read while the cluster is
up and again once it has closed for idling.

    python benchmarks/bench_first_dispatch.py [--rounds 5] [--cluster-start lazy] [--idle-minutes 0.1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

CELL = '''
import time as _time
_started = _time.perf_counter()
import covalent_nb as ct

@ct.electron
def inc(x):
    return x + 1

@ct.electron
def double(x):
    return 2 * x

@ct.electron
def add(x, y):
    return x + y

@ct.lattice
def seven(x):
    a = inc(x)
    b = inc(a)
    c = double(a)
    d = add(b, c)
    e = inc(d)
    f = double(e)
    return add(f, d)

_imported = _time.perf_counter()
_dispatch_id = ct.dispatch(seven)(1)
_dispatched = _time.perf_counter()
_result = ct.get_result(_dispatch_id, wait=True)
_done = _time.perf_counter()
print("BENCH " + __import__("json").dumps({
    "cell": _done - _started, "import_and_define": _imported - _started,
    "dispatch_call": _dispatched - _imported, "dispatch_to_result": _done - _imported,
    "status": str(_result.status), "result": _result.result}))
'''
"""The timed cell: 7 tasks (``seven(1)`` is 23), plus the parameter node of its input."""


class Server:
    """A fresh Jupyter server with the extension, started by :func:`fresh_server`."""

    def __init__(self, root: Path, url: str, token: str, process: subprocess.Popen, answering: float) -> None:
        self.root, self.url, self.token, self.process = root, url, token, process
        self.answering = answering  # seconds from launch until /api/status answered

    def request(self, path: str, method: str = "GET", payload: Any = None) -> Any:
        """``METHOD {url}{path}`` with the server's token; the decoded JSON answer."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def run_first_cell(self) -> dict[str, Any]:
        """Start a kernel and run :data:`CELL` in it at once; its timings, and how long the kernel took."""
        asked = time.perf_counter()
        kernel = self.request("api/kernels", "POST", {})
        connection_file = self.root / "jupyter_runtime" / f"kernel-{kernel['id']}.json"
        ready_at, printed = _run_cell(connection_file, CELL)
        line = next((line for line in printed.splitlines() if line.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"the cell printed no timings:\n{printed}")
        timings = json.loads(line[len("BENCH "):])
        if timings["status"] != "COMPLETED" or timings["result"] != 23:
            raise RuntimeError(f"the workflow did not complete as expected: {timings}")
        timings.update(server_answering=self.answering, kernel_ready=ready_at - asked)
        return timings

    def cluster(self) -> dict[str, Any]:
        """The ``cluster`` field of the extension's health answer."""
        return self.request("covalent/api/v1/health")["cluster"]

    def memory_mb(self) -> float:
        """RSS of the server and its Dask processes, kernels left out (MB)."""
        import psutil

        server = psutil.Process(self.process.pid)
        processes = [server] + [child for child in server.children(recursive=True)
                                if "ipykernel" not in " ".join(child.cmdline())]
        return sum(process.memory_info().rss for process in processes) / 2**20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(root: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("COVALENT_NB_", "JUPYTER")) and key != "IPYTHONDIR"}
    for key, name in {"COVALENT_NB_CONFIG_DIR": "covalent_config", "COVALENT_NB_DATA_DIR": "covalent_data",
                      "JUPYTER_CONFIG_DIR": "jupyter_config", "JUPYTER_DATA_DIR": "jupyter_data",
                      "JUPYTER_RUNTIME_DIR": "jupyter_runtime", "IPYTHONDIR": "ipython"}.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        env[key] = str(root / name)
    return env


def _run_cell(connection_file: Path, code: str, timeout: float = 120.0) -> tuple[float, str]:
    """Run ``code`` in the kernel; (``time.perf_counter()`` when it was ready to execute, what it printed)."""
    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        ready = time.perf_counter()
        printed: list[str] = []

        def output(msg: dict[str, Any]) -> None:
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                printed.append("\n".join(msg["content"]["traceback"]))

        reply = client.execute_interactive(code, timeout=timeout, output_hook=output)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the cell failed:\n{''.join(printed)}")
        return ready, "".join(printed)
    finally:
        client.stop_channels()


@contextlib.contextmanager
def fresh_server(config: str = "", extra_args: tuple[str, ...] = ()) -> Iterator[Server]:
    """A new Jupyter server in its own dirs (``config``: its covalent-nb config file), stopped at the end."""
    root = Path(tempfile.mkdtemp(prefix="covalent_nb_first_"))
    env = _environment(root)
    if config:
        (root / "covalent_config" / "covalent.conf").write_text(config)
    (root / "notebooks").mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    log = root / "jupyter_server.log"
    args = [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root / 'notebooks'}", f"--IdentityProvider.token={token}",
            "--ServerApp.jpserver_extensions={'covalent_nb.jupyter_ext': True}", *extra_args]
    launched = time.perf_counter()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(args, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=root)
    try:
        server = Server(root, f"http://127.0.0.1:{port}/", token, process, 0.0)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter server did not start:\n{log.read_text(errors='replace')}")
            try:
                server.request("api/status")
                break
            except OSError:
                time.sleep(0.05)
        server.answering = time.perf_counter() - launched
        yield server
    except Exception:
        print(f"--- the server's log ({log}) ---\n{log.read_text(errors='replace')[-4000:]}", file=sys.stderr)
        raise
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def measure_idle_release(minutes: float) -> None:
    """Memory with the cluster up, then once it has closed for idling (``minutes``)."""
    with fresh_server(f"[server]\ncluster_idle_minutes = {minutes}\n") as server:
        server.run_first_cell()
        ran = time.monotonic()
        up = server.memory_mb()
        while server.cluster()["state"] != "stopped":
            if time.monotonic() - ran > minutes * 60 + 120:
                raise RuntimeError(f"the cluster did not close for idling: {server.cluster()}")
            time.sleep(0.1)
        closed_after = time.monotonic() - ran
        time.sleep(1.0)
        print(f"idle release (cluster_idle_minutes = {minutes}): server and Dask processes {up:.0f} MB "
              f"with the cluster up, {server.memory_mb():.0f} MB once it closed, {closed_after:.1f} s "
              "after the cell's result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="fresh Jupyter servers to time (default 5)")
    parser.add_argument("--cluster-start", choices=["eager", "lazy"],
                        help="server.cluster_start in each fresh server's config file (default: not set)")
    parser.add_argument("--idle-minutes", type=float, default=0.1,
                        help="cluster_idle_minutes for the memory measurement (0: skip it; default 0.1)")
    parser.add_argument("--arg", action="append", default=[],
                        help="an extra option for jupyter server, e.g. --arg=--CovalentNB.workers=1")
    opts = parser.parse_args()
    config = f'[server]\ncluster_start = "{opts.cluster_start}"\n' if opts.cluster_start else ""
    rounds = []
    for number in range(1, opts.rounds + 1):
        with fresh_server(config, tuple(opts.arg)) as server:
            timings = server.run_first_cell()
        rounds.append(timings)
        print(f"round {number}: cell {timings['cell']:.2f} s (import and define "
              f"{timings['import_and_define']:.2f} s, dispatch() {timings['dispatch_call']:.2f} s, "
              f"dispatch to result {timings['dispatch_to_result']:.2f} s); "
              f"server answered {timings['server_answering']:.2f} s after its launch, the kernel was ready "
              f"{timings['kernel_ready']:.2f} s after that", flush=True)
    cells = [r["cell"] for r in rounds]
    print(f"\nfirst cell in a fresh Jupyter server, 7 trivial tasks, median of {len(rounds)}: "
          f"{statistics.median(cells):.2f} s (min {min(cells):.2f} s, max {max(cells):.2f} s)", flush=True)
    if opts.idle_minutes > 0:
        measure_idle_release(opts.idle_minutes)


if __name__ == "__main__":
    main()
