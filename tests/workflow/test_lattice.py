"""Lattices: plain calls, nesting, attributes, errors, signature forms, deps inheritance, pickling."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cloudpickle
import pytest

from covalent_nb.errors import GraphBuildError
from covalent_nb.workflow import DepsCall, DepsPip, Lattice, electron, lattice
from covalent_nb.workflow.graph import TransportGraph


@electron
def add(x: int, y: int) -> int:
    return x + y


@electron
def double(x: int) -> int:
    return 2 * x


@lattice
def inner(x: int) -> int:
    """Inner workflow."""
    return double(add(x, 1))


@lattice(executor="dask", workflow_executor="local", deps_pip=["requests"])
def documented(a: int, b: int = 2) -> int:
    """Adds, then doubles."""
    return double(add(a, b))


def electron_names(graph: TransportGraph) -> list[str]:
    return [graph.node(i)["name"] for i in graph.node_ids() if graph.node(i)["kind"] == "electron"]


def test_direct_call_runs_the_body_as_a_plain_function() -> None:
    assert documented(1, 2) == 6
    assert inner(3) == 8


def test_attributes() -> None:
    assert isinstance(documented, Lattice)
    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Adds, then doubles."
    assert documented.workflow_function(1) == 6
    assert documented.source.startswith("@lattice(executor=\"dask\"")
    assert "return double(add(a, b))" in documented.source
    assert documented.executor_spec == {"name": "dask", "attrs": {}}
    assert documented.workflow_executor_spec == {"name": "local", "attrs": {}}
    assert documented.deps.pip == ["requests"] and documented.deps.bash is None


def test_source_is_empty_when_unavailable() -> None:
    namespace: dict = {}
    exec("def made_by_exec(x):\n    return x\n", namespace)
    assert lattice(namespace["made_by_exec"]).source == ""


def test_build_graph_records_electron_calls() -> None:
    graph = documented.build_graph(1)
    assert isinstance(graph, TransportGraph)
    assert electron_names(graph) == ["add", "double"]
    assert graph.node(graph.output)["name"] == "double"


def test_lattice_called_directly_inside_a_build_joins_that_build() -> None:
    @lattice
    def parent(x: int) -> int:
        return add(inner(x), 100)

    graph = parent.build_graph(1)
    assert electron_names(graph) == ["add", "double", "add"]
    assert all(graph.node(i)["kind"] != "sublattice" for i in graph.node_ids())


def test_arguments_that_do_not_fit_the_lattice_raise_type_error() -> None:
    with pytest.raises(TypeError, match=r"lattice 'documented'.*missing a required argument: 'a'"):
        documented.build_graph(b=3)


def test_body_raising_is_a_graph_build_error_chained_to_the_cause() -> None:
    @lattice
    def broken(x: int) -> int:
        raise KeyError("no such key")

    with pytest.raises(GraphBuildError, match=r"lattice 'broken'.*KeyError.*no such key") as info:
        broken.build_graph(1)
    assert isinstance(info.value.__cause__, KeyError)


def test_using_an_output_as_a_condition_fails_clearly() -> None:
    @lattice
    def branching(x: int) -> int:
        result = add(x, 1)
        return double(result) if result else result

    with pytest.raises(GraphBuildError, match=r"lattice 'branching'.*TypeError.*not known while") as info:
        branching.build_graph(1)
    assert isinstance(info.value.__cause__, TypeError)


def test_all_signature_forms_for_lattices() -> None:
    @lattice
    def forms(a, /, b, *args, c, d=4, **kwargs):
        return [add(a, b), [add(v, c) for v in args], add(d, kwargs["e"])]

    graph = forms.build_graph(1, 2, 3, 5, c=10, e=20)
    assert electron_names(graph) == ["add"] * 4
    assert forms(1, 2, 3, c=10, e=20) == [3, [13], 24]
    with pytest.raises(TypeError, match="lattice 'forms'"):
        forms.build_graph(a=1, b=2, c=3)  # a is positional-only


def test_lattice_level_deps_fill_what_the_electron_leaves_unset() -> None:
    def before() -> None:
        pass

    @electron(deps_pip=["numpy"])
    def own_pip(x: int) -> int:
        return x

    @lattice(deps_bash=["echo lattice"], deps_pip=DepsPip(["requests"]), call_before=[DepsCall(before)])
    def flow(x: int) -> list:
        return [own_pip(x), add(x, 1), electron(inner)(x)]

    graph = flow.build_graph(1)
    hooks = {graph.node(i)["name"]: graph.node(i)["hooks"] for i in graph.node_ids()
             if graph.node(i)["kind"] in ("electron", "sublattice")}
    assert not hooks[":sublattice:inner"]  # a sublattice's electrons take its own lattice's deps
    assert hooks["own_pip"].pip == ["numpy"]  # its own
    assert hooks["own_pip"].bash == ["echo lattice"]  # the rest from the lattice
    assert hooks["add"].pip == ["requests"] and hooks["add"].bash == ["echo lattice"]
    assert [call.func for call in hooks["add"].call_before] == [before]


def test_pickle_round_trip() -> None:
    copy = cloudpickle.loads(cloudpickle.dumps(documented))
    assert isinstance(copy, Lattice)
    assert copy(1, 2) == 6
    assert copy.executor_spec == {"name": "dask", "attrs": {}}
    assert electron_names(copy.build_graph(1)) == ["add", "double"]


def test_lattice_defined_in_main_unpickles_and_builds_in_another_process(tmp_path) -> None:
    script = textwrap.dedent("""
        import sys, cloudpickle
        import covalent_nb.workflow as ct

        @ct.electron
        def inc(x):
            return x + 1

        @ct.lattice
        def flow(x):
            return inc(inc(x))

        sys.stdout.buffer.write(cloudpickle.dumps(flow))
    """)
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=120)
    blob = tmp_path / "lattice.pkl"
    blob.write_bytes(made.stdout)
    reader = textwrap.dedent(f"""
        import cloudpickle
        flow = cloudpickle.loads(open({str(blob)!r}, "rb").read())
        graph = flow.build_graph(1)
        print(flow(1), len(graph), flow.__name__)
    """)
    used = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, check=True, timeout=120)
    assert used.stdout.split() == ["3", "3", "flow"]
