"""The web UI's pages in a real browser, on a real server: live list and graph, task details, actions,
the executors and server pages. Each page's screenshot goes to test-artifacts/ui/."""

from __future__ import annotations

import json

import covalent_nb as ct
from tests.conftest import RunningServer
from tests.server.manifests import raw_request, small_manifest
from tests.webui.browser import api, failing, gate_path, gated, login_link, shoot, wait_until

ELECTRON_BOXES = "#graph g.node[data-kind=electron]"


def log_in(page, server: RunningServer, route: str = "#/") -> None:
    page.goto(login_link(server))
    page.wait_for_selector("#dispatches")
    if route != "#/":
        page.goto(f"http://{server.addr}/ui/{route}")


def box_statuses(page) -> list[str]:
    return page.eval_on_selector_all(ELECTRON_BOXES, "els => els.map(e => e.dataset.status)")


def test_a_dispatch_appears_live_and_its_graph_changes_colour(page, client: RunningServer) -> None:
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    log_in(page, client)
    dispatch_id = ct.dispatch(gated)("gate-live", 3)
    gate = gate_path(client, "gate-live")
    row = page.wait_for_selector(f"#dispatches tr[data-id='{dispatch_id}']")  # no reload: the events brought it
    wait_until(lambda: row.get_attribute("data-status") == "RUNNING", "the row showing RUNNING")
    assert f"ws://{client.addr}/api/v1/events" in sockets
    shoot(page, "ui-list")
    row.query_selector("a.name").click()
    page.wait_for_selector(ELECTRON_BOXES)
    wait_until(lambda: "RUNNING" in box_statuses(page), "a running box")
    assert any(url.endswith(f"events?dispatch_id={dispatch_id}") for url in sockets)
    colours = page.eval_on_selector_all(f"{ELECTRON_BOXES}[data-status=RUNNING] :is(polygon,path)",
                                        "els => els.map(e => getComputedStyle(e).fill)")
    assert colours and all(colour == "rgb(100, 181, 246)" for colour in colours)  # the widget's RUNNING blue
    assert "0/4" in page.inner_text("#dispatch-progress")
    shoot(page, "ui-dispatch")
    gate.touch()
    page.wait_for_selector(".dispatch-head .badge[data-status=COMPLETED]", timeout=60_000)
    wait_until(lambda: set(box_statuses(page)) == {"COMPLETED"}, "every box COMPLETED")
    colours = page.eval_on_selector_all(f"{ELECTRON_BOXES} :is(polygon,path)",
                                        "els => els.map(e => getComputedStyle(e).fill)")
    assert set(colours) == {"rgb(123, 198, 126)"}  # the widget's COMPLETED green
    assert "4/4" in page.inner_text("#dispatch-progress")
    assert page.inner_text("#dispatch-id") == dispatch_id
    assert f'ct.get_result("{dispatch_id}")' in page.inner_text(".snippet")
    assert page.is_hidden("#graph ~ .tasks .pager")  # one page of tasks: no pager
    shoot(page, "ui-dispatch-completed")


def test_a_failed_task_shows_its_traceback_and_stdout(page, client: RunningServer) -> None:
    dispatch_id = ct.dispatch(failing)(7)
    assert ct.get_result(dispatch_id, wait=True).status == "FAILED"
    view = api(client).get_json(f"dispatches/{dispatch_id}")
    node = next(n for n in view["nodes"] if n["name"] == "explode")
    log_in(page, client, f"#/dispatches/{dispatch_id}/tasks/{node['node_id']}")
    details = page.wait_for_selector("#task-details pre.traceback")
    assert "ZeroDivisionError" in details.inner_text() and 'File "analysis.py", line 3, in explode' in details.inner_text()
    assert page.inner_text("#task-details pre.stdout") == "about to divide 7 by zero\n"
    assert "ZeroDivisionError: integer division or modulo by zero" in page.inner_text("#task-details pre.error-text")
    history = page.inner_text("#task-details table.history")
    assert "RUNNING" in history and "FAILED" in history
    assert "dask" in page.inner_text("#task-details table.facts")
    inputs = page.inner_text("#task-details table.inputs")
    assert "arg 0" in inputs and "7" in inputs  # the parameter's preview
    assert page.get_attribute(f"#tasks tr[data-node='{node['node_id']}']", "class") == "selected"
    page.wait_for_selector(f"{ELECTRON_BOXES}[data-status=FAILED]")
    shoot(page, "ui-task", full_page=True)
    other = next(n for n in view["nodes"] if n["name"] == "double")
    page.click(f"#tasks tr[data-node='{other['node_id']}'] a >> nth=0")
    page.wait_for_selector("#task-details pre.preview >> text=14")  # the output's preview
    assert page.url.endswith(f"/tasks/{other['node_id']}")


def test_cancel_a_running_dispatch_then_delete_it(page, client: RunningServer) -> None:
    dispatch_id = ct.dispatch(gated)("closed-gate", 2)
    log_in(page, client, f"#/dispatches/{dispatch_id}")
    page.wait_for_selector(".dispatch-head .badge[data-status=RUNNING]")
    page.click("#cancel-dispatch")
    page.wait_for_selector(".dispatch-head .badge[data-status=CANCELLED]", timeout=60_000)
    wait_until(lambda: "CANCELLED" in box_statuses(page), f"the tasks' box showing CANCELLED {box_statuses(page)}")
    page.click("#delete-dispatch")
    page.click("dialog.confirm [data-confirm=no]")  # asked first; keeping it keeps it
    assert api(client).get_json(f"dispatches/{dispatch_id}")["status"] == "CANCELLED"
    page.click("#delete-dispatch")
    page.wait_for_selector("dialog.confirm")
    shoot(page, "ui-delete")
    page.click("dialog.confirm [data-confirm=yes]")
    page.wait_for_selector("#dispatches")
    assert f"Deleted dispatch gated ({dispatch_id})" in page.inner_text("main .note")
    assert raw_request(client, "GET", f"dispatches/{dispatch_id}")[0] == 404
    assert not page.query_selector(f"#dispatches tr[data-id='{dispatch_id}']")


def test_cancel_one_task(page, client: RunningServer) -> None:
    dispatch_id = ct.dispatch(gated)("gate-one-task", 2)
    gate = gate_path(client, "gate-one-task")
    view = api(client).get_json(f"dispatches/{dispatch_id}")
    first = min(n["node_id"] for n in view["nodes"] if n["name"] == "wait_for_gate")
    log_in(page, client, f"#/dispatches/{dispatch_id}/tasks/{first}")
    page.click("#cancel-task")
    page.wait_for_selector(f"#tasks tr[data-node='{first}'][data-status=CANCELLED]", timeout=60_000)
    gate.touch()
    assert ct.get_result(dispatch_id, wait=True).status == "CANCELLED"
    statuses = {n["node_id"]: n["status"] for n in api(client).get_json(f"dispatches/{dispatch_id}")["nodes"]}
    assert statuses[first] == "CANCELLED" and "COMPLETED" in statuses.values()  # only that task


def test_a_finished_dispatch_opens_no_connection(page, client: RunningServer) -> None:
    dispatch_id = ct.dispatch(gated)(".", 2)  # "." (the data directory) exists: the tasks finish at once
    assert ct.get_result(dispatch_id, wait=True).status == "COMPLETED"
    log_in(page, client, "#/executors")
    page.wait_for_selector("#executors")
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.goto(f"http://{client.addr}/ui/#/dispatches/{dispatch_id}")
    page.wait_for_selector(f"{ELECTRON_BOXES}[data-status=COMPLETED]")
    page.wait_for_timeout(500)
    assert sockets == []


def test_the_task_table_sorts_by_status_and_duration(page, client: RunningServer) -> None:
    dispatch_id = ct.dispatch(failing)(3)
    ct.get_result(dispatch_id, wait=True)
    log_in(page, client, f"#/dispatches/{dispatch_id}")
    page.wait_for_selector("#tasks tbody tr[data-node]")

    def order() -> list[str]:
        return page.eval_on_selector_all("#tasks tbody tr[data-node]", "rows => rows.map(r => r.dataset.status)")
    page.click("#tasks th[data-sort=status]")  # failed first, then running, pending, cancelled, completed
    wait_until(lambda: order() == ["FAILED", "NEW_OBJECT", "COMPLETED"], f"sorted by status: {order()}")  # add_up never ran
    assert page.inner_text("#tasks th[data-sort=status]") == "Status ▲"
    page.click("#tasks th[data-sort=status]")
    wait_until(lambda: order() == ["COMPLETED", "NEW_OBJECT", "FAILED"], f"sorted by status, reversed: {order()}")
    page.click("#tasks th[data-sort=duration]")  # longest first

    def durations() -> list[str]:
        return page.eval_on_selector_all("#tasks tbody tr[data-node]", "rows => rows.map(r => r.cells[5].textContent)")
    wait_until(lambda: page.inner_text("#tasks th[data-sort=duration]") == "Duration ▼", "sorted by duration")
    assert durations()[-1] == "–" and durations()[0] != "–"
    page.check("#all-nodes")
    everything = len(api(client).get_json(f"dispatches/{dispatch_id}")["nodes"])
    wait_until(lambda: len(order()) == everything, "every node listed")


def test_the_list_filters_searches_and_pages(page, client: RunningServer) -> None:
    manifest = small_manifest()
    manifest["name"] = "paged_listing_flow"
    for _ in range(53):
        assert raw_request(client, "POST", "dispatches", json.dumps(manifest).encode())[0] == 201
    failed = ct.dispatch(failing)(1)
    ct.get_result(failed, wait=True)
    log_in(page, client)
    page.fill("#search", "paged_listing")
    wait_until(lambda: page.inner_text("#total") == "53 dispatches", "the search's count")
    assert page.inner_text("#position") == "1–50 of 53"
    page.click("#older")
    wait_until(lambda: page.inner_text("#position") == "51–53 of 53", "the second page")
    assert page.is_disabled("#older") and len(page.query_selector_all("#dispatches tbody tr")) == 3
    page.click("#newer")
    wait_until(lambda: page.inner_text("#position") == "1–50 of 53", "the first page again")
    assert "search=paged_listing" in page.url
    page.fill("#search", failed[:8])
    wait_until(lambda: page.inner_text("#total") == "1 dispatch", "the id prefix's match")
    page.fill("#search", "")
    page.select_option("#status-filter", "FAILED")
    wait_until(lambda: page.query_selector_all("#dispatches tbody tr[data-id]") and all(
        s == "FAILED" for s in page.eval_on_selector_all("#dispatches tbody tr[data-id]",
                                                          "rows => rows.map(r => r.dataset.status)")),
        "only failed dispatches")
    assert page.query_selector(f"#dispatches tr[data-id='{failed}']")


def test_the_executors_page_masks_secrets(page, client: RunningServer) -> None:
    log_in(page, client, "#/executors")
    table = page.wait_for_selector("#executors")
    text = table.inner_text()
    assert "vault" in text and "api_key" in text and "***" in text
    assert "AKIA-very-secret" not in page.content() and "hunter2" not in page.content()
    assert "eu-west-1" in text
    assert page.query_selector("#executors tr[data-executor=dask] .tag").inner_text() == "default"
    shoot(page, "ui-executors")


def test_the_server_page_shows_version_uptime_and_workers(page, client: RunningServer) -> None:
    ct.get_result(ct.dispatch(gated)(".", 1), wait=True)  # the cluster is up
    log_in(page, client, "#/server")
    page.wait_for_selector("#workers tbody tr")
    assert page.inner_text("#server-facts").startswith("version\t" + ct.__version__)
    assert len(page.query_selector_all("#workers tbody tr[data-worker]")) == 2
    first = page.inner_text("#uptime")
    wait_until(lambda: page.inner_text("#uptime") != first, "the uptime moving on", timeout=10)
    shoot(page, "ui-server")


def test_the_graph_pans_zooms_and_a_box_of_many_lists_them(page, client: RunningServer) -> None:
    dispatch_id = ct.dispatch(gated)(".", 70)  # more than COLLAPSE_ABOVE tasks: one box of 70
    assert ct.get_result(dispatch_id, wait=True).status == "COMPLETED"
    log_in(page, client, f"#/dispatches/{dispatch_id}")
    box = page.wait_for_selector(f"{ELECTRON_BOXES}[data-status=COMPLETED] >> text=wait_for_gate ×70")
    svg = page.query_selector("#graph svg")

    def view_box() -> list[float]:
        return [float(v) for v in svg.get_attribute("viewBox").split()]
    home = view_box()
    page.mouse.move(700, 400)
    page.mouse.wheel(0, -300)  # zoom in around the pointer
    wait_until(lambda: view_box()[2] < home[2], "a narrower view after zooming in")
    zoomed = view_box()
    graph = page.query_selector("#graph").bounding_box()
    page.mouse.move(graph["x"] + 50, graph["y"] + 300)
    page.mouse.down()
    page.mouse.move(graph["x"] + 250, graph["y"] + 320, steps=5)
    page.mouse.up()
    panned = view_box()
    assert panned[0] < zoomed[0] and panned[2] == zoomed[2]  # dragged right: the view moved left, same size
    page.click("#graph .graph-tools button >> text=Fit")
    assert view_box() == home
    box.click()
    page.wait_for_selector(".table-tools >> text=70 nodes of one box")
    wait_until(lambda: len(page.query_selector_all("#tasks tbody tr[data-node]")) == 70, "the box's 70 tasks listed")
    page.click(".table-tools button >> text=show all")
    wait_until(lambda: len(page.query_selector_all("#tasks tbody tr[data-node]")) == 71, "all 71 tasks again")
