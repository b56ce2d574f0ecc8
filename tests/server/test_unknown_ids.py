"""Ids that do not exist are answered with the ids that do, on a real server started through the CLI."""

from __future__ import annotations

import json

import pytest

import covalent_nb as ct
from tests.server.test_api import call


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
