"""``GET dispatches/{id}/graph.svg`` on a real server: the widget's picture, boxes marked for live colours."""

from __future__ import annotations

import re

import covalent_nb as ct
from covalent_nb.notebook.graph_view import COLLAPSE_ABOVE
from tests.conftest import RunningServer
from tests.server.manifests import raw_request
from tests.server.test_api import call


@ct.electron
def double(x):
    return 2 * x


@ct.electron
def add_all(values):
    return sum(values)


@ct.lattice
def fan(n):
    return add_all([double(i) for i in range(n)])


BOX = re.compile(r'<g id="cnb-node-(\d+)" class="node" data-kind="(\w+)" data-members="([\d ]+)">')


def boxes(svg: str) -> dict[int, tuple[str, list[int]]]:
    return {int(key): (kind, [int(m) for m in members.split()]) for key, kind, members in BOX.findall(svg)}


def test_a_small_graph_has_one_box_per_node(server: RunningServer) -> None:
    dispatch_id = ct.dispatch(fan)(3)
    status, svg = raw_request(server, "GET", f"dispatches/{dispatch_id}/graph.svg", parse=False)
    assert status == 200
    svg = svg.decode()
    assert svg.startswith("<svg") and "<script" not in svg
    found = boxes(svg)
    view = call(server, "GET", f"dispatches/{dispatch_id}")[1]
    assert sorted(found) == sorted(n["node_id"] for n in view["nodes"])
    assert all(members == [key] for key, (_, members) in found.items())
    assert sorted(kind for kind, _ in found.values()).count("electron") == 4
    assert ">double</text>" in svg and ">add_all</text>" in svg


def test_a_large_graph_collapses_repeated_electrons(server: RunningServer) -> None:
    n = COLLAPSE_ABOVE + 20
    dispatch_id = ct.dispatch(fan)(n)
    status, svg = raw_request(server, "GET", f"dispatches/{dispatch_id}/graph.svg", parse=False)
    assert status == 200
    found = boxes(svg.decode())
    doubles = [members for kind, members in found.values() if kind == "electron" and len(members) == n]
    assert len(doubles) == 1 and f"double ×{n}" in svg.decode()
    covered = sorted(m for _, members in found.values() for m in members)
    assert covered == list(range(len(covered)))  # every node in exactly one box


def test_the_picture_needs_the_token_and_an_own_dispatch(server: RunningServer) -> None:
    dispatch_id = ct.dispatch(fan)(2)
    assert call(server, "GET", f"dispatches/{dispatch_id}/graph.svg", token=None)[0] == 401
    assert call(server, "GET", "dispatches/not-a-dispatch/graph.svg")[0] == 404
