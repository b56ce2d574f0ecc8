"""Manifests (format 1 of docs/internals.md): blobs, dedup, hooks, fingerprints, errors."""

from __future__ import annotations

import json
import operator
import threading

import pytest

from covalent_nb import _serialize
from covalent_nb.errors import GraphBuildError, SerializationError
from covalent_nb.workflow import Lattice, build_manifest, electron, lattice
from covalent_nb.workflow.deps import TaskHooks


@electron
def add(x: int, y: int) -> int:
    return x + y


@electron
def total(values: list) -> int:
    return sum(values)


@electron(deps_pip=["numpy"], executor="local", retries=2)
def heavy(x: int) -> int:
    return x


@lattice(executor="dask")
def flow(a: int, b: int = 2) -> dict:
    """Sums and picks."""
    s = add(a, b)
    return {"sum": s, "first": heavy(s), "more": total([s, 1])}


@lattice
def fan(n: int) -> int:
    return total([add(i, 1) for i in range(n)])


def load(blobs: dict[str, bytes], key: str):
    return _serialize.loads(blobs[key])


def node_named(manifest: dict, name: str) -> dict:
    return next(node for node in manifest["nodes"] if node["name"] == name)


def test_top_level_format() -> None:
    manifest, blobs = build_manifest(flow, (1,), {"b": 5})
    assert manifest["format"] == 1 and manifest["name"] == "flow"
    assert set(manifest) == {"format", "name", "lattice", "inputs", "nodes", "edges", "output"}
    lat = manifest["lattice"]
    assert lat["doc"] == "Sums and picks." and "def flow" in lat["source"]
    assert lat["executor"] == {"name": "dask", "attrs": {}} and lat["workflow_executor"] is None
    assert isinstance(load(blobs, lat["blob"]), Lattice)
    assert [load(blobs, key) for key in manifest["inputs"]["args"]] == [1]
    assert {name: load(blobs, key) for name, key in manifest["inputs"]["kwargs"].items()} == {"b": 5}
    assert manifest["inputs"]["repr"] == {"args": ["1"], "kwargs": {"b": "5"}}
    assert json.loads(json.dumps(manifest)) == manifest
    assert all(key == _serialize.blob_key(data) for key, data in blobs.items())


def test_node_records() -> None:
    manifest, blobs = build_manifest(flow, (1,), {})
    assert [node["id"] for node in manifest["nodes"]] == list(range(len(manifest["nodes"])))
    for node in manifest["nodes"]:
        assert set(node) == {"id", "name", "kind", "function", "function_name", "value", "executor",
                             "hooks", "options", "fingerprint", "preview"}
        # a parameter's value as text, for displays that never unpickle it; null for the others
        assert node["preview"] == (repr(load(blobs, node["value"])) if node["kind"] == "parameter" else None)
    added = node_named(manifest, "add")
    assert added["kind"] == "electron" and added["function_name"] == "add"
    assert load(blobs, added["function"])(2, 3) == 5
    assert added["value"] is None and added["hooks"] is None and added["executor"] is None
    heavy_node = node_named(manifest, "heavy")
    assert heavy_node["executor"] == {"name": "local", "attrs": {}}
    assert heavy_node["options"] == {"retries": 2, "time_limit": None}
    hooks = load(blobs, heavy_node["hooks"])
    assert isinstance(hooks, TaskHooks) and hooks.pip == ["numpy"]
    parameter = node_named(manifest, ":parameter:1")
    assert parameter["function"] is None and load(blobs, parameter["value"]) == 1
    output = manifest["nodes"][manifest["output"]]
    assert output["kind"] == "collection"
    template = load(blobs, output["function"])
    assert template.fill("S", "H", "T") == {"sum": "S", "first": "H", "more": "T"}


def test_edges_follow_the_documented_params() -> None:
    manifest, _ = build_manifest(flow, (1,), {})
    add_id = node_named(manifest, "add")["id"]
    into_add = [edge for edge in manifest["edges"] if edge["target"] == add_id]
    assert [edge["param"] for edge in into_add] == [{"kind": "arg", "index": 0}, {"kind": "arg", "index": 1}]
    assert all({"source", "target", "param"} == set(edge) for edge in manifest["edges"])


def test_generated_and_sublattice_nodes() -> None:
    @lattice
    def inner(v: int) -> int:
        return add(v, v)

    @lattice
    def outer(x: int) -> list:
        pair = add(x, 1)
        return [pair * 2, electron(inner)(pair)]

    manifest, blobs = build_manifest(outer, (1,), {})
    generated = next(node for node in manifest["nodes"] if node["kind"] == "generated")
    assert load(blobs, generated["function"]) is operator.mul and generated["function_name"] == "mul"
    sub = next(node for node in manifest["nodes"] if node["kind"] == "sublattice")
    inner_copy = load(blobs, sub["function"])
    assert isinstance(inner_copy, Lattice) and sub["function_name"] == "inner"
    inner_manifest, _ = build_manifest(inner_copy, (4,), {})  # what the runner does with real inputs
    assert inner_manifest["name"] == "inner" and node_named(inner_manifest, "add")


def test_fan_out_pickles_the_function_once_and_dedups_blobs() -> None:
    manifest, blobs = build_manifest(fan, (200,), {})
    adds = [node for node in manifest["nodes"] if node["name"] == "add"]
    assert len(adds) == 200 and len({node["function"] for node in adds}) == 1
    # 200 distinct values 0..199 plus the shared literal 1 (twice 200 parameter nodes).
    value_keys = {node["value"] for node in manifest["nodes"] if node["kind"] == "parameter"}
    assert len(value_keys) == 200
    assert len(blobs) == len(value_keys) + 5  # + add, total, template, lattice, the input 200


def test_fingerprints_equal_for_equal_graphs_and_change_with_inputs() -> None:
    @lattice
    def branches(a: int, b: int) -> list:
        return [add(a, 1), add(b, 1)]

    first, _ = build_manifest(branches, (1, 2), {})
    again, _ = build_manifest(branches, (1, 2), {})
    changed, _ = build_manifest(branches, (1, 3), {})
    prints = [node["fingerprint"] for node in first["nodes"]]
    assert prints == [node["fingerprint"] for node in again["nodes"]]
    assert all(len(p) == 64 for p in prints)
    by_name = lambda m: [(n["name"], n["fingerprint"]) for n in m["nodes"] if n["kind"] == "electron"]  # noqa: E731
    (_, a_first), (_, b_first) = by_name(first)
    (_, a_changed), (_, b_changed) = by_name(changed)
    assert a_first == a_changed  # the untouched branch keeps its fingerprint
    assert b_first != b_changed
    assert first["nodes"][first["output"]]["fingerprint"] != changed["nodes"][changed["output"]]["fingerprint"]


def test_fingerprint_depends_on_executor_and_hooks_but_not_name() -> None:
    def twin(x):
        return x

    plain, dispatched, with_deps = electron(twin), electron(twin, executor="local"), electron(twin, deps_pip=["x"])

    def prints_of(task) -> str:
        manifest, _ = build_manifest(lattice(lambda: task(1)), (), {})
        return manifest["nodes"][manifest["output"]]["fingerprint"]

    assert len({prints_of(plain), prints_of(dispatched), prints_of(with_deps)}) == 3
    assert prints_of(plain) == prints_of(electron(twin))


def test_unpicklable_argument_names_electron_and_argument() -> None:
    @lattice
    def positional() -> int:
        return add(threading.Lock(), 1)

    @lattice
    def keyword() -> int:
        return add(1, y=threading.Lock())

    with pytest.raises(SerializationError, match=r"positional argument 0 of electron 'add' cannot be pickled"):
        build_manifest(positional, (), {})
    with pytest.raises(SerializationError, match=r"keyword argument 'y' of electron 'add'"):
        build_manifest(keyword, (), {})


def test_unpicklable_function_is_a_serialization_error() -> None:
    lock = threading.Lock()

    @electron
    def locked(x: int) -> int:
        with lock:
            return x

    @lattice
    def uses_lock(x: int) -> int:
        return locked(x)

    with pytest.raises(SerializationError, match=r"electron 'locked' cannot be pickled"):
        build_manifest(uses_lock, (1,), {})


def test_body_error_is_a_graph_build_error() -> None:
    @lattice
    def broken(x: int) -> int:
        return add(x, 1) + undefined_name  # noqa: F821

    with pytest.raises(GraphBuildError, match=r"lattice 'broken'.*NameError") as info:
        build_manifest(broken, (1,), {})
    assert isinstance(info.value.__cause__, NameError)


def test_only_lattices_are_accepted() -> None:
    with pytest.raises(TypeError, match="takes a Lattice"):
        build_manifest(add, (1, 2), {})


def test_replace_electrons_swaps_by_name_and_keeps_other_fingerprints() -> None:
    @electron
    def finish(x: int) -> int:
        return x + 1

    @electron
    def finish_v2(x: int) -> int:
        return x + 1000

    @lattice
    def chain(x: int) -> int:
        return finish(add(x, 1))

    original, _ = build_manifest(chain, (1,), {})
    replaced, blobs = build_manifest(chain, (1,), {}, replace_electrons={"finish": finish_v2})
    by_function = lambda m: {n["function_name"]: n for n in m["nodes"]}  # noqa: E731
    assert by_function(replaced)["add"]["fingerprint"] == by_function(original)["add"]["fingerprint"]
    swapped = by_function(replaced)["finish_v2"]
    assert "finish" not in by_function(replaced)
    assert load(blobs, swapped["function"])(1) == 1001
    plain, blobs = build_manifest(chain, (1,), {}, replace_electrons={"finish": lambda x: -x})
    assert load(blobs, plain["nodes"][plain["output"]]["function"])(5) == -5
    with pytest.raises(TypeError, match="replace_electrons"):
        build_manifest(chain, (1,), {}, replace_electrons={"finish": 3})
