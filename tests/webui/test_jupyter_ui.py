"""The same pages under a real Jupyter server, at {base_url}covalent/ui/, behind Jupyter's own login.

The page's calls carry Jupyter's cookie and repeat its ``_xsrf`` cookie in a
header; a state-changing call without it is refused. The page may be framed
by a page of the same origin (the JupyterLab side panel does).
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from tests.jupyter_ext.jupyter_process import JupyterServer, running_jupyter
from tests.webui.browser import failing, gated, manifest_with_payloads, shoot, wait_until

UI = "covalent/ui/"


def post_dispatch(server: JupyterServer, manifest: dict) -> str:
    answer = server.request("POST", "covalent/api/v1/dispatches", manifest)
    assert answer.status == 201, answer.body
    return answer.json()["dispatch_id"]


def status_of(server: JupyterServer, dispatch_id: str) -> int | str:
    answer = server.get(f"covalent/api/v1/dispatches/{dispatch_id}?status_only=1")
    return answer.json()["status"] if answer.status == 200 else answer.status


def anonymous(server: JupyterServer, path: str) -> tuple[int, str]:
    """``GET`` without any login, redirects not followed: ``(status, Location)``."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        answer.read()
        return answer.status, answer.getheader("Location") or ""
    finally:
        conn.close()


def test_the_pages_under_jupyter(page, tmp_path: Path) -> None:
    with running_jupyter(tmp_path / "jupyter") as server:
        status, location = anonymous(server, f"/{UI}")
        assert status == 302 and "/login?next=%2Fcovalent%2Fui%2F" in location  # Jupyter's login first
        assert anonymous(server, f"/{UI}static/js/app.js")[0] in (302, 403)
        response = page.goto(f"{server.url}{UI}?token={server.token}")  # Jupyter's own token login
        page.wait_for_selector("#dispatches")
        assert "frame-ancestors 'self'" in response.headers["content-security-policy"]
        assert "x-frame-options" not in response.headers
        assert not page.query_selector(".bar .logout")  # Jupyter has its own logout

        gate = tmp_path / "gate"
        running = post_dispatch(server, manifest_with_payloads(gated, str(gate), 2))
        row = page.wait_for_selector(f"#dispatches tr[data-id='{running}']", timeout=60_000)  # live, no reload
        shoot(page, "ui-jupyter-list")
        row.query_selector("a.name").click()
        page.wait_for_selector("#graph g.node[data-kind=electron][data-status=RUNNING]", timeout=60_000)
        refused = page.evaluate(
            "async (path) => (await fetch(path, {method: 'POST', credentials: 'same-origin', body: '{}'})).status",
            f"/covalent/api/v1/dispatches/{running}/cancel")
        assert refused == 403 and status_of(server, running) == "RUNNING"
        page.click("#cancel-dispatch")  # with the X-XSRFToken header: Jupyter takes it
        page.wait_for_selector(".dispatch-head .badge[data-status=CANCELLED]", timeout=60_000)
        page.click("#delete-dispatch")
        page.click("dialog.confirm [data-confirm=yes]")
        page.wait_for_selector("#dispatches")
        assert status_of(server, running) == 404

        broken = post_dispatch(server, manifest_with_payloads(failing, 5))
        page.goto(f"{server.url}{UI}#/dispatches/{broken}")
        page.wait_for_selector(".dispatch-head .badge[data-status=FAILED]", timeout=60_000)
        page.click("#tasks tr[data-status=FAILED] a >> nth=0")
        assert "ZeroDivisionError" in page.wait_for_selector("#task-details pre.traceback").inner_text()
        assert "about to divide 5 by zero" in page.inner_text("#task-details pre.stdout")
        shoot(page, "ui-jupyter-task")

        page.goto(f"{server.url}{UI}#/server")
        page.wait_for_selector("#server-facts")
        page.goto(f"{server.url}{UI}#/executors")
        page.wait_for_selector("#executors tr[data-executor=dask]")

        # framed by a page of the same origin, as JupyterLab's side panel frames it
        page.goto(f"{server.url}static/favicon.ico")  # a page of the same origin whose policy allows frames
        page.evaluate("(src) => { const f = document.createElement('iframe'); f.src = src; f.id = 'ui';"
                      " f.width = 1200; f.height = 800; document.body.append(f); }", f"/{UI}#/dispatches/{broken}")
        frame = page.frame_locator("#ui")
        frame.locator("#dispatch-id").wait_for()
        assert frame.locator("#dispatch-id").inner_text() == broken
        wait_until(lambda: "FAILED" in frame.locator(".dispatch-head .badge").inner_text(), "the framed page's status")
        assert json.loads(server.get("covalent/api/v1/health").body)["status"] == "ok"
