"""The UI's page and assets as a real server answers them: caching by content hash, the page's policy."""

from __future__ import annotations

import http.client
import json
import re

from covalent_nb.webui import STATIC_DIR, asset_url
from tests.conftest import RunningServer
from tests.webui.browser import login_link


def get(server: RunningServer, path: str, headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection(server.address, server.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def logged_in_cookie(server: RunningServer) -> str:
    status, headers, _ = get(server, "/" + login_link(server).split("/", 3)[3])
    assert status == 302 and headers["Location"] == "/ui/#/"
    return headers["Set-Cookie"].split(";", 1)[0]


def test_assets_are_cached_by_content_hash(ui_server: RunningServer) -> None:
    url = asset_url("js/app.js")
    assert re.fullmatch(r"static/js/app\.js\?v=[0-9a-f]{12}", url)
    status, headers, body = get(ui_server, "/ui/" + url)
    assert status == 200 and body == (STATIC_DIR / "js" / "app.js").read_bytes()
    assert headers["Cache-Control"] == "public, max-age=315360000, immutable"
    assert headers["Content-Type"].startswith(("application/javascript", "text/javascript"))
    status, headers, _ = get(ui_server, "/ui/static/js/app.js")
    assert status == 200 and headers["Cache-Control"] == "no-cache" and headers["Etag"]
    assert get(ui_server, "/ui/static/js/app.js", {"If-None-Match": headers["Etag"]})[0] == 304
    assert get(ui_server, "/ui/static/../__init__.py")[0] in (403, 404)
    assert get(ui_server, "/ui")[0] == 302


def test_the_page_maps_every_module_to_its_hash(ui_server: RunningServer) -> None:
    assert get(ui_server, "/ui/")[1]["Location"] == "/ui/login"  # no session: the login first
    status, headers, body = get(ui_server, "/ui/", {"Cookie": logged_in_cookie(ui_server)})
    assert status == 200 and headers["Cache-Control"] == "no-cache, private"
    page = body.decode()
    nonce = re.search(r"'nonce-([^']+)'", headers["Content-Security-Policy"]).group(1)
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy and "connect-src 'self'" in policy
    imports = json.loads(re.search(r'<script type="importmap" nonce="' + re.escape(nonce) + r'">(.*?)</script>',
                                   page, re.S).group(1))["imports"]
    modules = sorted(p.name for p in (STATIC_DIR / "js").glob("*.js"))
    assert sorted(key.rsplit("/", 1)[1] for key in imports) == modules
    assert all(value == "./" + asset_url(f"js/{key.rsplit('/', 1)[1]}") for key, value in imports.items())
    assert 'src="static/js/app.js?v=' in page and "http://" not in page and "https://" not in page  # nothing from elsewhere


def test_no_asset_comes_from_elsewhere() -> None:
    for path in STATIC_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"https?://", text), f"{path.name} names another site"
            assert not re.search(r"""(import|from)\s*\(?\s*["'](?!\./)""", text), f"{path.name} imports a package"
