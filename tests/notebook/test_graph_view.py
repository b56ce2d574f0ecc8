"""The transport graph picture: DOT, SVG from the real ``dot``, collapsing, colours by CSS."""

from __future__ import annotations

import re
import shutil

import pytest

from covalent_nb.notebook.graph_view import (COLLAPSE_ABOVE, GRAPHVIZ_MISSING, STATUS_COLOURS,
                                             draw_graph, graph_dot, group_status, plan_graph,
                                             status_css)

from .dispatch_views import ViewBuilder, fan_out_view, finished_small_view, helpers_view, small_view


@pytest.fixture
def dot_program() -> str:
    """Graphviz's ``dot``; a test that needs it fails without it (``bash tests/run`` installs it)."""
    path = shutil.which("dot")
    if path is None:
        pytest.fail("Graphviz's `dot` is not installed: `bash tests/run` installs it "
                    "(apt-get install graphviz)", pytrace=False)
    return path


needs_dot = pytest.mark.usefixtures("dot_program")


def node_groups(svg: str) -> dict[str, str]:
    """id -> the text of each node <g> in an SVG."""
    groups = re.findall(r'<g id="([^"]+)" class="node">(.*?)\n</g>\n(?=<g|</g>)', svg, re.S)
    return dict(groups)


def test_dot_names_nodes_by_electron_and_gives_each_an_id() -> None:
    dot = graph_dot(plan_graph(small_view()), "cnb-t")
    assert 'id="cnb-t-node-2"' in dot and 'label="add"' in dot
    assert 'id="cnb-t-node-5"' in dot and 'label="boom"' in dot
    assert 'label="list"' in dot                      # the collection, drawn small
    parameter_line = next(line for line in dot.splitlines() if line.startswith("  n0 "))
    assert 'label="1"' in parameter_line and 'fontsize="9"' in parameter_line
    assert 'n3 -> n4 [id="cnb-t-edge-3", label="y"]' in dot  # a keyword argument's edge is labelled


@needs_dot
def test_svg_has_node_ids_labels_and_no_prolog() -> None:
    picture = draw_graph(small_view(), "cnb-abc-1")
    svg = picture.svg
    assert svg is not None and picture.message is None
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg and "<!--" not in svg
    groups = node_groups(svg)
    assert set(groups) == {f"cnb-abc-1-node-{i}" for i in range(8)}
    assert ">add</text>" in groups["cnb-abc-1-node-2"]
    assert ">boom</text>" in groups["cnb-abc-1-node-5"]
    assert ">square</text>" in groups["cnb-abc-1-node-6"]
    assert picture.width_px > 50


def test_helper_nodes_are_small_and_say_what_they_are() -> None:
    lines = {line.split()[0]: line for line in graph_dot(plan_graph(helpers_view()), "cnb-h").splitlines()
             if line.startswith("  n") and "->" not in line}
    for node_id, label in [(2, "[0]"), (5, "+"), (12, "list"), (15, ".real")]:
        line = lines[f"n{node_id}"]
        assert f'label="{label}"' in line and 'shape="ellipse"' in line and 'fontsize="8"' in line, line
        assert 'height="0.2"' in line
    for node_id, label in [(0, "load"), (3, "scale"), (13, "total")]:
        line = lines[f"n{node_id}"]
        assert f'label="{label}"' in line and 'shape="box"' in line and 'fontsize="12"' in line, line
    assert "__getitem__" not in "".join(lines.values()).replace("tooltip", "")
    assert 'tooltip="[0] (getitem; node 2)"' in lines["n2"]


@needs_dot
def test_helper_nodes_in_the_svg_are_smaller_than_tasks() -> None:
    groups = node_groups(draw_graph(helpers_view(), "cnb-hs").svg)
    for node_id, label in [(2, "[0]"), (5, "+"), (12, "list"), (15, ".real")]:
        group = groups[f"cnb-hs-node-{node_id}"]
        assert f">{label}</text>" in group and 'font-size="8.00"' in group and "<ellipse" in group, group
        height = 2 * float(re.search(r'ry="([\d.]+)"', group).group(1))
        assert height < 20                                  # points
    load = groups["cnb-hs-node-0"]
    assert ">load</text>" in load and 'font-size="12.00"' in load
    ys = [float(y) for y in re.findall(r"[ C](?:[\d.]+),(-[\d.]+)", load)]
    assert max(ys) - min(ys) >= 30                          # a task's box is 0.5 inch (36 points) high


def test_collapsed_helpers_keep_their_labels() -> None:
    b = ViewBuilder("c0000000-0000-4000-8000-000000000001", "pairs")
    for i in range(70):
        value = b.node(f":parameter:{i}", "parameter")
        pair = b.node("load")
        b.edge(value, pair)
        key = b.node(f":parameter:{i % 2}", "parameter")
        item = b.node(":load.__getitem__", "generated", function_name="getitem")
        b.edge(pair, item, index=0)
        b.edge(key, item, index=1)
        one = b.node(":parameter:1", "parameter")
        plus = b.node(":load.__getitem___+_1", "generated", function_name="add")
        b.edge(item, plus, index=0)
        b.edge(one, plus, index=1)
    plan = plan_graph(b.view)
    assert plan.collapsed
    labels = sorted(re.findall(r'label="([^"]*)"', graph_dot(plan, "cnb-c")))
    # keys 0 and 1 differ: that group says "[…]"; the added 1s are alike: "1 ×70"
    assert labels == sorted(["load ×70", "[…] ×70", "+ ×70", "values ×70", "values ×70", "1 ×70"])


@needs_dot
def test_two_pictures_share_no_ids() -> None:
    first = draw_graph(small_view(), "cnb-5e1f0c2a-aaaaaa").svg
    second = draw_graph(small_view(), "cnb-5e1f0c2a-bbbbbb").svg
    ids = [set(re.findall(r'id="([^"]+)"', svg)) for svg in (first, second)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]


@needs_dot
def test_baked_statuses_colour_the_svg() -> None:
    view = finished_small_view()
    statuses = {n["node_id"]: n["status"] for n in view["nodes"]}
    groups = node_groups(draw_graph(view, "cnb-b", statuses).svg)
    assert f'fill="{STATUS_COLOURS["FAILED"]}"' in groups["cnb-b-node-5"]
    assert f'fill="{STATUS_COLOURS["COMPLETED"]}"' in groups["cnb-b-node-6"]


@needs_dot
def test_a_300_task_fan_out_collapses_to_a_handful_of_nodes() -> None:
    view = fan_out_view(300)
    plan = plan_graph(view)
    assert plan.collapsed
    labels = sorted((box.name, len(box.members)) for box in plan.nodes.values())
    assert labels == [(":electron_list:", 1), (":parameter:0", 300), ("make_data", 1),
                      ("square", 300), ("total", 1)]
    svg = draw_graph(view, "cnb-fan").svg
    groups = node_groups(svg)
    assert len(groups) == 5
    square_key = plan.box_of[2]
    assert "square ×300" in groups[f"cnb-fan-node-{square_key}"]
    assert "values ×300" in svg and ">list</text>" in svg
    assert svg.count('class="edge"') == 4


def test_small_graphs_are_not_collapsed() -> None:
    plan = plan_graph(fan_out_view(COLLAPSE_ABOVE - 3))
    assert not plan.collapsed
    assert sum(box.name == "square" for box in plan.nodes.values()) == COLLAPSE_ABOVE - 3


def test_a_long_chain_keeps_some_steps_and_folds_the_rest() -> None:
    view = {"nodes": [{"node_id": i, "name": "step", "kind": "electron", "status": "NEW_OBJECT"}
                      for i in range(400)],
            "edges": [{"source": i, "target": i + 1, "param": {"kind": "arg", "index": 0}} for i in range(399)]}
    plan = plan_graph(view)
    assert 10 < len(plan.nodes) < 150
    assert sum(len(box.members) for box in plan.nodes.values()) == 400


@pytest.mark.parametrize("members, shown", [
    (["COMPLETED", "FAILED", "RUNNING"], "FAILED"),
    (["COMPLETED", "RUNNING", "NEW_OBJECT"], "RUNNING"),
    (["COMPLETED", "COMPLETED"], "COMPLETED"),
    (["NEW_OBJECT", "NEW_OBJECT"], "NEW_OBJECT"),
    (["COMPLETED", "NEW_OBJECT"], "RUNNING"),
    (["COMPLETED", "CANCELLED", "NEW_OBJECT"], "CANCELLED"),
])
def test_group_status_shows_the_worst_or_most_in_progress(members: list[str], shown: str) -> None:
    assert group_status(members) == shown


def test_style_block_colours_nodes_by_status_and_leaves_parameters_alone() -> None:
    view = small_view()
    plan = plan_graph(view)
    statuses = {n["node_id"]: n["status"] for n in view["nodes"]}
    statuses.update({2: "COMPLETED", 4: "RUNNING", 5: "FAILED"})
    css = status_css(plan, "cnb-s", statuses)
    rules = dict(re.findall(r"^(.*?)\{fill:([^;}]+)", css, re.M))
    by_colour = {colour: selector for selector, colour in rules.items()}
    assert "#cnb-s-node-5 " in by_colour[STATUS_COLOURS["FAILED"]]
    assert "#cnb-s-node-4 " in by_colour[STATUS_COLOURS["RUNNING"]]
    assert "#cnb-s-node-2 " in by_colour[STATUS_COLOURS["COMPLETED"]]
    assert "#cnb-s-node-6 " in by_colour[STATUS_COLOURS["NEW_OBJECT"]]
    assert "cnb-s-node-0 " not in css and "cnb-s-node-3 " not in css  # parameters keep their grey
    assert "animation:cnb-run" in css and "@keyframes cnb-run" in css


def test_a_collapsed_group_is_coloured_by_its_members() -> None:
    view = fan_out_view(100)
    plan = plan_graph(view)
    statuses = {n["node_id"]: n["status"] for n in view["nodes"]}
    squares = [n["node_id"] for n in view["nodes"] if n["name"] == "square"]
    statuses.update({i: "COMPLETED" for i in squares[:40]})
    key = plan.box_of[squares[0]]
    assert plan.box_statuses(statuses)[key] == "RUNNING"          # some done, some waiting
    statuses[squares[50]] = "FAILED"
    assert plan.box_statuses(statuses)[key] == "FAILED"
    css = status_css(plan, "cnb-g", statuses)
    assert f"#cnb-g-node-{key} :is(polygon,ellipse,path){{fill:{STATUS_COLOURS['FAILED']}" in css


def test_without_dot_the_picture_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # Simulated: PATH points at an empty directory, so the graphviz package cannot find `dot`
    # (it raises graphviz.ExecutableNotFound, as on a machine without Graphviz).
    monkeypatch.setenv("PATH", str(tmp_path))
    picture = draw_graph(small_view(), "cnb-none")
    assert picture.svg is None
    assert picture.message == GRAPHVIZ_MISSING
    assert "apt-get install graphviz" in picture.message and "brew install graphviz" in picture.message
    assert len(picture.plan.nodes) == 8          # the plan (and so the node table) is still there
