"""End to end: workflows dispatched to a real server (started through the CLI) with real Dask workers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import covalent_nb as ct
from tests.conftest import process_is_gone, wait_for


@ct.electron
def add(x, y):
    return x + y


@ct.electron
def square(x):
    return x * x


@ct.electron
def total(values):
    return sum(values)


@ct.electron
def pair(x) -> tuple[int, int]:
    return x, x + 1


@ct.electron
def two(x):
    return x, -x


@ct.electron
def boom(x):
    print("about to fail", x)
    import sys
    print("to stderr", file=sys.stderr)
    raise ZeroDivisionError(f"boom on {x}")


@ct.electron
def shout(text):
    print(text.upper())
    return text


def test_one_electron(server):
    @ct.lattice
    def one(a, b):
        return add(a, b)

    dispatch_id = ct.dispatch(one)(1, 2)
    assert isinstance(dispatch_id, str) and len(dispatch_id) >= 32
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == ct.status.COMPLETED
    assert result.status == "COMPLETED"
    assert result.result == 3
    assert result.inputs == {"args": [1, 2], "kwargs": {}}
    assert result.start_time <= result.end_time
    assert result.error is None


def test_fan_out_fan_in(server):
    @ct.lattice
    def fan(n):
        return total([square(i) for i in range(n)])

    result = ct.dispatch_sync(fan)(20)
    assert result.result == sum(i * i for i in range(20))
    nodes = result.get_all_node_results()
    squares = [n for n in nodes if n["node_name"] == "square"]
    assert len(squares) == 20
    assert sorted(n["output"] for n in squares) == sorted(i * i for i in range(20))
    for node in nodes:
        assert set(node) >= {"node_id", "node_name", "status", "start_time", "end_time", "output",
                             "error", "stdout", "stderr", "sublattice_result"}


def test_all_node_outputs_come_in_one_request(server):
    @ct.lattice
    def fan(n):
        return total([square(i) for i in range(n)])

    result = ct.dispatch_sync(fan)(30)
    requests: list[tuple[str, str]] = []
    send = result._conn.request

    def counted(method, path, *args, **kwargs):   # the real connection, with its calls noted
        requests.append((method, path))
        return send(method, path, *args, **kwargs)

    result._conn.request = counted
    outputs = result.get_all_node_outputs()
    assert sorted(v for k, v in outputs.items() if k.startswith("square(")) == [i * i for i in range(30)]
    assert [method for method, _ in requests] == ["POST"]
    assert requests[0][1].endswith("/payloads")
    assert [n["output"] for n in result.get_all_node_results() if n["node_name"] == "total"] == [result.result]
    assert len(requests) == 1                     # everything read already


def test_chain_and_generated_nodes(server):
    @ct.lattice
    def chain(x):
        a, b = pair(x)             # unpacking by annotation
        c, d = two(a)              # unpacking without annotation
        s = add(a, b) * 2 + 1      # arithmetic on outputs
        r = 10 - s                 # reflected arithmetic
        return {"sum": s, "r": r, "items": [c, d], 3: b ** 2}

    result = ct.dispatch_sync(chain)(4)
    assert result.status == "COMPLETED", result.error
    assert result.result == {"sum": 19, "r": -9, "items": [4, -4], 3: 25}


def test_getitem_getattr_and_nested_collections(server):
    @ct.electron
    def info(n):
        import types
        return types.SimpleNamespace(name=f"n{n}", values=[n, n * 2])

    @ct.lattice
    def flow(n):
        i = info(n)
        return total([i.values[0], i.values[1], (add(1, 2), {(1, 2): square(3)})[0]]), i.name

    result = ct.dispatch_sync(flow)(5)
    assert result.result == (5 + 10 + 3, "n5")


def test_wait_orders_tasks_without_data(server, tmp_path):
    log = tmp_path / "order.txt"

    @ct.electron
    def write(tag, path):
        import time
        if tag == "first":
            time.sleep(0.3)
        with open(path, "a") as handle:
            handle.write(tag + "\n")
        return tag

    @ct.lattice
    def ordered(path):
        first = write("first", path)
        second = write("second", path)
        ct.wait(second, [first])
        return second

    result = ct.dispatch_sync(ordered)(str(log))
    assert result.status == "COMPLETED"
    assert log.read_text().split() == ["first", "second"]


def test_sublattice(server):
    @ct.lattice
    def inner(x):
        return add(square(x), 1)

    @ct.lattice
    def outer(x):
        y = ct.electron(inner)(x)
        return add(y, 100)

    result = ct.dispatch_sync(outer)(3)
    assert result.status == "COMPLETED", result.error
    assert result.result == 110
    sub = [n for n in result.get_all_node_results() if n["sublattice_result"] is not None]
    assert len(sub) == 1
    assert sub[0]["output"] == 10
    assert sub[0]["sublattice_result"].result == 10
    assert sub[0]["sublattice_result"].status == "COMPLETED"


def test_signature_forms(server):
    @ct.electron
    def forms(a, /, b, *args, c, d=4, **kwargs):
        return (a, b, args, c, d, kwargs)

    @ct.lattice
    def flow(a, /, *args, c, **kwargs):
        return forms(a, 2, *args, c=c, **kwargs)

    result = ct.dispatch_sync(flow)(1, 7, 8, c=3, e=5)
    assert result.result == (1, 2, (7, 8), 3, 4, {"e": 5})


def test_failure_semantics(server):
    @ct.electron
    def after(x):
        return x + 1

    @ct.lattice
    def flow(x):
        bad = boom(x)
        dependent = after(bad)
        independent = square(x)
        return [dependent, independent]

    result = ct.dispatch_sync(flow)(2)
    assert result.status == "FAILED"
    assert "boom" in result.error
    assert result.result is None
    nodes = {n["node_name"]: n for n in result.get_all_node_results()}
    assert nodes["boom"]["status"] == "FAILED"
    assert "ZeroDivisionError: boom on 2" in nodes["boom"]["error"]
    assert "Traceback" in nodes["boom"]["error"]
    assert "about to fail 2" in nodes["boom"]["stdout"]
    assert "to stderr" in nodes["boom"]["stderr"]
    assert nodes["after"]["status"] not in ("COMPLETED", "RUNNING", "FAILED")
    assert nodes["after"]["start_time"] is None
    assert nodes["square"]["status"] == "COMPLETED"
    assert nodes["square"]["output"] == 4


def test_stdout_captured_per_task(server):
    @ct.lattice
    def flow():
        return [shout("a"), shout("b"), shout("c")]

    result = ct.dispatch_sync(flow)()
    outs = sorted(n["stdout"].strip() for n in result.get_all_node_results() if n["node_name"] == "shout")
    assert outs == ["A", "B", "C"]


def test_independent_tasks_run_in_parallel(server):
    @ct.electron
    def nap(i):
        import time
        time.sleep(1.0)
        return i

    @ct.lattice
    def flow():
        return [nap(0), nap(1)]

    result = ct.dispatch_sync(flow)()
    naps = [n for n in result.get_all_node_results() if n["node_name"] == "nap"]
    (a, b) = naps
    # Both ran at the same time: each started before the other ended.
    assert a["start_time"] < b["end_time"] and b["start_time"] < a["end_time"]


def test_get_result_while_running_and_status_only(server):
    @ct.electron
    def slow(x):
        import time
        time.sleep(1.5)
        return x

    @ct.lattice
    def flow(x):
        return slow(x)

    dispatch_id = ct.dispatch(flow)(7)
    running = ct.get_result(dispatch_id, wait=False)
    assert running.status in ("NEW_OBJECT", "RUNNING")
    assert running.result is None
    assert ct.get_result(dispatch_id, status_only=True) in (
        {"id": dispatch_id, "status": "RUNNING"}, {"id": dispatch_id, "status": "NEW_OBJECT"})
    done = ct.get_result(dispatch_id, wait=True, status_only=True)
    assert done == {"id": dispatch_id, "status": "COMPLETED"}
    assert ct.get_result(dispatch_id).result == 7


def test_unknown_dispatch_id(server):
    with pytest.raises(ct.DispatchNotFoundError, match="no dispatch"):
        ct.get_result("00000000-0000-0000-0000-000000000000")
    with pytest.raises(KeyError):
        ct.get_result("00000000-0000-0000-0000-000000000000", wait=True)


def test_cancel_whole_dispatch(server):
    @ct.electron
    def slow(x):
        import time
        time.sleep(30)
        return x

    @ct.lattice
    def flow():
        return add(slow(1), slow(2))

    dispatch_id = ct.dispatch(flow)()
    ct.cancel(dispatch_id)
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == "CANCELLED"
    statuses = {n["node_name"]: n["status"] for n in result.get_all_node_results() if n["kind"] != "parameter"}
    assert statuses["slow"] == "CANCELLED"
    assert statuses["add"] in ("CANCELLED", "NEW_OBJECT")


def test_cancel_some_tasks(server):
    @ct.electron
    def slow(x):
        import time
        time.sleep(30)
        return x

    @ct.lattice
    def flow():
        return [slow(1), square(3)]

    dispatch_id = ct.dispatch(flow)()
    view = ct.get_result(dispatch_id)
    slow_id = next(n["node_id"] for n in view.get_all_node_results() if n["node_name"] == "slow")
    ct.cancel(dispatch_id, task_ids=[slow_id])
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == "CANCELLED"
    nodes = {n["node_name"]: n for n in result.get_all_node_results()}
    assert nodes["slow"]["status"] == "CANCELLED"
    assert nodes["square"]["status"] == "COMPLETED" and nodes["square"]["output"] == 9


@ct.electron
def blocked_in_c(folder):
    """Writes its worker's pid, blocks 30 s in a C call, then writes 'finished'."""
    Path(folder, "pid").write_text(str(os.getpid()))
    time.sleep(30)
    Path(folder, "finished").write_text("yes")
    return "done"


@ct.electron
def python_loop(folder):
    """Writes its worker's pid, then counts in pure Python for up to 30 s, writing the count."""
    Path(folder, "pid").write_text(str(os.getpid()))
    count, deadline = 0, time.monotonic() + 30
    while time.monotonic() < deadline:
        count += 1
        if count % 10000 == 0:
            Path(folder, "count").write_text(str(count))
    Path(folder, "finished").write_text("yes")
    return count


@ct.lattice
def one_blocked(folder):
    return blocked_in_c(folder)


@ct.lattice
def one_loop(folder):
    return python_loop(folder)


def test_cancel_stops_a_task_blocked_in_c_by_restarting_its_worker(server, tmp_path):
    dispatch_id = ct.dispatch(one_blocked)(str(tmp_path))
    wait_for(lambda: (tmp_path / "pid").exists(), "the task's start")
    worker_pid = int((tmp_path / "pid").read_text())
    ct.cancel(dispatch_id)
    assert ct.get_result(dispatch_id, wait=True).status == "CANCELLED"
    wait_for(lambda: process_is_gone(worker_pid), "the restart of the worker that ran the task")
    assert not (tmp_path / "finished").exists()

    def two_workers_take_work() -> bool:
        pids = set(ct.dispatch_sync(flow_of_two_naps)().result)
        return len(pids) == 2 and worker_pid not in pids

    wait_for(two_workers_take_work, "two workers, one of them new, running the two naps", timeout=60)


@ct.electron
def short_nap(i):
    time.sleep(1.0)
    return os.getpid()


@ct.lattice
def flow_of_two_naps():
    return [short_nap(0), short_nap(1)]


def test_cancel_interrupts_python_code_and_keeps_the_worker(server, tmp_path):
    dispatch_id = ct.dispatch(one_loop)(str(tmp_path))
    wait_for(lambda: (tmp_path / "count").exists(), "the task's first count")
    worker_pid = int((tmp_path / "pid").read_text())
    ct.cancel(dispatch_id)
    assert ct.get_result(dispatch_id, wait=True).status == "CANCELLED"

    def count_stopped() -> bool:
        before = (tmp_path / "count").read_text()
        time.sleep(0.3)
        return (tmp_path / "count").read_text() == before

    wait_for(count_stopped, "the end of the task's counting")
    assert not (tmp_path / "finished").exists()
    assert not process_is_gone(worker_pid)  # interrupted in its thread: the worker lives on


def test_redispatch_new_args_replace_and_reuse(server, tmp_path):
    counter = tmp_path / "runs.txt"

    @ct.electron
    def counted(x, path):
        with open(path, "a") as handle:
            handle.write(f"{x}\n")
        return x * 10

    @ct.electron
    def finish(x):
        return x + 1

    @ct.lattice
    def flow(x, path):
        return finish(counted(x, path))

    first = ct.dispatch(flow)(1, str(counter))
    assert ct.get_result(first, wait=True).result == 11
    assert counter.read_text().split() == ["1"]

    again = ct.redispatch(first)(2, str(counter))
    assert ct.get_result(again, wait=True).result == 21

    @ct.electron
    def finish_v2(x):
        return x + 1000

    replaced = ct.redispatch(first, replace_electrons={"finish": finish_v2}, reuse_previous_results=True)()
    result = ct.get_result(replaced, wait=True)
    assert result.result == 1010
    # counted(1) was reused: it did not run a third time
    assert counter.read_text().split() == ["1", "2"]
    statuses = {n["node_name"]: n["status"] for n in result.get_all_node_results()}
    assert statuses["counted"] == "COMPLETED"


def test_deps_and_hooks_in_covalent_order(server, tmp_path):
    log = tmp_path / "order.txt"

    def note(path, tag):
        with open(path, "a") as handle:
            handle.write(tag + "\n")
        return tag

    @ct.electron(
        deps_bash=ct.DepsBash([f"echo bash >> {log}"]),
        call_before=[ct.DepsCall(note, args=[str(log), "before"], retval_keyword="tag"),
                     ct.DepsCall(note, args=[str(log), "before2"], retval_keyword="tag")],
        call_after=[ct.DepsCall(note, args=[str(log), "after"])],
    )
    def task(path, tag=None):
        note(path, "task")
        return tag

    @ct.lattice
    def flow(path):
        return task(path)

    result = ct.dispatch_sync(flow)(str(log))
    assert result.status == "COMPLETED", result.error
    assert result.result == ["before", "before2"]
    assert log.read_text().split() == ["bash", "before", "before2", "task", "after"]


def test_lattice_deps_inherited(server, tmp_path):
    marker = tmp_path / "lattice_bash.txt"

    @ct.electron
    def plain():
        return "plain"

    @ct.electron(deps_bash=["true"])
    def own():
        return "own"

    @ct.lattice(deps_bash=[f"echo x >> {marker}"])
    def flow():
        return [plain(), own()]

    result = ct.dispatch_sync(flow)()
    assert result.result == ["plain", "own"]
    assert marker.read_text().split() == ["x"]   # only the electron without deps of its own


def test_local_executor_runs_in_another_process(server):
    @ct.electron(executor="local")
    def where():
        import os
        return os.getpid()

    @ct.electron(executor=ct.executor.LocalExecutor())
    def where2():
        import os
        return os.getpid()

    @ct.lattice
    def flow():
        return [where(), where2()]

    result = ct.dispatch_sync(flow)()
    assert result.status == "COMPLETED", result.error
    pids = result.result
    assert len(set(pids)) == 2 and os.getpid() not in pids


def test_unknown_executor_is_named(server):
    @ct.electron(executor="no-such-executor")
    def task():
        return 1

    @ct.lattice
    def flow():
        return task()

    with pytest.warns(UserWarning, match="unknown executor 'no-such-executor' on task 'task'"):
        dispatch_id = ct.dispatch(flow)()
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == "FAILED"
    assert "unknown executor 'no-such-executor'" in result.get_node_result(0)["error"]


def test_large_input_and_output(server):
    blob = os.urandom(30 * 1024 * 1024)

    @ct.electron
    def size_and_echo(data):
        return len(data), data[:10], data

    @ct.lattice
    def flow(data):
        return size_and_echo(data)

    result = ct.dispatch_sync(flow)(blob)
    size, head, echoed = result.result
    assert size == len(blob) and head == blob[:10] and echoed == blob
