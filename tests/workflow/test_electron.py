"""Electrons: decoration, options, plain calls, recording in a build, pickling."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import cloudpickle
import pytest

from covalent_nb.workflow import DepsBash, DepsCall, Electron, Lattice, NodeProxy, electron, lattice, wait
from covalent_nb.workflow.builder import CallSignatureError, current_builder


@electron
def add(x: int, y: int = 10) -> int:
    """Add two numbers."""
    return x + y


@electron
def outer(x: int) -> int:
    return add(x, 1) * 2  # an electron called inside a task body: a plain call


class FakeExecutor:
    """Stands in for an executor class: anything with to_spec() is accepted."""

    def __init__(self, cores: int) -> None:
        self.cores = cores

    def to_spec(self) -> dict:
        return {"name": "fake", "attrs": {"cores": self.cores}}


def test_bare_decorator_keeps_name_doc_and_signature() -> None:
    assert isinstance(add, Electron)
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert inspect.signature(add) == inspect.signature(add.__wrapped__)
    assert list(inspect.signature(add).parameters) == ["x", "y"]
    assert add.__wrapped__(1, 2) == 3


def test_call_outside_a_build_is_a_plain_call() -> None:
    assert current_builder() is None
    assert add(1, 2) == 3
    assert add(1) == 11
    assert outer(4) == 10


def test_options_form_and_executor_specs() -> None:
    by_name = electron(executor="local", retries=2, time_limit=1.5)(add.__wrapped__)
    assert by_name.executor_spec == {"name": "local", "attrs": {}}
    assert by_name.options == {"retries": 2, "time_limit": 1.5}
    by_object = electron(add.__wrapped__, executor=FakeExecutor(4))
    assert by_object.executor_spec == {"name": "fake", "attrs": {"cores": 4}}
    assert electron(add.__wrapped__).executor_spec is None


def test_bad_executor_is_a_type_error_naming_the_electron() -> None:
    def task() -> None:
        pass

    with pytest.raises(TypeError, match=r"electron 'task'.*executor.*int"):
        electron(task, executor=3)

    class BadSpec:
        def to_spec(self) -> str:
            return "nope"

    with pytest.raises(TypeError, match=r"electron 'task'.*to_spec"):
        electron(task, executor=BadSpec())


@pytest.mark.parametrize("retries, error", [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("2", TypeError)])
def test_retries_are_validated(retries: object, error: type) -> None:
    with pytest.raises(error, match="retries"):
        electron(add.__wrapped__, retries=retries)


@pytest.mark.parametrize("limit, error", [(0, ValueError), (-3, ValueError), (float("inf"), ValueError),
                                          ("10", TypeError), (True, TypeError)])
def test_time_limit_is_validated(limit: object, error: type) -> None:
    with pytest.raises(error, match="time_limit"):
        electron(add.__wrapped__, time_limit=limit)
    with pytest.raises(error, match="time_limit"):
        electron(time_limit=limit)(add.__wrapped__)


def test_deps_are_normalized() -> None:
    def setup() -> int:
        return 1

    task = electron(add.__wrapped__, deps_bash="echo hi", deps_pip=["numpy"], call_before=[setup])
    assert task.deps.bash == ["echo hi"]
    assert task.deps.pip == ["numpy"]
    assert [call.func for call in task.deps.call_before] == [setup]
    assert task.deps.call_after is None
    with pytest.raises(TypeError, match="deps_pip"):
        electron(add.__wrapped__, deps_pip=3)


def test_not_callable_is_rejected() -> None:
    with pytest.raises(TypeError, match="function or a lattice"):
        electron(42)


def test_electron_of_a_lattice_is_a_sublattice_and_runs_plainly_outside_builds() -> None:
    @lattice
    def inner(x: int) -> int:
        return add(x, 5)

    sub = electron(inner)
    assert sub.is_sublattice and isinstance(sub.function, Lattice)
    assert sub.__name__ == "inner"
    assert not hasattr(sub, "workflow_function")  # the lattice's own attributes stay on the lattice
    assert sub(1) == 6


def test_call_inside_a_build_records_a_node() -> None:
    @lattice
    def flow(a: int) -> int:
        out = add(a, y=2)
        assert isinstance(out, NodeProxy)
        return out

    graph = flow.build_graph(1)
    electrons = [i for i in graph.node_ids() if graph.node(i)["kind"] == "electron"]
    assert len(electrons) == 1
    node = graph.node(electrons[0])
    assert node["name"] == "add" and node["function"] is add.__wrapped__
    assert graph.output == electrons[0]


def test_arguments_that_do_not_fit_raise_a_type_error_at_build_time() -> None:
    @lattice
    def flow() -> int:
        return add(1, 2, 3)

    with pytest.raises(CallSignatureError, match=r"lattice 'flow'.*electron 'add'.*too many positional") as info:
        flow.build_graph()
    assert isinstance(info.value, TypeError)


def test_retval_keyword_of_call_before_counts_as_given() -> None:
    def make_db() -> str:
        return "db"

    @electron(call_before=[DepsCall(make_db, retval_keyword="db")])
    def query(sql: str, db: str) -> str:
        return f"{db}:{sql}"

    @lattice
    def flow() -> str:
        return query("select 1")

    graph = flow.build_graph()
    assert graph.node(graph.output)["name"] == "query"


def test_electron_called_inside_a_task_body_is_a_plain_call() -> None:
    @lattice
    def flow(x: int) -> int:
        return outer(x)

    graph = flow.build_graph(3)
    task_function = graph.node(graph.output)["function"]
    runner_copy = cloudpickle.loads(cloudpickle.dumps(task_function))
    assert runner_copy(3) == 8


def test_wait_outside_a_build_returns_the_child() -> None:
    child = object()
    assert wait(child, [1, 2]) is child


def test_pickle_round_trip_keeps_options_and_behaviour() -> None:
    task = electron(add.__wrapped__, executor="local", deps_bash=DepsBash(["true"]), retries=1)
    assert task.signature is not None  # fills the cache, which is not pickled
    copy = cloudpickle.loads(cloudpickle.dumps(task))
    assert isinstance(copy, Electron)
    assert copy(2, 3) == 5
    assert copy.executor_spec == {"name": "local", "attrs": {}}
    assert copy.deps.bash == ["true"] and copy.retries == 1
    assert copy.__name__ == "add"
    module_level = cloudpickle.loads(cloudpickle.dumps(add))
    assert module_level(1) == 11


def test_electron_defined_in_main_unpickles_in_another_process(tmp_path) -> None:
    script = textwrap.dedent("""
        import sys, cloudpickle
        from covalent_nb.workflow import electron

        @electron(executor="local")
        def scale(x, factor=3):
            return x * factor

        sys.stdout.buffer.write(cloudpickle.dumps(scale))
    """)
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=120)
    blob = tmp_path / "electron.pkl"
    blob.write_bytes(made.stdout)
    reader = textwrap.dedent(f"""
        import cloudpickle
        task = cloudpickle.loads(open({str(blob)!r}, "rb").read())
        print(type(task).__name__, task.__name__, task(2), task.executor_spec["name"])
    """)
    used = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, check=True, timeout=120)
    assert used.stdout.split() == ["Electron", "scale", "6", "local"]
