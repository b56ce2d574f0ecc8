"""Fixtures of the web UI's tests: a real server (with executor settings holding secrets) and Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

import covalent_nb as ct
from tests.conftest import RunningServer, start_server
from tests.webui.browser import CHROMIUM, launch_chromium

SERVER_CONFIG = """\
[executors.vault]
region = "eu-west-1"
api_key = "AKIA-very-secret"
password = "hunter2"
"""


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A dispatcher started through the CLI, whose config names an executor with secrets."""
    root = tmp_path_factory.mktemp("webui")
    (root / "config").mkdir()
    (root / "config" / "covalent.conf").write_text(SERVER_CONFIG)
    server = start_server(root, workers=2)
    try:
        yield server
    finally:
        server.cli("stop")


@pytest.fixture
def client(ui_server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """This process as a client of ``ui_server`` (ct.dispatch and ct.get_result go there)."""
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "client_config"))
    monkeypatch.setenv("COVALENT_NB_TOKEN", ui_server.token)
    ct.reload_config()
    ct.set_config({"dispatcher.address": ui_server.address, "dispatcher.port": ui_server.port})
    yield ui_server
    monkeypatch.undo()
    ct.reload_config()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by Playwright (per module: Playwright's synchronous API keeps an
    event loop running in this thread, which the asynchronous tests of other modules need free)."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: `bash tests/run` installs it (apt-get install chromium)",
                    pytrace=False)
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A page in a fresh browser context (no cookies), 1400x900, 20 s default timeout."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"
