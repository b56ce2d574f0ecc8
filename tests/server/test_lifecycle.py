"""A real server's life through the CLI: start, status, start again, logs, restart with work in flight, stop."""

from __future__ import annotations

import os
import sqlite3
import time

import covalent_nb as ct
from tests.conftest import server_for_this_process


@ct.electron
def slow_double(x):
    import time
    time.sleep(4)
    return 2 * x


@ct.electron
def plus_one(x):
    return x + 1


@ct.lattice
def flow(x):
    return plus_one(slow_double(x))


def test_cli_lifecycle_and_resume_after_restart(tmp_path):
    with server_for_this_process(tmp_path, workers=1) as server:
        status = server.cli("status")
        assert status.returncode == 0 and f"{server.port}" in status.stdout
        again = server.cli("start", "--address", "127.0.0.1", "--port", str(server.port))
        assert again.returncode == 0 and "already running" in (again.stdout + again.stderr)
        logs = server.cli("logs")
        assert logs.returncode == 0 and "listening" in logs.stdout

        dispatch_id = ct.dispatch(flow, dispatcher_addr=server.addr)(20)
        assert (server.data_dir / "server.token").stat().st_mode & 0o777 == 0o600
        deadline = time.monotonic() + 60
        while not any(n["node_name"] == "slow_double" and n["status"] == "RUNNING" for n in
                      ct.get_result(dispatch_id, dispatcher_addr=server.addr).get_all_node_results()):
            assert time.monotonic() < deadline, "slow_double never started"
            time.sleep(0.1)
        # restart while slow_double runs: the dispatch is resumed, not lost
        restarted = server.cli("restart", "--address", "127.0.0.1", "--port", str(server.port), "--workers", "1")
        assert restarted.returncode == 0, restarted.stderr
        result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=server.addr)
        assert result.status == "COMPLETED", result.error
        assert result.result == 41
        slow_id = next(n["node_id"] for n in result.get_all_node_results() if n["node_name"] == "slow_double")
        db = sqlite3.connect(f"file:{server.data_dir / 'results.db'}?mode=ro", uri=True)
        history = [row[0] for row in db.execute(
            "SELECT status FROM node_history WHERE dispatch_id=? AND node_id=? ORDER BY rowid",
            (dispatch_id, slow_id))]
        db.close()
        assert history == ["RUNNING", "NEW_OBJECT", "RUNNING", "COMPLETED"]

        stopped = server.cli("stop")
        assert stopped.returncode == 0
        assert server.cli("status").returncode == 3
        twice = server.cli("stop")
        assert twice.returncode == 0 and "not running" in (twice.stdout + twice.stderr)


def test_one_dispatcher_per_data_dir(tmp_path):
    from covalent_nb.server.data_lock import DataDirBusy, DataDirLock

    first = DataDirLock(tmp_path)
    try:
        try:
            DataDirLock(tmp_path)
        except DataDirBusy as exc:
            assert str(os.getpid()) in str(exc) and "COVALENT_NB_DATA_DIR" in str(exc)
        else:
            raise AssertionError("a second lock on the same data dir was granted")
    finally:
        first.release()
    DataDirLock(tmp_path).release()  # free again once released
