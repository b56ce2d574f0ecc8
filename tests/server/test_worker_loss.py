"""A Dask worker killed under a running dispatch: completed tasks never run again.

Real servers started through the CLI, real Dask workers (with nannies, which
start a new worker process after the kill). Thirty tasks draw random numbers
and log each run to a side-effect file; a sum of them waits for a release file
so that the worker can be killed while it holds their outputs and runs the sum.
Dask then computes the lost outputs again for the sum's next run; the runner
must hand over the recorded ones instead of calling the tasks again.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

import covalent_nb as ct
from covalent_nb._status import TERMINAL, Status
from tests.conftest import RunningServer, running_dask_cluster, server_for_this_process, wait_for

DRAWS = 30
CUT_OFF = "was lost while the task ran there (or was about to); Dask ran the task again"


@ct.electron
def draw(index: int, folder: str) -> float:
    """A random number; each run appends 'draw-INDEX' to the side-effect log."""
    import random

    with open(os.path.join(folder, "runs.log"), "a") as log:
        log.write(f"draw-{index} {os.getpid()}\n")
    return random.random() * 1e9


@ct.electron
def add_up(values: list[float], folder: str) -> float:
    """Logs its run, waits for the release file (the test kills its worker first), returns the sum."""
    with open(os.path.join(folder, "runs.log"), "a") as log:
        log.write(f"sum {os.getpid()}\n")
    deadline = time.monotonic() + 120  # inline: a helper of this test module would not unpickle
    while not os.path.exists(os.path.join(folder, "release")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return sum(values)


@ct.electron
def held(tag: str, folder: str, value: Any) -> Any:
    """Logs its run as ``tag``, waits for the release file (the test kills its worker first), returns ``value``."""
    with open(os.path.join(folder, "runs.log"), "a") as log:
        log.write(f"{tag} {os.getpid()}\n")
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(folder, "release")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@ct.electron
def plus(a: float, b: float) -> float:
    return a + b


@ct.lattice
def random_sum(folder: str) -> float:
    return add_up([draw(i, folder) for i in range(DRAWS)], folder)


@ct.lattice
def one_sleeper(folder: str) -> str:
    return held("sleeper", folder, "done")


@ct.lattice
def draw_twice_plus_one(folder: str) -> float:
    drawn = draw(0, folder)
    # held runs after the draw; the first plus is chained on both, the second on the first
    return plus(plus(drawn, held("later", folder, drawn)), 1)


def on_cluster(lattice: Any, address: str) -> Any:
    """The same workflow with every task on the Dask cluster at ``address``."""
    return ct.lattice(lattice.workflow_function, executor=ct.executor.DaskExecutor(scheduler_address=address))


@pytest.fixture(scope="module")
def one_worker_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose local Dask cluster has one worker process (everything lives there)."""
    with server_for_this_process(tmp_path_factory.mktemp("worker_loss"), workers=1) as running:
        yield running


def runs(folder: Path) -> list[tuple[str, int]]:
    """The side-effect log: (task, pid) per run, in order."""
    path = folder / "runs.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(name, int(pid)) for name, pid in (line.split() for line in lines)]


def ended(dispatch_id: str, server: RunningServer, timeout: float = 120) -> Any:
    """The dispatch's Result once it has ended (fails after ``timeout`` s instead of hanging)."""
    wait_for(lambda: Status(ct.get_result(dispatch_id, status_only=True, dispatcher_addr=server.addr)["status"])
             in TERMINAL, f"the end of dispatch {dispatch_id}", timeout=timeout)
    return ct.get_result(dispatch_id, dispatcher_addr=server.addr)


def nodes_named(result: Any, name: str) -> list[dict[str, Any]]:
    return [node for node in result.get_all_node_results() if node["node_name"] == name]


def kill_worker_under_the_sum(lattice: Any, server: RunningServer, folder: Path) -> Any:
    """Dispatch, wait until every draw is COMPLETED and the sum runs, kill its worker, release it."""
    dispatch_id = ct.dispatch(lattice, dispatcher_addr=server.addr)(str(folder))

    def drawn_and_summing() -> bool:
        if not any(name == "sum" for name, _ in runs(folder)):
            return False
        result = ct.get_result(dispatch_id, dispatcher_addr=server.addr)
        return all(node["status"] == Status.COMPLETED for node in nodes_named(result, "draw"))

    wait_for(drawn_and_summing, "every draw COMPLETED and the sum running", timeout=120)
    pid = next(pid for name, pid in runs(folder) if name == "sum")
    os.kill(pid, signal.SIGKILL)
    (folder / "release").touch()
    return ended(dispatch_id, server)


def check_recorded_outputs_only(result: Any, folder: Path) -> None:
    assert result.status == Status.COMPLETED, result.error
    draws = nodes_named(result, "draw")
    assert len(draws) == DRAWS and all(node["status"] == Status.COMPLETED for node in draws)
    stored = [node["output"] for node in draws]
    assert result.result == sum(stored)  # built from the recorded outputs only
    logged = [name for name, _ in runs(folder) if name.startswith("draw-")]
    assert sorted(logged) == sorted(f"draw-{i}" for i in range(DRAWS))  # no draw ran twice
    sum_runs = [pid for name, pid in runs(folder) if name == "sum"]
    assert len(sum_runs) == 2 and sum_runs[0] != sum_runs[1]  # cut off, then run in a new worker
    (summed,) = nodes_named(result, "add_up")
    assert CUT_OFF in summed["stderr"], summed["stderr"]  # its second run is noted
    assert not any(CUT_OFF in node["stderr"] for node in draws)


def test_killed_local_worker_reruns_no_completed_task(one_worker_server: RunningServer, tmp_path: Path) -> None:
    result = kill_worker_under_the_sum(random_sum, one_worker_server, tmp_path)
    check_recorded_outputs_only(result, tmp_path)


def test_killed_external_worker_reruns_no_completed_task(one_worker_server: RunningServer,
                                                         tmp_path: Path) -> None:
    with running_dask_cluster("lossy-worker", nthreads=1) as address:
        result = kill_worker_under_the_sum(on_cluster(random_sum, address), one_worker_server, tmp_path)
    check_recorded_outputs_only(result, tmp_path)


def test_a_task_cut_off_mid_run_runs_again_and_says_so(one_worker_server: RunningServer, tmp_path: Path) -> None:
    dispatch_id = ct.dispatch(one_sleeper, dispatcher_addr=one_worker_server.addr)(str(tmp_path))
    wait_for(lambda: bool(runs(tmp_path)), "the sleeper's start")
    (first,) = [pid for _, pid in runs(tmp_path)]
    os.kill(first, signal.SIGKILL)
    (tmp_path / "release").touch()
    result = ended(dispatch_id, one_worker_server)
    assert (result.status, result.result) == (Status.COMPLETED, "done"), result.error
    pids = [pid for _, pid in runs(tmp_path)]
    assert len(pids) == 2 and pids[1] != first
    (node,) = nodes_named(result, "held")
    assert node["stderr"].startswith("[covalent-nb] Dask worker ") and CUT_OFF in node["stderr"], node["stderr"]


def test_children_of_a_recorded_task_run_again_with_its_recorded_output(one_worker_server: RunningServer,
                                                                        tmp_path: Path) -> None:
    # The worker dies while it runs held and keeps the draw's output for held and the first
    # plus. Dask computes the draw again: it is RECORDED, so held and, in turn, both plus
    # tasks are skipped, and run again by the dispatcher with the recorded outputs.
    server = one_worker_server
    dispatch_id = ct.dispatch(draw_twice_plus_one, dispatcher_addr=server.addr)(str(tmp_path))

    def drawn_and_held() -> bool:
        result = ct.get_result(dispatch_id, dispatcher_addr=server.addr)
        return (any(name == "later" for name, _ in runs(tmp_path))
                and nodes_named(result, "draw")[0]["status"] == Status.COMPLETED)

    wait_for(drawn_and_held, "the draw COMPLETED and held running", timeout=120)
    os.kill(next(pid for name, pid in runs(tmp_path) if name == "later"), signal.SIGKILL)
    (tmp_path / "release").touch()
    result = ended(dispatch_id, server)
    assert result.status == Status.COMPLETED, result.error
    ((drawn,), (kept,)) = nodes_named(result, "draw"), nodes_named(result, "held")
    assert kept["output"] == drawn["output"]
    assert result.result == 2 * drawn["output"] + 1
    assert [name for name, _ in runs(tmp_path)] == ["draw-0", "later", "later"]
    assert CUT_OFF in kept["stderr"], kept["stderr"]
