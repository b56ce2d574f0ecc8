"""Dispatch overhead of covalent-nb against raw dask.distributed, in one run.

Starts a covalent-nb server through the CLI (default executor: its local Dask
cluster of N worker processes) and, in this process, a raw Dask LocalCluster
of the same size. Prints medians and ratios to raw Dask.

    python benchmarks/bench_dispatch.py [--workers 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _inc(x: int) -> int:
    return x + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="covalent_nb_bench_"))
    os.environ["COVALENT_NB_CONFIG_DIR"] = str(root / "config")
    os.environ["COVALENT_NB_DATA_DIR"] = str(root / "data")
    port = _free_port()
    cli = [sys.executable, "-m", "covalent_nb"]
    subprocess.run([*cli, "start", "--address", "127.0.0.1", "--port", str(port),
                    "--workers", str(opts.workers)], check=True)
    try:
        run(opts, port, root)
    finally:
        subprocess.run([*cli, "stop"], check=False)


def run(opts: argparse.Namespace, port: int, root: Path) -> None:
    import psutil
    from distributed import Client, LocalCluster

    import covalent_nb as ct

    ct.set_config({"dispatcher.address": "127.0.0.1", "dispatcher.port": port})
    server_pid = int((root / "data" / "server.pid").read_text())
    rss_start = psutil.Process(server_pid).memory_info().rss

    @ct.electron
    def inc(x):
        return x + 1

    @ct.electron
    def total(xs):
        return sum(xs)

    @ct.electron
    def size(data):
        return len(data)

    @ct.lattice
    def one(x):
        return inc(x)

    @ct.lattice
    def fan(n):
        return total([inc(i) for i in range(n)])

    @ct.lattice
    def chain(n):
        x = 0
        for _ in range(n):
            x = inc(x)
        return x

    @ct.lattice
    def big(data):
        return size(data)

    def sync(lattice, *args):
        result = ct.dispatch_sync(lattice)(*args)
        assert result.status == "COMPLETED", result.error
        return result.result

    sync(one, 1)  # starts the server's cluster
    rows: list[tuple[str, float, float | None]] = []
    rep = opts.repeat

    cluster = LocalCluster(n_workers=opts.workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    try:
        client.submit(_inc, 0).result()

        def dask_fan(n: int) -> int:
            futures = [client.submit(_inc, i, pure=False) for i in range(n)]
            return client.submit(sum, futures).result()

        def dask_chain(n: int) -> int:
            x = client.submit(_inc, 0, pure=False)
            for _ in range(n - 1):
                x = client.submit(_inc, x, pure=False)
            return x.result()

        rows.append(("one electron", _median(lambda: sync(one, 1), rep * 4),
                     _median(lambda: client.submit(_inc, 1, pure=False).result(), rep * 4)))
        for n in (10, 100, 1000):
            rows.append((f"fan-out/in {n}", _median(lambda: sync(fan, n), rep),
                         _median(lambda: dask_fan(n), rep)))
        rows.append(("chain of 50", _median(lambda: sync(chain, 50), rep),
                     _median(lambda: dask_chain(50), rep)))
        data = os.urandom(50 * 1024 * 1024)
        rows.append(("50 MB input", _median(lambda: sync(big, data), max(2, rep // 2)),
                     _median(lambda: client.submit(len, data, pure=False).result(), max(2, rep // 2))))
    finally:
        client.close()
        cluster.close()

    dispatch_times = []
    for _ in range(rep):  # each on an idle server: time dispatch() alone, then wait
        start = time.perf_counter()
        dispatch_id = ct.dispatch(fan)(1000)
        dispatch_times.append(time.perf_counter() - start)
        ct.get_result(dispatch_id, wait=True)
    dispatch_1000 = statistics.median(dispatch_times)

    # reading every output of a finished 1000-task fan-out: one batched request against one GET per output
    fan_id = ct.dispatch(fan)(1000)
    ct.get_result(fan_id, wait=True)

    def read_batched() -> None:
        ct.get_result(fan_id).get_all_node_outputs()

    def read_one_by_one() -> None:
        result = ct.get_result(fan_id)
        for node in result._view["nodes"]:
            if node["status"] == "COMPLETED":
                result._payload(node["output_key"])

    read_outputs = (_median(read_batched, rep), _median(read_one_by_one, rep))
    time.sleep(1.0)
    server = psutil.Process(server_pid)
    rss_idle = server.memory_info().rss

    print(f"\ncovalent-nb {ct.__version__}, {opts.workers} Dask worker processes, medians of {rep}+ runs\n")
    print(f"{'case':<22}{'covalent-nb':>14}{'raw dask':>12}{'ratio':>9}")
    for name, ours, dask in rows:
        ratio = f"{ours / dask:8.1f}x" if dask else ""
        print(f"{name:<22}{ours * 1000:>11.1f} ms{dask * 1000:>9.1f} ms{ratio}")
    print(f"{'dispatch() 1000 nodes':<22}{dispatch_1000 * 1000:>11.1f} ms")
    print(f"{'read fan-out 1000 out.':<22}{read_outputs[0] * 1000:>11.1f} ms (batched){read_outputs[1] * 1000:>9.1f} ms "
          f"(one GET each){read_outputs[1] / read_outputs[0]:8.1f}x")
    print(f"server RSS: {rss_start / 2**20:.0f} MB at start, {rss_idle / 2**20:.0f} MB idle after the "
          "runs (the server process alone, Dask scheduler in-process, workers excluded)")
    loop_stop, worker_gone = measure_cancel(root, max(3, rep // 2))
    print(f"cancel of a running task: a Python loop stopped {loop_stop * 1000:.1f} ms after calling ct.cancel "
          f"(worker kept); a task blocked in time.sleep had its worker process gone after {worker_gone:.2f} s")


def measure_cancel(root: Path, repeat: int) -> tuple[float, float]:
    """Medians, from calling ``ct.cancel``: until a Python loop stops, until a blocked task's worker is gone."""
    import psutil

    import covalent_nb as ct

    @ct.electron
    def beating(folder):
        """Writes its pid, then a heartbeat (time.monotonic) as fast as it can, for up to a minute."""
        Path(folder, "pid").write_text(str(os.getpid()))
        beat, scratch, end = Path(folder, "beat"), Path(folder, "beat.tmp"), time.monotonic() + 60
        while time.monotonic() < end:
            scratch.write_text(repr(time.monotonic()))
            scratch.replace(beat)

    @ct.electron
    def sleeping(folder):
        Path(folder, "pid").write_text(str(os.getpid()))
        time.sleep(60)

    @ct.lattice
    def beats(folder):
        return beating(folder)

    @ct.lattice
    def sleeps(folder):
        return sleeping(folder)

    def cancel_when_started(lattice) -> tuple[Path, int, float]:
        folder = Path(tempfile.mkdtemp(dir=root))
        dispatch_id = ct.dispatch(lattice)(str(folder))
        while not (folder / "pid").exists():
            time.sleep(0.01)
        time.sleep(0.2)
        called = time.monotonic()
        ct.cancel(dispatch_id)
        return folder, int((folder / "pid").read_text()), called

    def gone(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    stops, gones = [], []
    for _ in range(repeat):
        folder, _, cancelled = cancel_when_started(beats)
        while True:
            last = (folder / "beat").read_text()
            time.sleep(0.2)
            if (folder / "beat").read_text() == last:
                break
        stops.append(float(last) - cancelled)
    for _ in range(repeat):
        _, pid, cancelled = cancel_when_started(sleeps)
        while not gone(pid):
            time.sleep(0.01)
        gones.append(time.monotonic() - cancelled)
        time.sleep(2.0)  # the new worker comes up before the next run
    return statistics.median(stops), statistics.median(gones)


if __name__ == "__main__":
    main()
