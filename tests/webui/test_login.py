"""The standalone server's login in a real browser: the token, one-time links, the session cookie, logout,
XSRF protection and the same-origin rule."""

from __future__ import annotations

import http.client
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import RunningServer
from tests.webui.browser import api, login_link, shoot


def session_cookie(page, server: RunningServer) -> dict:
    cookies = {c["name"]: c for c in page.context.cookies()}
    return cookies.get(f"covalent_nb_session_{server.port}")


def raw(server: RunningServer, method: str, path: str, headers: dict[str, str], body: bytes | None = None):
    """A request with exactly these headers (no token unless given): ``(status, body)``."""
    conn = http.client.HTTPConnection(server.address, server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def cookie_header(page) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())


def test_log_in_with_the_token_then_log_out(page, ui_server: RunningServer) -> None:
    page.goto(f"http://{ui_server.addr}/")  # the root goes to the UI, which asks for a login first
    page.wait_for_selector("form.login")
    assert page.url == f"http://{ui_server.addr}/ui/login"
    shoot(page, "ui-login")
    page.fill("#token", ui_server.token)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#dispatches")
    cookie = session_cookie(page, ui_server)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert 6.9 * 86400 < cookie["expires"] - __import__("time").time() <= 7 * 86400 + 60  # server.session_days
    assert "covalent_nb_session" not in page.evaluate("document.cookie")  # scripts cannot read it
    logged_in = cookie_header(page)
    assert raw(ui_server, "GET", "/api/v1/dispatches", {"Cookie": logged_in})[0] == 200
    page.click(".bar .logout button")
    page.wait_for_selector("form.login")
    assert "You are logged out." in page.inner_text("form.login")
    assert session_cookie(page, ui_server) is None
    assert raw(ui_server, "GET", "/api/v1/dispatches", {"Cookie": logged_in})[0] == 401  # the old cookie is dead
    page.goto(f"http://{ui_server.addr}/ui/")
    page.wait_for_selector("form.login")


def test_a_wrong_token_is_refused(page, ui_server: RunningServer) -> None:
    page.goto(f"http://{ui_server.addr}/ui/login")
    page.fill("#token", "not-the-token")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("form.login button[type=submit]")
    assert posted.value.status == 403
    assert "That is not the server's token." in page.inner_text("form.login .error")
    assert session_cookie(page, ui_server) is None
    page.goto(f"http://{ui_server.addr}/ui/")
    page.wait_for_selector("form.login")  # still not logged in


def test_the_login_form_needs_its_xsrf_field(ui_server: RunningServer) -> None:
    body = f"token={ui_server.token}".encode()
    status, _ = raw(ui_server, "POST", "/ui/login", {"Content-Type": "application/x-www-form-urlencoded"}, body)
    assert status == 403


def test_a_deep_link_survives_the_login(page, client: RunningServer) -> None:
    page.goto(f"http://{client.addr}/ui/#/executors")
    page.wait_for_selector("form.login")
    page.fill("#token", client.token)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#executors")
    assert page.url.endswith("/ui/#/executors")


def test_a_one_time_link_works_once(page, browser, ui_server: RunningServer) -> None:
    link = login_link(ui_server)
    page.goto(link)
    page.wait_for_selector("#dispatches")
    assert session_cookie(page, ui_server) is not None
    other = browser.new_context()
    try:
        again = other.new_page()
        answer = again.goto(link)
        assert answer.status == 403 and "expired or was used" in again.inner_text("form.login .error")
        assert not [c for c in other.cookies() if c["name"].startswith("covalent_nb_session")]
    finally:
        other.close()
    assert raw(ui_server, "GET", "/ui/login?once=made-up", {})[0] == 403
    assert raw(ui_server, "POST", "/api/v1/login-codes", {})[0] == 401  # codes only for the token's holder
    assert link.split("once=")[1] not in (ui_server.data_dir / "server.log").read_text()


def test_covalent_nb_start_prints_and_ui_opens_a_login_link(page, ui_server: RunningServer, tmp_path: Path) -> None:
    started = ui_server.cli("start", "--address", "127.0.0.1", "--port", str(ui_server.port))
    assert f"web UI: http://{ui_server.addr}/ui/" in started.stdout  # already running: the plain address
    opener = tmp_path / "browser.sh"
    opened = tmp_path / "opened.txt"
    opener.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    opener.chmod(opener.stat().st_mode | stat.S_IXUSR)
    done = subprocess.run([sys.executable, "-m", "covalent_nb", "ui"], capture_output=True, text=True, timeout=60,
                          env=dict(ui_server.env, BROWSER=f"{opener} %s"))
    assert done.returncode == 0, done.stderr
    link = opened.read_text().strip()
    assert link.startswith(f"http://{ui_server.addr}/ui/login?once=") and link in done.stdout
    page.goto(link)
    page.wait_for_selector("#dispatches")


def test_a_fresh_start_prints_a_working_link(page, tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    env = dict(os.environ, COVALENT_NB_CONFIG_DIR=str(tmp_path / "config"), COVALENT_NB_DATA_DIR=str(tmp_path / "data"))
    env.pop("COVALENT_NB_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "covalent_nb", "start", "--address", "127.0.0.1", "--port",
                           str(port), "--workers", "1", "--no-cluster"], capture_output=True, text=True, env=env,
                          timeout=120)
    try:
        assert done.returncode == 0, done.stderr
        link = next(line.split("web UI: ", 1)[1] for line in done.stdout.splitlines() if "web UI: " in line)
        assert link.startswith(f"http://127.0.0.1:{port}/ui/login?once=")
        page.goto(link)
        page.wait_for_selector("#dispatches")
        secret = tmp_path / "data" / "cookie_secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    finally:
        subprocess.run([sys.executable, "-m", "covalent_nb", "stop"], env=env, capture_output=True, timeout=60)


def test_a_post_without_xsrf_protection_is_refused(page, client: RunningServer) -> None:
    import covalent_nb as ct
    from tests.webui.browser import gated

    dispatch_id = ct.dispatch(gated)("closed-gate", 1)
    page.goto(login_link(client))
    page.wait_for_selector("#dispatches")
    cancel = ("async ([path, header]) => { const r = await fetch(path, {method: 'POST', credentials: 'same-origin',"
              " headers: header ? {'X-XSRFToken': decodeURIComponent(document.cookie.split('; ')"
              ".find(c => c.startsWith('_xsrf=')).slice(6))} : {}, body: '{}'}); return [r.status, await r.text()]; }")
    path = f"/api/v1/dispatches/{dispatch_id}/cancel"
    status, text = page.evaluate(cancel, [path, False])
    assert status == 403 and "X-XSRFToken" in json.loads(text)["error"]
    assert api(client).get_json(f"dispatches/{dispatch_id}")["status"] == "RUNNING"  # nothing was done
    status, text = page.evaluate(cancel, [path, True])
    assert status == 200, text
    assert ct.get_result(dispatch_id, wait=True).status == "CANCELLED"


def test_a_cookie_session_never_works_cross_origin(page, client: RunningServer) -> None:
    page.goto(login_link(client))
    page.wait_for_selector("#dispatches")
    cookies = cookie_header(page)
    xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
    same = {"Cookie": cookies, "Origin": f"http://{client.addr}"}
    assert raw(client, "GET", "/api/v1/dispatches", same)[0] == 200
    for foreign in ({"Origin": "http://127.0.0.1:1"}, {"Sec-Fetch-Site": "same-site"},
                    {"Sec-Fetch-Site": "cross-site"}):
        status, body = raw(client, "GET", "/api/v1/dispatches", {"Cookie": cookies, **foreign})
        assert status == 403 and b"another origin" in body, foreign
        status, _ = raw(client, "POST", "/api/v1/gc", {"Cookie": cookies, "X-XSRFToken": xsrf, **foreign}, b"{}")
        assert status == 403
    assert raw(client, "POST", "/api/v1/gc", {"Cookie": cookies, "X-XSRFToken": xsrf, **same}, b"{}")[0] == 200

    handshake = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Cookie": cookies}
    assert raw(client, "GET", "/api/v1/events", {**handshake, "Origin": f"http://{client.addr}"})[0] == 101
    assert raw(client, "GET", "/api/v1/events", {**handshake, "Origin": "http://127.0.0.1:1"})[0] == 403
