"""In a real browser: JupyterLab runs a %%covalent cell and its widget shows every node completed.

JupyterLab is started on a free loopback port (with covalent-nb's extension);
Debian's Chromium is driven by Playwright through ``executable_path`` (Playwright's
own browser download does not work here). The screenshot is kept as a test
artifact in ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.jupyter_ext.jupyter_process import JupyterServer, running_jupyter

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

CELLS = [
    "%load_ext covalent_nb",
    "import covalent_nb as ct\n\n"
    "@ct.electron\ndef square(x):\n    import time\n    time.sleep(0.5)\n    return x * x\n\n"
    "@ct.electron\ndef total(values):\n    return sum(values)\n\n"
    "n = 4",
    "%%covalent --name browser_flow -o handle\nanswer = total([square(i) for i in range(n)])",
]


# Lab's user settings for the test: use the notebook's kernel without asking, fetch no news
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
# the outputs of the %%covalent cell in Lab's notebook model
CELL_OUTPUTS = "window.jupyterapp.shell.currentWidget.content.model.cells.get(2).toJSON().outputs"
# a cell prompt that shows a number or '*': the cell ran or runs
STARTED_PROMPT = ("() => [...document.querySelectorAll('.jp-Cell .jp-InputPrompt')]"
                  ".some(p => /\\[[0-9*]+\\]/.test(p.textContent))")
# The notebook's live kernel connection has ipywidgets' comm target: its widget manager is attached.
# (Read from a private field; Lab has no public query for it.)
WIDGETS_ATTACHED = ("() => { const kernel = window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel;"
                    " return !!kernel && kernel.connectionStatus === 'connected'"
                    " && !!(kernel._targetRegistry || {})['jupyter.widget']; }")


def write_lab_settings(jupyter_config_dir: Path) -> None:
    """Write :data:`LAB_SETTINGS` where Lab reads its user settings (``lab/user-settings`` of the config dir)."""
    for plugin, values in LAB_SETTINGS.items():
        path = jupyter_config_dir / "lab" / "user-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextlib.contextmanager
def running_lab(root: Path) -> Iterator[JupyterServer]:
    """JupyterLab under ``root`` for a browser test: Lab's test settings, ``window.jupyterapp`` for the page's
    scripts, ``test-artifacts/`` made; fails at once when Debian's chromium is not installed."""
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed: `bash tests/run` installs it "
                    "(apt-get install chromium)", pytrace=False)
    ARTIFACTS.mkdir(exist_ok=True)
    write_lab_settings(root / "jupyter_config")
    with running_jupyter(root, extra_args=("--LabApp.expose_app_in_browser=True",)) as server:
        yield server


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, driven by ``playwright`` (its own browser download does not work here)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def write_notebook(path: Path) -> None:
    """The test's notebook (:data:`CELLS`, no outputs) at ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def start_notebook_session(server: JupyterServer, path: str) -> None:
    """The notebook's session and kernel, started before the page opens: Lab joins it, asking nothing."""
    answer = server.request("POST", "api/sessions", {"path": path, "type": "notebook", "name": path,
                                                     "kernel": {"name": "python3"}})
    assert answer.status == 201, answer.body


def page_state(page: Page, server: JupyterServer, console: list[str]) -> str:
    """What the cells show, the browser's console and the server's log, for a failure message."""
    cells = "\n---\n".join(page.locator(".jp-Cell").all_inner_texts())
    return (f"--- cells ---\n{cells}\n--- browser console ---\n" + "\n".join(console[-60:])
            + f"\n--- server log (end) ---\n{server.log()[-4000:]}")


def open_notebook(page: Page, server: JupyterServer, path: str, console: list[str], attempts: int = 3) -> None:
    """Open ``path`` in Lab and wait until its kernel is idle with ipywidgets attached (reloading if not)."""
    for _ in range(attempts):
        page.goto(f"{server.url}lab/tree/{path}?token={server.token}", timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands", timeout=60_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        try:
            page.wait_for_function(WIDGETS_ATTACHED, timeout=30_000)
            return
        except PlaywrightTimeout:
            pass  # ipywidgets stayed on a closed connection: load the page again
    raise AssertionError(f"ipywidgets never attached to the notebook's kernel\n{page_state(page, server, console)}")


def run_all_cells(page: Page, server: JupyterServer, console: list[str]) -> None:
    """Run every cell; asks again if Lab dropped the command (a kernel dialog, a notebook not yet current)."""
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    for _ in range(3):
        # fire and forget: the command's promise settles only when every cell has run
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if page.evaluate(STARTED_PROMPT):
                return
            if dialog.count() and dialog.first.is_visible():  # Lab asks which kernel to use: take the default
                dialog.first.click()
            page.wait_for_timeout(250)
    raise AssertionError(f"no cell started running\n{page_state(page, server, console)}")


def wait_for_widget(page: Page, server: JupyterServer, console: list[str], cell: int,
                    timeout: float = 180.0) -> Locator:
    """The ``.cnb-dispatch`` widget in cell ``cell``'s output; fails at once on a widget error."""
    widget = page.locator(".jp-Cell").nth(cell).locator(".cnb-dispatch")
    deadline = time.monotonic() + timeout
    while not widget.count():
        output = "".join(page.locator(".jp-Cell").nth(cell).locator(".jp-OutputArea").all_inner_texts())
        shown = "a widget error" if "Error displaying widget" in output else "no widget"
        assert shown == "no widget" and time.monotonic() < deadline, \
            f"the %%covalent cell showed {shown}\n{page_state(page, server, console)}"
        page.wait_for_timeout(250)
    return widget


def test_widget_in_jupyterlab_shows_every_node_completed(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with running_lab(tmp_path) as server:
        write_notebook(tmp_path / "notebooks" / "widget.ipynb")
        start_notebook_session(server, "widget.ipynb")
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                console: list[str] = []
                page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
                page.set_default_timeout(120_000)
                open_notebook(page, server, "widget.ipynb", console)
                run_all_cells(page, server, console)
                widget = wait_for_widget(page, server, console, cell=2)
                page.wait_for_function(  # the header's status badge, not a node's
                    "() => { const w = document.querySelectorAll('.jp-Cell')[2]?.querySelector('.cnb-dispatch');"
                    " const badge = w && w.querySelector('.cnb-summary .cnb-status');"
                    " return badge && badge.dataset.status === 'COMPLETED'; }", timeout=120_000)
                # the kernel then updates the output's fallback (display id): wait for it in Lab's model
                page.wait_for_function(f"() => JSON.stringify({CELL_OUTPUTS}).includes("
                                       "'data-status=\\\\\"COMPLETED\\\\\"')", timeout=60_000)
                page.wait_for_timeout(500)  # the last throttled refresh
                header = widget.inner_text()
                nodes = widget.locator("svg g.node")
                titles = [nodes.nth(i).locator("title").text_content() for i in range(nodes.count())]
                labels = [text.strip() for text in widget.locator("svg g.node text").all_text_contents()]
                page.screenshot(path=str(ARTIFACTS / "jupyterlab-widget.png"), full_page=True)
                page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "jupyterlab-widget-failed.png"), full_page=True)
                raise
            finally:
                browser.close()
    assert "COMPLETED" in header
    assert "browser_flow" in header
    assert len(titles) >= 5, titles                    # 4 squares, the list, total (+ parameters)
    assert sum(label == "square" for label in labels) == 4, labels
    assert "total" in labels
    assert "list" in labels and "cell result" in labels, labels   # helpers say what they are
    assert "of 5" in header                            # the 5 electrons, not the helpers or parameters
    # the saved notebook keeps the final picture and summary for viewers without widgets
    saved = nbformat.read(tmp_path / "notebooks" / "widget.ipynb", as_version=4)
    shown = [o for o in saved.cells[2].outputs if "text/html" in o.get("data", {})]
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]["data"]
    assert 'data-status="COMPLETED"' in shown[0]["data"]["text/html"] and "<svg" in shown[0]["data"]["text/html"]
    assert "COMPLETED" in shown[0]["data"]["text/plain"]
