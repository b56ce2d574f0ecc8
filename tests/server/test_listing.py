"""``GET dispatches``: search by name or id prefix, counts, and the user's tasks' progress."""

from __future__ import annotations

import urllib.parse

import covalent_nb as ct
from tests.conftest import RunningServer
from tests.server.test_api import call


@ct.electron
def one(x):
    return x


@ct.lattice
def Listing_Alpha_flow(x):
    return one(one(x))


@ct.lattice
def listing_beta_flow(x):
    return [one(x), one(x + 1)]


def listed(server: RunningServer, query: str) -> dict:
    status, body = call(server, "GET", f"dispatches?{query}")
    assert status == 200, body
    return body


def test_search_matches_names_anywhere_and_ids_by_prefix(server: RunningServer) -> None:
    alpha = ct.dispatch(Listing_Alpha_flow)(1)
    beta = ct.dispatch(listing_beta_flow)(1)
    ct.get_result(alpha, wait=True)
    ct.get_result(beta, wait=True)
    names = {d["id"] for d in listed(server, "search=alpha_FLOW")["dispatches"]}
    assert alpha in names and beta not in names
    both = {d["id"] for d in listed(server, "search=" + urllib.parse.quote("listing_"))["dispatches"]}
    assert {alpha, beta} <= both
    assert [d["id"] for d in listed(server, f"search={beta[:8]}")["dispatches"]] == [beta]
    assert listed(server, f"search={beta[2:10]}")["dispatches"] == []  # ids match by their start only
    assert listed(server, "search=" + urllib.parse.quote("%"))["dispatches"] == []  # no wildcards
    assert listed(server, "search=listingXbeta")["dispatches"] == []  # '_' stands for itself


def test_counts_and_task_progress(server: RunningServer) -> None:
    beta = ct.dispatch(listing_beta_flow)(5)
    ct.get_result(beta, wait=True)
    body = listed(server, f"search={beta}&count=1")
    assert body["total"] == 1
    (record,) = body["dispatches"]
    assert record["task_progress"] == {"COMPLETED": 2}  # the two electrons; not the list or the parameters
    assert sum(record["progress"].values()) == record["node_count"] > 2
    everything = listed(server, "count=1&limit=1")
    assert everything["total"] >= 2 and len(everything["dispatches"]) == 1 and everything["next"]
    assert "total" not in listed(server, "limit=1")
    assert listed(server, "status=FAILED&search=listing_&count=1")["total"] == 0


def test_a_bad_search_is_400(server: RunningServer) -> None:
    status, body = call(server, "GET", "dispatches?search=" + "x" * 201)
    assert status == 400 and "'search'" in body["error"]
    assert call(server, "GET", "dispatches?search=%0A")[0] == 200  # blank: no filter
    assert call(server, "GET", "dispatches?search=a%0Ab")[0] == 400
