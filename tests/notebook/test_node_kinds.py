"""The display rules: which nodes are the user's tasks, what a node is called, what a status says."""

from __future__ import annotations

import copy

from covalent_nb._status import Status
from covalent_nb.notebook.dispatch_state import progress_counts
from covalent_nb.notebook.node_kinds import (CELL_DOC, CELL_RESULT, PENDING, describe_nodes, display_status,
                                             is_cell_view, is_user_task)

from .dispatch_views import ViewBuilder, helpers_view


def labels_by_role(view: dict) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for look in describe_nodes(view).values():
        shown.setdefault(look.role, []).append(look.label)
    return shown


def test_tasks_are_electrons_and_sublattices_only() -> None:
    assert is_user_task("electron") and is_user_task("sublattice")
    assert not any(is_user_task(kind) for kind in ("parameter", "collection", "generated", ""))
    view = helpers_view()
    statuses = {n["node_id"]: n["status"] for n in view["nodes"]}
    kinds = {n["node_id"]: n["kind"] for n in view["nodes"]}
    assert len(view["nodes"]) == 17 and progress_counts(statuses, kinds)["total"] == 7


def test_helper_nodes_are_labelled_for_what_they_are() -> None:
    shown = labels_by_role(helpers_view())
    assert sorted(shown["electron"]) == ["load", "prep", "prep", "prep", "report", "scale", "total"]
    assert shown["getitem"] == ["[0]"] and shown["arithmetic"] == ["+"]
    assert shown["collection"] == ["list"] and shown["attribute"] == [".real"]
    assert sorted(shown["parameter"]) == ["'real'", "0", "0", "1", "1", "2"]
    looks = describe_nodes(helpers_view())
    assert all(look.is_helper and not look.is_task for look in looks.values()
               if look.role in ("getitem", "arithmetic", "collection", "attribute"))
    assert looks[0].is_task and not looks[0].is_helper


def test_labels_come_from_node_names_when_a_view_has_no_function_names() -> None:
    view = helpers_view()
    for node in view["nodes"]:
        node.pop("function_name", None)
    assert labels_by_role(view) == labels_by_role(helpers_view())
    b = ViewBuilder("0000", "names")
    out = b.node("split")
    item = b.node(":split()[2]", "generated")               # an unpacked item, its position unknown here
    b.edge(out, item)
    power = b.node("split_**_2", "generated")
    b.edge(out, power)
    sub = b.node(":sublattice:inner", "sublattice")
    odd = b.node(":something:", "generated")
    looks = describe_nodes(b.view)
    assert (looks[item].label, looks[item].role) == ("[2]", "getitem")
    assert (looks[power].label, looks[power].role) == ("**", "arithmetic")
    assert (looks[sub].label, looks[sub].role) == ("inner", "sublattice")
    assert (looks[odd].label, looks[odd].role) == ("something", "helper")


def test_long_keys_and_values_are_shortened() -> None:
    b = ViewBuilder("0000", "long")
    out = b.node("load")
    key = b.node(":parameter:'" + "k" * 60 + "'", "parameter")
    item = b.node(":load.__getitem__", "generated", function_name="getitem")
    b.edge(out, item, index=0)
    b.edge(key, item, index=1)
    looks = describe_nodes(b.view)
    assert len(looks[item].label) == 24 and looks[item].label.startswith("['kkk") and looks[item].label.endswith("…")
    assert len(looks[key].label) == 24


def test_a_cells_output_node_is_the_cell_result() -> None:
    b = ViewBuilder("0000", "covalent_cell")
    y = b.node("add")
    gathered = b.node(":electron_dict:", "collection")
    b.edge(y, gathered)
    b.view["output_node"] = gathered
    assert not is_cell_view(b.view) and describe_nodes(b.view)[gathered].label == "dict"
    cell = copy.deepcopy(b.view)
    cell["lattice"] = {"doc": CELL_DOC}
    assert is_cell_view(cell)
    look = describe_nodes(cell)[gathered]
    assert (look.label, look.role) == (CELL_RESULT, "cell result") and look.is_helper
    assert describe_nodes(cell)[y].label == "add"           # only the output node is renamed


def test_not_started_displays_as_pending_and_other_statuses_keep_their_names() -> None:
    assert display_status("NEW_OBJECT") == PENDING == "pending"
    assert display_status(Status.NEW_OBJECT) == "pending"
    assert [display_status(s) for s in ("RUNNING", "COMPLETED", "FAILED", "CANCELLED")] == \
        ["RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
    assert display_status(Status.COMPLETED) == "COMPLETED"
