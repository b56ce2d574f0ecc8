"""Limits under load: many clients dispatching at once against one server, every result checked.

Starts a covalent-nb server through the CLI (its own config and data dirs in a
temporary directory, a free loopback port, 2 Dask worker processes) and waits
until one dispatch has run (the cluster's start is not measured). Then
``--clients`` client threads, spread over ``--processes`` client processes,
start together; each dispatches its share of ``--workflows`` 3-task workflows
with ``ct.dispatch``, then waits for each with ``ct.get_result(wait=True)``
and checks its output. A ``--big-fraction`` of the workflows take a 300 KB
bytes argument (random, so a new upload each time); the others a few bytes.

A workflow is lost when its dispatch was acknowledged but it did not end
COMPLETED with the right output. Errors are counted by kind (the dispatcher's
HTTP status, or a dropped connection), never swallowed: the client raises on
every 4xx and 5xx answer and retries none of them. (The server's access log
cannot count them: importing Dask sets tornado's loggers to CRITICAL.) The
server's log is searched for tracebacks, which an uncaught exception in a
request leaves there. At the end: wall time, workflows
per second, p50/p99 of the ``ct.dispatch`` call, the CPU time each side used
(to show whether the clients or the server were the bottleneck), and the
memory of the server process and of its Dask processes.

    python benchmarks/bench_load.py [--clients 50] [--workflows 2000] [--big-fraction 0.25] [--processes 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import multiprocessing
import os
import re
import resource
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import RunningServer, start_server  # noqa: E402

BIG_BYTES = 300 * 1024


def _workflow() -> Any:
    """The 3-task lattice ``flow(i, data) -> f"{i + 1}:{sha256(data)}"``.

    Defined in a function so that cloudpickle sends it by value from any
    client process (a spawned process's main module cannot be imported by
    the workers).
    """
    import covalent_nb as ct

    @ct.electron
    def inc(i):
        return i + 1

    @ct.electron
    def digest(data):
        import hashlib
        return hashlib.sha256(data).hexdigest()

    @ct.electron
    def join(number, text):
        return f"{number}:{text}"

    @ct.lattice
    def flow(i, data):
        return join(inc(i), digest(data))

    return flow


def _expected(index: int, data: bytes) -> str:
    return f"{index + 1}:{hashlib.sha256(data).hexdigest()}"


def _is_big(index: int, fraction: float) -> bool:
    """Whether workflow ``index`` takes the big argument: every 1/fraction-th one, evenly spread."""
    return int((index + 1) * fraction) > int(index * fraction)


def _argument(index: int, big: bool) -> bytes:
    return os.urandom(BIG_BYTES) if big else f"small-{index}".encode()


@dataclasses.dataclass
class Outcome:
    """What happened to one workflow, as its client saw it."""

    index: int
    big: bool
    dispatch_id: str | None = None
    dispatch_seconds: float | None = None
    dispatched_at: float | None = None
    error: str | None = None
    """The kind of failure (``"HTTP 503"``, ``"connection"``, ``"wrong output"``, ...), None when all went well."""
    detail: str | None = None
    completed: bool = False


def _error_kind(exc: BaseException) -> str:
    from covalent_nb.errors import DispatcherError, DispatcherUnreachableError

    if isinstance(exc, DispatcherUnreachableError):
        return "connection"
    if isinstance(exc, DispatcherError):
        return f"HTTP {exc.status}"
    return type(exc).__name__


def _client(addr: str, indices: list[int], fraction: float, flow: Any, outcomes: list[Outcome],
            barrier: threading.Barrier) -> None:
    """One client: dispatch each of ``indices``, then wait for each result and check it."""
    import covalent_nb as ct

    expected: dict[int, str] = {}
    mine = [Outcome(index, _is_big(index, fraction)) for index in indices]
    outcomes.extend(mine)  # list.extend is atomic under the GIL
    barrier.wait()
    for outcome in mine:
        data = _argument(outcome.index, outcome.big)
        expected[outcome.index] = _expected(outcome.index, data)
        started = time.monotonic()
        try:
            outcome.dispatch_id = ct.dispatch(flow, dispatcher_addr=addr)(outcome.index, data)
        except Exception as exc:  # counted, not swallowed: every outcome is reported
            outcome.error, outcome.detail = _error_kind(exc), str(exc)[:300]
        outcome.dispatched_at = time.monotonic()
        outcome.dispatch_seconds = outcome.dispatched_at - started
    for outcome in mine:
        if outcome.dispatch_id is None:
            continue
        try:
            result = ct.get_result(outcome.dispatch_id, wait=True, dispatcher_addr=addr)
            if result.status != "COMPLETED":
                outcome.error, outcome.detail = f"ended {result.status}", str(result.error)[:300]
            elif result.result != expected[outcome.index]:
                outcome.error, outcome.detail = "wrong output", repr(result.result)[:300]
            else:
                outcome.completed = True
        except Exception as exc:
            outcome.error, outcome.detail = _error_kind(exc), str(exc)[:300]


def client_process(addr: str, token: str, shares: list[list[int]], fraction: float,
                   go: Any, answers: Any) -> None:
    """A client process: one thread per share of workflow indices, started together when ``go`` is set."""
    os.environ["COVALENT_NB_TOKEN"] = token
    import covalent_nb as ct  # noqa: F401  (imported before the clock starts)

    flow = _workflow()
    outcomes: list[Outcome] = []
    barrier = threading.Barrier(len(shares) + 1)
    threads = [threading.Thread(target=_client, args=(addr, share, fraction, flow, outcomes, barrier), daemon=True)
               for share in shares]
    for thread in threads:
        thread.start()
    answers.put(("ready", os.getpid()))
    go.wait()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    barrier.wait()
    for thread in threads:
        thread.join()
    ended = time.monotonic()
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    answers.put(("done", {"outcomes": [dataclasses.asdict(o) for o in outcomes], "started": started,
                          "ended": ended, "cpu": cpu}))


def _shares(workflows: int, clients: int) -> list[list[int]]:
    """Contiguous blocks of indices, one per client, sizes differing by at most one."""
    bounds = [workflows * c // clients for c in range(clients + 1)]
    return [list(range(bounds[c], bounds[c + 1])) for c in range(clients)]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _memory(server_pid: int) -> list[tuple[str, int, int, int]]:
    """(what, pid, VmRSS MB, VmHWM MB) of the server process and each of its descendants."""
    import psutil

    rows = [("server process (Dask scheduler and nannies in-process)", server_pid)]
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            command = " ".join(child.cmdline())
        except psutil.Error:
            continue
        what = "multiprocessing resource tracker" if "resource_tracker" in command else "Dask worker process"
        rows.append((what, child.pid))
    found = []
    for what, pid in rows:
        try:
            found.append((what, pid, _proc_kb(pid, "VmRSS") // 1024, _proc_kb(pid, "VmHWM") // 1024))
        except (OSError, KeyError):
            continue
    return found


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def warm_up(server: RunningServer) -> None:
    """One dispatch to its result, so the cluster is up (and the workers have imported what tasks need)."""
    import covalent_nb as ct

    flow = _workflow()
    dispatch_id = ct.dispatch(flow, dispatcher_addr=server.addr)(0, b"warm")
    result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=server.addr)
    assert result.status == "COMPLETED" and result.result == _expected(0, b"warm"), (result.status, result.error)


@dataclasses.dataclass
class Round:
    """One round of the clients against the server: what each client process reported, and the server's side."""

    reports: list[dict[str, Any]]
    cpu_server: float
    cpu_workers: float
    load: tuple[float, float]
    log: str
    """What the server logged during the round."""

    @property
    def outcomes(self) -> list[Outcome]:
        return [Outcome(**o) for report in self.reports for o in report["outcomes"]]

    @property
    def wall(self) -> float:
        return max(r["ended"] for r in self.reports) - min(r["started"] for r in self.reports)


def run_round(opts: argparse.Namespace, server: RunningServer, side_pids: list[int]) -> Round:
    """Start the client processes, let their threads go together, and collect their reports."""
    log_offset = (server.data_dir / "server.log").stat().st_size
    shares = _shares(opts.workflows, opts.clients)
    context = multiprocessing.get_context("spawn")
    go, answers = context.Event(), context.Queue()
    processes = [context.Process(target=client_process,
                                 args=(server.addr, server.token, shares[p::opts.processes], opts.big_fraction,
                                       go, answers), daemon=True)  # daemons: ended if this process gives up
                 for p in range(opts.processes)]
    for process in processes:
        process.start()
    for _ in processes:
        kind, _pid = answers.get(timeout=120)
        assert kind == "ready"
    cpu_server, cpu_workers = _cpu_seconds(side_pids[:1]), _cpu_seconds(side_pids[1:])
    load_before = os.getloadavg()[0]
    go.set()
    reports = [answers.get(timeout=opts.timeout)[1] for _ in processes]
    for process in processes:
        process.join(timeout=30)
    cpu_server = _cpu_seconds(side_pids[:1]) - cpu_server
    cpu_workers = _cpu_seconds(side_pids[1:]) - cpu_workers
    load_after = os.getloadavg()[0]
    with (server.data_dir / "server.log").open("rb") as log_file:
        log_file.seek(log_offset)
        log = log_file.read().decode(errors="replace")
    return Round(reports, cpu_server, cpu_workers, (load_before, load_after), log)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _latencies(outcomes: list[Outcome]) -> str:
    times = [o.dispatch_seconds for o in outcomes if o.dispatch_id and o.dispatch_seconds is not None]
    if not times:
        return "none"
    return f"p50 {_ms(_percentile(times, 0.5))}, p99 {_ms(_percentile(times, 0.99))}, max {_ms(max(times))}"


def report_round(opts: argparse.Namespace, number: int, done: Round) -> bool:
    """Print one round's figures; True when nothing was lost and nothing answered 5xx."""
    outcomes, wall = done.outcomes, done.wall
    started = min(r["started"] for r in done.reports)
    dispatched = [o.dispatched_at for o in outcomes if o.dispatched_at]
    completed = sum(o.completed for o in outcomes)
    acknowledged = sum(o.dispatch_id is not None for o in outcomes)
    lost = [o for o in outcomes if o.dispatch_id is not None and not o.completed]
    refused = [o for o in outcomes if o.dispatch_id is None]
    errors: dict[str, int] = {}
    for outcome in outcomes:
        if outcome.error:
            errors[outcome.error] = errors.get(outcome.error, 0) + 1
    client_5xx = sum(n for kind, n in errors.items() if re.fullmatch(r"HTTP 5\d\d", kind))
    client_cpu = sum(r["cpu"] for r in done.reports)
    per_process = ", ".join(f"{r['cpu'] / wall:.2f}" for r in done.reports)
    big = sum(o.big for o in outcomes)

    print(f"\nround {number}: {len(outcomes)} workflows (3 tasks each; {big} with a {BIG_BYTES // 1024} KB "
          f"argument) from {opts.clients} client threads in {len(done.reports)} client process(es); load average "
          f"{done.load[0]:.1f} before, {done.load[1]:.1f} after")
    print(f"acknowledged {acknowledged}, COMPLETED with the right output {completed}, lost {len(lost)}")
    print(f"errors by kind: {errors or 'none'}; 5xx answers {client_5xx}; tracebacks in the server's log "
          f"{done.log.count('Traceback')}")
    for outcome in (lost + refused)[:5]:
        print(f"  e.g. workflow {outcome.index} ({outcome.dispatch_id}): {outcome.error}: {outcome.detail}")
    print(f"wall time, first dispatch to last result checked: {wall:.1f} s -> {completed / wall:.1f} workflows/s "
          f"(the last ct.dispatch returned after {max(dispatched) - started:.1f} s)")
    print(f"ct.dispatch call: {_latencies(outcomes)}; small argument: {_latencies([o for o in outcomes if not o.big])}"
          f"; {BIG_BYTES // 1024} KB argument: {_latencies([o for o in outcomes if o.big])}")
    print(f"CPU time during the round: clients {client_cpu:.1f} s ({client_cpu / wall:.2f} cores; per process "
          f"{per_process}), server process {done.cpu_server:.1f} s ({done.cpu_server / wall:.2f} cores), "
          f"its Dask worker processes {done.cpu_workers:.1f} s ({done.cpu_workers / wall:.2f} cores)")
    return not lost and not refused and not client_5xx


def report_idle_and_memory(server_pid: int, before: list[tuple[str, int, int, int]]) -> None:
    """The CPU the server and its descendants use idle after a round, and their memory now against ``before``."""
    pids = [pid for _, pid, _, _ in _memory(server_pid)]
    cpu = _cpu_seconds(pids)
    time.sleep(2.0)  # also lets the last results' bookkeeping settle
    print(f"idle after the round: the server and its Dask processes used {(_cpu_seconds(pids) - cpu) / 2:.2f} cores")
    now = _memory(server_pid)
    was = {pid: rss for _, pid, rss, _ in before}
    print("memory (VmRSS before the first round -> now; VmHWM, the peak over the process's life):")
    for what, pid, rss, hwm in now:
        print(f"  {what} {pid}: {was.get(pid, '?')} -> {rss} MB, peak {hwm} MB")
    print(f"  total now: {sum(row[2] for row in now)} MB")


def run(opts: argparse.Namespace, server: RunningServer) -> bool:
    """Run the rounds against ``server`` and print their figures; True when every round lost nothing, no 5xx."""
    os.environ["COVALENT_NB_TOKEN"] = server.token
    warm_up(server)
    server_pid = int((server.data_dir / "server.pid").read_text())
    memory_before = _memory(server_pid)
    side_pids = [pid for _, pid, _, _ in memory_before]
    print(f"server {server.addr}, {opts.workers} Dask worker processes")
    good = True
    for number in range(1, opts.rounds + 1):
        good = report_round(opts, number, run_round(opts, server, side_pids)) and good
        report_idle_and_memory(server_pid, memory_before)
    return good


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="client threads, all started together")
    parser.add_argument("--workflows", type=int, default=2000, help="workflows in all, shared among the clients")
    parser.add_argument("--big-fraction", type=float, default=0.25,
                        help=f"share of workflows with a {BIG_BYTES // 1024} KB argument")
    parser.add_argument("--processes", type=int, default=1, help="client processes the threads are spread over")
    parser.add_argument("--rounds", type=int, default=1, help="rounds against the same server (memory over time)")
    parser.add_argument("--workers", type=int, default=2, help="the server's Dask worker processes")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a round's clients")
    opts = parser.parse_args()
    if not (opts.clients >= 1 and opts.workflows >= opts.clients and 0 <= opts.big_fraction <= 1
            and 1 <= opts.processes <= opts.clients and opts.rounds >= 1 and opts.workers >= 1):
        parser.error("need clients >= 1, workflows >= clients, 0 <= big-fraction <= 1, "
                     "1 <= processes <= clients, rounds >= 1, workers >= 1")

    root = Path(tempfile.mkdtemp(prefix="covalent_nb_load_"))
    server = start_server(root, workers=opts.workers)
    good = False
    try:
        good = run(opts, server)
    except Exception:
        traceback.print_exc()
    finally:
        server.cli("stop")
    sys.exit(0 if good else 1)


if __name__ == "__main__":
    main()
