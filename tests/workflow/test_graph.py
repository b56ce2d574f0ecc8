"""Transport graphs: parameter and collection nodes, edges, wait, sublattices, outputs."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import cloudpickle
import networkx as nx
import pytest

from covalent_nb.errors import GraphBuildError
from covalent_nb.workflow import Lattice, TransportGraph, electron, lattice, wait
from covalent_nb.workflow.collection import CollectionTemplate
from covalent_nb.workflow.deps import TaskHooks

Pair = namedtuple("Pair", "left right")


@electron
def inc(x: int) -> int:
    return x + 1


@electron
def take(value):
    return value


@electron(executor="local", retries=3, time_limit=60)
def configured(x):
    return x


@electron
def forms(a, /, b, *args, c, d=4, **kwargs):
    return a, b, args, c, d, kwargs


def inputs_of(graph: TransportGraph, node_id: int) -> list[tuple[dict, dict]]:
    return [(graph.node(source), param) for source, param in graph.inputs(node_id)]


def fill_collection(graph: TransportGraph, node_id: int, outputs: dict[int, object]) -> object:
    """Run a collection node the way the runner will: template.fill(*parents' outputs)."""
    template = cloudpickle.loads(graph.node(node_id)["pickled"])
    values = [outputs[source] for source, _ in graph.inputs(node_id)]
    return template.fill(*values)


def test_each_literal_becomes_its_own_parameter_node() -> None:
    @lattice
    def flow():
        return [inc(1), inc(1)]

    graph = flow.build_graph()
    parameters = [graph.node(i) for i in graph.node_ids() if graph.node(i)["kind"] == "parameter"]
    assert len(parameters) == 2
    assert all(p["value"] == 1 and cloudpickle.loads(p["pickled"]) == 1 for p in parameters)
    assert parameters[0]["name"] == ":parameter:1"


def test_literal_is_snapshotted_when_the_call_is_recorded() -> None:
    @lattice
    def flow():
        settings = {"step": 0}
        outputs = []
        for step in range(3):
            settings["step"] = step
            outputs.append(take(settings))
        return outputs

    graph = flow.build_graph()
    snapshots = [cloudpickle.loads(graph.node(i)["pickled"]) for i in graph.node_ids()
                 if graph.node(i)["kind"] == "parameter"]
    assert snapshots == [{"step": 0}, {"step": 1}, {"step": 2}]


def test_container_of_literals_is_one_parameter_node() -> None:
    @lattice
    def flow():
        return take({"a": [1, 2], 3: (4, 5)})

    graph = flow.build_graph()
    (node, param), = inputs_of(graph, graph.output)
    assert node["kind"] == "parameter" and node["value"] == {"a": [1, 2], 3: (4, 5)}
    assert param == {"kind": "arg", "index": 0}


def test_nested_collection_with_any_keys_is_one_collection_node() -> None:
    @lattice
    def flow(x):
        a, b = inc(x), inc(x + 0)
        return take({1: [a, {"deep": (b, 7)}], (2, "t"): {a, 5}, "n": Pair(b, 8), "plain": [1, 2]})

    graph = flow.build_graph(10)
    (collection, _), = inputs_of(graph, graph.output)
    assert collection["kind"] == "collection" and collection["name"] == ":electron_dict:"
    assert isinstance(collection["function"], CollectionTemplate)
    assert collection["function"].slot_count == 2
    edges = inputs_of(graph, collection["id"])
    assert [param for _, param in edges] == [{"kind": "arg", "index": 0}, {"kind": "arg", "index": 1}]
    outputs = {source: f"out{source}" for source, _ in graph.inputs(collection["id"])}
    filled = fill_collection(graph, collection["id"], outputs)
    a_out, b_out = outputs.values()
    assert filled == {1: [a_out, {"deep": (b_out, 7)}], (2, "t"): {a_out, 5}, "n": Pair(b_out, 8),
                      "plain": [1, 2]}
    assert type(filled["n"]) is Pair


def test_same_output_twice_in_a_collection_has_one_slot() -> None:
    @lattice
    def flow(x):
        a = inc(x)
        return take([a, [a], (a,)])

    graph = flow.build_graph(1)
    (collection, _), = inputs_of(graph, graph.output)
    assert collection["function"].slot_count == 1
    assert collection["function"].fill("v") == ["v", ["v"], ("v",)]


@pytest.mark.parametrize("make, name, expected", [
    (lambda a: [a, 1], ":electron_list:", ["A", 1]),
    (lambda a: (a, 1), ":electron_tuple:", ("A", 1)),
    (lambda a: {a, 1}, ":electron_set:", {"A", 1}),
    (lambda a: frozenset([a]), ":electron_set:", frozenset(["A"])),
    (lambda a: OrderedDict([(2, a), (1, "b")]), ":electron_dict:", OrderedDict([(2, "A"), (1, "b")])),
])
def test_collection_kinds(make, name, expected) -> None:
    @lattice
    def flow(x):
        return make(inc(x))

    graph = flow.build_graph(1)
    output = graph.node(graph.output)
    assert output["kind"] == "collection" and output["name"] == name
    filled = output["function"].fill("A")
    assert filled == expected and type(filled) is type(expected)


def test_collection_template_repr_and_arity() -> None:
    marker = object()
    template, placeholders = CollectionTemplate.from_structure({"k": [marker, 2]}, lambda v: v is marker)
    assert placeholders == [marker]
    assert repr(template) == "CollectionTemplate({'k': [<0>, 2]})"
    with pytest.raises(TypeError, match="takes 1 values, got 2"):
        template.fill(1, 2)
    assert CollectionTemplate.from_structure([1, [2]], lambda v: v is marker) is None


def test_edges_for_every_signature_form() -> None:
    @lattice
    def flow(x):
        return forms(inc(x), 2, 3, inc(x), c=5, e=inc(x), d=6)

    graph = flow.build_graph(0)
    params = [param for _, param in inputs_of(graph, graph.output)]
    assert params == [{"kind": "arg", "index": i} for i in range(4)] + [
        {"kind": "kwarg", "name": n} for n in ("c", "d", "e")]
    kinds = [node["kind"] for node, _ in inputs_of(graph, graph.output)]
    assert kinds == ["electron", "parameter", "parameter", "electron", "parameter", "parameter", "electron"]


def test_positional_only_and_keyword_only_violations_are_caught_at_build_time() -> None:
    @lattice
    def positional_as_keyword():
        return forms(a=1, b=2, c=3)

    @lattice
    def keyword_as_positional():
        return forms(1, 2)

    with pytest.raises(TypeError, match="electron 'forms'"):
        positional_as_keyword.build_graph()
    with pytest.raises(TypeError, match="missing a required argument: 'c'"):
        keyword_as_positional.build_graph()


def test_wait_edges() -> None:
    @lattice
    def flow(x):
        first = inc(x)
        second = inc(x)
        third = take(x)
        assert wait(third, [first, second]) is third
        wait(second, first)
        return third

    graph = flow.build_graph(1)
    waits = [(graph.node(s)["id"], t) for s, t, p in graph.edges() if p == {"kind": "wait"}]
    first, second = [i for i in graph.node_ids() if graph.node(i)["name"] == "inc"]
    assert sorted(waits) == sorted([(first, graph.output), (second, graph.output), (first, second)])


def test_wait_rejects_cycles_and_non_outputs() -> None:
    @lattice
    def cycle(x):
        a = inc(x)
        b = inc(a)
        return wait(a, [b])

    @lattice
    def not_an_output(x):
        return wait(inc(x), [3])

    with pytest.raises(GraphBuildError, match="cycle"):
        cycle.build_graph(1)
    with pytest.raises(GraphBuildError, match="takes electron outputs, not int"):
        not_an_output.build_graph(1)


def test_wait_edge_to_an_older_node_keeps_a_valid_order() -> None:
    @lattice
    def flow(x):
        early = inc(x)
        late = take(x)
        return wait(early, late)

    graph = flow.build_graph(1)
    order = graph.topological_order()
    late = next(i for i in graph.node_ids() if graph.node(i)["name"] == "take")
    assert order.index(late) < order.index(graph.output)


def test_sublattice_node() -> None:
    @lattice
    def inner(v):
        return inc(v)

    @lattice
    def outer(x):
        return take(electron(inner)(inc(x)))

    graph = outer.build_graph(1)
    sub = next(graph.node(i) for i in graph.node_ids() if graph.node(i)["kind"] == "sublattice")
    assert sub["name"] == ":sublattice:inner"
    assert isinstance(sub["function"], Lattice) and sub["function"] is inner
    assert [node["name"] for node, _ in inputs_of(graph, sub["id"])] == ["inc"]


def test_node_executor_options_and_hooks() -> None:
    @lattice
    def flow(x):
        return [configured(x), inc(x)]

    graph = flow.build_graph(1)
    by_name = {graph.node(i)["name"]: graph.node(i) for i in graph.node_ids()}
    assert by_name["configured"]["executor"] == {"name": "local", "attrs": {}}
    assert by_name["configured"]["options"] == {"retries": 3, "time_limit": 60}
    assert by_name["inc"]["executor"] is None
    assert by_name["inc"]["options"] == {"retries": 0, "time_limit": None}
    assert isinstance(by_name["inc"]["hooks"], TaskHooks) and not by_name["inc"]["hooks"]
    assert by_name[":parameter:1"]["hooks"] is None  # parameters run nothing


@pytest.mark.parametrize("body, kind", [
    (lambda x: inc(x), "electron"),
    (lambda x: {"result": inc(x)}, "collection"),
    (lambda x: 42, "parameter"),
    (lambda x: None, "parameter"),
])
def test_output_node_kinds(body, kind) -> None:
    graph = lattice(body).build_graph(1)
    assert graph.node(graph.output)["kind"] == kind


def test_networkx_view_len_and_repr() -> None:
    @lattice
    def flow(x):
        return inc(inc(x))

    graph = flow.build_graph(1)
    assert len(graph) == 3
    assert repr(graph) == "<TransportGraph 'flow': 3 nodes, 2 edges, output=2>"
    view = graph.to_networkx()
    assert isinstance(view, nx.MultiDiGraph)
    assert sorted(view.edges()) == [(0, 1), (1, 2)]
    assert view.nodes[1]["name"] == "inc"
    view.remove_node(0)
    assert len(graph) == 3  # a copy


def test_large_bytes_are_labelled_without_a_full_repr() -> None:
    from covalent_nb.workflow.builder import short_repr

    label = short_repr(b"x" * 10_000_000)
    assert label.startswith("<bytes of 10000000 bytes: b'xxxx") and len(label) < 100
    assert short_repr(b"abc") == "b'abc'"
