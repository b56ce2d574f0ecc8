"""Ids and names that do not exist are answered with those that do, on a real server started through the CLI."""

from __future__ import annotations

import json

import pytest

import covalent_nb as ct
from tests.server.test_api import call
from tests.server.test_unknown_executor import nodes_by_name, two_branches


@ct.electron
def nap(seconds: float) -> float:
    import time
    time.sleep(seconds)
    return seconds


@ct.lattice
def napping(seconds: float) -> float:
    return nap(seconds)


def test_unknown_task_ids_are_answered_with_the_dispatchs_tasks(server):
    dispatch_id = ct.dispatch(napping)(60)
    try:
        status, body = call(server, "POST", f"dispatches/{dispatch_id}/cancel",
                            json.dumps({"task_ids": [99]}).encode())
        assert status == 400
        assert body["error"] == (f"dispatch {dispatch_id} has no task(s) [99]; "
                                 "its tasks are: 0 (:parameter:60), 1 (nap)")
    finally:
        ct.cancel(dispatch_id)
    result = ct.get_result(dispatch_id, wait=True)
    assert result.status == ct.status.CANCELLED
    with pytest.raises(KeyError) as caught:
        result.get_node_result(7)
    assert caught.value.args[0] == f"dispatch {dispatch_id} has no node 7; its nodes are: 0 (:parameter:60), 1 (nap)"


def test_redispatch_warns_of_a_replacement_for_an_electron_the_dispatch_never_called(server):
    with pytest.warns(UserWarning, match="dask_typo"):
        dispatch_id = ct.dispatch(two_branches)(1)

    def dubble(x: int) -> int:
        return 20 * x

    with pytest.warns(UserWarning) as caught:
        again = ct.redispatch(dispatch_id, replace_electrons={"dubble": dubble, "double": dubble})()
    [warning] = [w for w in caught if "replace_electrons" in str(w.message)]
    assert str(warning.message) == (
        f"redispatch of {dispatch_id}: replace_electrons names 'dubble', which that dispatch called no electron "
        "by; it is replaced only if the workflow calls it; its electrons: square, plus_one, double; "
        "did you mean 'double'?")
    assert warning.filename == __file__
    result = ct.get_result(again, wait=True)
    assert nodes_by_name(result)["dubble"]["output"] == 20  # 'double' was replaced all the same
