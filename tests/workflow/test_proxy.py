"""NodeProxy: generated nodes, arithmetic, truth value, pickling and tuple unpacking."""

import operator
import typing
from typing import NamedTuple

import cloudpickle
import pytest

from covalent_nb.errors import GraphBuildError
from covalent_nb.workflow import NodeProxy, TransportGraph, electron, lattice
from covalent_nb.workflow.builder import MAX_ITERATION_LENGTH
from covalent_nb.workflow.proxy import fixed_return_length


class Point(NamedTuple):
    x: int
    y: int


@electron
def make(n: int):
    return tuple(range(n))


@electron
def pair(n: int) -> tuple[int, int]:
    return n, n + 1


@electron
def triple(n: int) -> typing.Tuple[int, int, int]:
    return n, n, n


@electron
def point(n: int) -> Point:
    return Point(n, n)


@electron
def use(*values):
    return values


def nodes_of(graph: TransportGraph, kind: str) -> list[dict]:
    return [graph.node(i) for i in graph.node_ids() if graph.node(i)["kind"] == kind]


def parents(graph: TransportGraph, node_id: int) -> list[dict]:
    return [graph.node(source) for source, _ in graph.inputs(node_id)]


def test_getitem_and_getattr_make_generated_nodes_with_parameter_operands() -> None:
    @lattice
    def flow(n):
        out = make(n)
        return [out["key"], out.real]

    graph = flow.build_graph(2)
    item, attr = nodes_of(graph, "generated")
    assert item["function"] is operator.getitem and attr["function"] is getattr
    item_parents = parents(graph, item["id"])
    assert [p["kind"] for p in item_parents] == ["electron", "parameter"]
    assert item_parents[1]["value"] == "key"
    assert parents(graph, attr["id"])[1]["value"] == "real"


def test_private_attributes_raise_attribute_error() -> None:
    seen = {}

    @lattice
    def flow(n):
        out = make(n)
        seen["html"] = hasattr(out, "_repr_html_")
        seen["display"] = hasattr(out, "_ipython_display_")
        with pytest.raises(AttributeError):
            out.__getstate__bogus  # noqa: B018
        return out

    graph = flow.build_graph(1)
    assert seen == {"html": False, "display": False}
    assert not nodes_of(graph, "generated")


@pytest.mark.parametrize("expression, function, proxy_position", [
    (lambda p: p + 1, operator.add, 0), (lambda p: 1 + p, operator.add, 1),
    (lambda p: p - 1, operator.sub, 0), (lambda p: 1 - p, operator.sub, 1),
    (lambda p: p * 2, operator.mul, 0), (lambda p: 2 * p, operator.mul, 1),
    (lambda p: p / 2, operator.truediv, 0), (lambda p: 2 / p, operator.truediv, 1),
    (lambda p: p // 2, operator.floordiv, 0), (lambda p: 2 // p, operator.floordiv, 1),
    (lambda p: p % 2, operator.mod, 0), (lambda p: 2 % p, operator.mod, 1),
    (lambda p: p ** 2, operator.pow, 0), (lambda p: 2 ** p, operator.pow, 1),
])
def test_arithmetic_and_reflected_arithmetic(expression, function, proxy_position) -> None:
    @lattice
    def flow(n):
        return expression(pair(n)[0])

    graph = flow.build_graph(3)
    node = graph.node(graph.output)
    assert node["kind"] == "generated" and node["function"] is function
    operands = parents(graph, graph.output)
    assert operands[proxy_position]["kind"] == "generated"  # the pair(n)[0] node
    assert operands[1 - proxy_position]["kind"] == "parameter"


def test_arithmetic_between_two_outputs() -> None:
    @lattice
    def flow(n):
        a, b = pair(n)
        return a * b

    graph = flow.build_graph(1)
    assert [p["name"] for p in parents(graph, graph.output)] == [":pair()[0]", ":pair()[1]"]


def test_truth_value_is_a_clear_type_error() -> None:
    captured = {}

    @lattice
    def flow(n):
        out = make(n)
        try:
            bool(out)
        except TypeError as error:
            captured["message"] = str(error)
        return out

    flow.build_graph(1)
    assert "'make'" in captured["message"] and "not known while" in captured["message"]


def test_proxy_cannot_be_pickled_and_says_why() -> None:
    @lattice
    def flow(n):
        out = make(n)
        with pytest.raises(TypeError, match="exists only while"):
            cloudpickle.dumps(out)
        return out

    flow.build_graph(1)


@pytest.mark.parametrize("task, length", [(pair, 2), (triple, 3), (point, 2)])
def test_unpacking_by_return_annotation(task, length) -> None:
    @lattice
    def flow(n):
        items = list(task(n))
        return use(*items)

    graph = flow.build_graph(1)
    items = nodes_of(graph, "generated")
    assert [item["name"] for item in items] == [f":{task.__name__}()[{i}]" for i in range(length)]


def test_unpacking_without_annotation_is_learned_by_building_again() -> None:
    builds = []

    @lattice
    def flow(n):
        builds.append(n)
        a, b = make(n)
        c, d, e = make(a)
        return use(a, b, c, d, e)

    graph = flow.build_graph(5)
    assert len(builds) == 3  # two unknown lengths learned, one build each, then success
    items = nodes_of(graph, "generated")
    assert [item["name"] for item in items] == [":make()[0]", ":make()[1]", ":make()[0]", ":make()[1]", ":make()[2]"]
    assert graph.node_ids() == list(range(len(graph)))


def test_unpacking_error_of_a_plain_value_is_reported_not_relearned() -> None:
    builds = []

    @lattice
    def flow(n):
        builds.append(n)
        a, b = make(n)
        x, y = [a, b, 3]
        return x

    with pytest.raises(GraphBuildError, match="too many values to unpack") as info:
        flow.build_graph(1)
    assert isinstance(info.value.__cause__, ValueError)
    assert len(builds) == 2  # one rebuild for make(n), none for the list


def test_wrong_unpacking_of_an_annotated_output_is_a_graph_build_error() -> None:
    @lattice
    def flow(n):
        a, b, c = pair(n)
        return a

    with pytest.raises(GraphBuildError, match="not enough values to unpack"):
        flow.build_graph(1)


def test_starred_unpacking_with_annotation() -> None:
    @lattice
    def flow(n):
        first, *rest = triple(n)
        return use(first, rest)

    graph = flow.build_graph(1)
    final = parents(graph, graph.output)
    assert final[0]["name"] == ":triple()[0]"
    assert final[1]["kind"] == "collection" and final[1]["function"].slot_count == 2


def test_starred_unpacking_without_annotation_asks_for_one() -> None:
    @lattice
    def flow(n):
        first, *rest = make(n)
        return first

    with pytest.raises(GraphBuildError, match=rf"{MAX_ITERATION_LENGTH} items.*-> tuple\[int, int\]"):
        flow.build_graph(1)


def test_unused_iterator_items_are_pruned() -> None:
    @lattice
    def flow(n):
        return [use(i, v) for i, v in zip(make(n), ["a", "b"])]  # zip takes a third item, unused

    graph = flow.build_graph(3)
    assert [item["name"] for item in nodes_of(graph, "generated")] == [":make()[0]", ":make()[1]"]
    assert graph.node_ids() == list(range(len(graph)))
    assert graph.node(graph.output)["kind"] == "collection"


def test_explicit_unused_getitem_is_kept() -> None:
    @lattice
    def flow(n):
        out = make(n)
        out[0]  # noqa: B018
        return out

    assert len(nodes_of(flow.build_graph(1), "generated")) == 1


def test_proxy_from_another_build_is_rejected() -> None:
    leaked = {}

    @lattice
    def first(n):
        leaked["out"] = make(n)
        return leaked["out"]

    @lattice
    def second(n):
        return use(leaked["out"])

    first.build_graph(1)
    with pytest.raises(GraphBuildError, match="another lattice build"):
        second.build_graph(1)


def test_repr_names_the_node() -> None:
    seen = []

    @lattice
    def flow(n):
        out = make(n)
        seen.append(repr(out))
        return out

    flow.build_graph(1)
    assert isinstance(seen[0], str) and "'make'" in seen[0] and NodeProxy.__name__ in seen[0]


def test_fixed_return_length() -> None:
    def plain(): ...
    def fixed() -> tuple[int, str]: ...
    def open_ended() -> tuple[int, ...]: ...
    def empty() -> tuple[()]: ...
    def bare() -> typing.Tuple: ...
    def named() -> Point: ...
    def listed() -> list[int]: ...

    assert [fixed_return_length(f) for f in (plain, fixed, open_ended, empty, bare, named, listed)] == [
        None, 2, None, 0, None, 2, None]


def test_proxy_used_after_its_build_is_rejected() -> None:
    leaked = {}

    @lattice
    def flow(n):
        leaked["out"] = make(n)
        return leaked["out"]

    graph = flow.build_graph(1)
    with pytest.raises(RuntimeError, match="outside the build"):
        leaked["out"] + 1
    with pytest.raises(RuntimeError, match="outside the build"):
        iter(leaked["out"])
    assert len(graph) == 2  # nothing was added to the finished graph
