"""The widget's output preview is the dispatcher's text preview: the output is neither fetched nor unpickled."""

from __future__ import annotations

from typing import Any

import covalent_nb as ct
from covalent_nb.client.http import DispatcherConnection
from covalent_nb.notebook.node_details import fetch_output_preview
from tests.conftest import RunningServer


@ct.electron
def tenfold(values):
    return [10 * v for v in values]


@ct.lattice
def preview_flow(values):
    return tenfold(values)


class RecordingConnection(DispatcherConnection):
    """A real connection that notes every path it asks for."""

    paths: list[str]

    def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        self.paths.append(path)
        return super().request(method, path, *args, **kwargs)


def test_the_preview_comes_from_the_node_route_as_text(server: RunningServer) -> None:
    dispatch_id = ct.dispatch(preview_flow)([1, 2, 3])
    assert ct.get_result(dispatch_id, wait=True).status == "COMPLETED"
    connection = RecordingConnection(server.address, server.port, server.token)
    connection.paths = []
    view = connection.get_json(f"dispatches/{dispatch_id}")
    task = next(n for n in view["nodes"] if n["name"] == "tenfold")
    assert fetch_output_preview(view, connection, task["node_id"]) == "[10, 20, 30]"
    assert connection.paths[1:] == [f"dispatches/{dispatch_id}/nodes/{task['node_id']}"]  # no blob, no payloads
    assert fetch_output_preview(view, None, task["node_id"]).startswith("(no preview")
    running = dict(view, nodes=[dict(n, status="RUNNING") for n in view["nodes"]])
    assert fetch_output_preview(running, connection, task["node_id"]).startswith("(no output")
