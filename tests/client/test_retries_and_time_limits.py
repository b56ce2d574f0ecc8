"""Retries and time limits per electron, enforced on the Dask cluster and the local executor."""

from __future__ import annotations

import os
import time

import pytest

import covalent_nb as ct


def make_flaky(fail_times):
    """An electron failing its first ``fail_times`` runs (counted in a file); defined here so
    cloudpickle sends it by value (the workers cannot import this test module)."""
    def flaky(path):
        with open(path, "a") as handle:
            handle.write("x")
        runs = len(open(path).read())
        if runs <= fail_times:
            raise RuntimeError(f"failure {runs}")
        return runs
    return flaky


def test_retries_until_success(server, tmp_path):
    counter = tmp_path / "count"

    flaky = ct.electron(retries=2)(make_flaky(2))

    @ct.lattice
    def flow(path):
        return flaky(path)

    result = ct.dispatch_sync(flow)(str(counter))
    assert result.status == "COMPLETED", result.error
    assert result.result == 3
    node = next(n for n in result.get_all_node_results() if n["node_name"] == "flaky")
    assert "attempt 1 of 3 failed and was retried: RuntimeError: failure 1" in node["stderr"]
    assert "attempt 2 of 3 failed" in node["stderr"]


def test_retries_exhausted_fail_the_task(server, tmp_path):
    counter = tmp_path / "count"

    flaky = ct.electron(retries=1)(make_flaky(5))

    @ct.electron
    def after(x):
        return x

    @ct.lattice
    def flow(path):
        return after(flaky(path))

    result = ct.dispatch_sync(flow)(str(counter))
    assert result.status == "FAILED"
    assert counter.read_text() == "xx"   # one try and one retry
    node = next(n for n in result.get_all_node_results() if n["node_name"] == "flaky")
    assert "RuntimeError: failure 2" in node["error"]


def _assert_process_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"task process {pid} still runs"
        time.sleep(0.1)


@pytest.mark.parametrize("executor", [None, "local"])
def test_time_limit_stops_the_task(server, tmp_path, executor):
    pid_file = tmp_path / "pid"

    @ct.electron(time_limit=2, executor=executor)
    def sleepy(path):
        import os
        import time
        with open(path, "w") as handle:
            handle.write(str(os.getpid()))
        print("started")
        time.sleep(60)
        return "never"

    @ct.electron
    def quick():
        return "quick"

    @ct.lattice
    def flow(path):
        return [sleepy(path), quick()]

    result = ct.dispatch_sync(flow)(str(pid_file))
    assert result.status == "FAILED"
    nodes = {n["node_name"]: n for n in result.get_all_node_results()}
    assert "exceeded its time limit of 2 s" in nodes["sleepy"]["error"]
    assert "started" in nodes["sleepy"]["stdout"]
    assert nodes["quick"]["status"] == "COMPLETED"
    duration = (nodes["sleepy"]["end_time"] - nodes["sleepy"]["start_time"]).total_seconds()
    assert duration < 60  # stopped, not waited for
    _assert_process_gone(int(pid_file.read_text()))


def test_time_limit_not_reached_returns_normally(server):
    @ct.electron(time_limit=30)
    def fine(x):
        print("inside")
        return x * 3

    @ct.lattice
    def flow(x):
        return fine(x)

    result = ct.dispatch_sync(flow)(5)
    assert result.result == 15
    assert "inside" in result.get_all_node_results()[-1]["stdout"] or any(
        "inside" in n["stdout"] for n in result.get_all_node_results())
