"""In a real browser: JupyterLab runs a %%covalent cell and its widget shows every node completed.

JupyterLab is started on a free loopback port (with covalent-nb's extension);
Debian's Chromium is driven by Playwright through ``executable_path`` (Playwright's
own browser download does not work here). The screenshot is kept as a test
artifact in ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest

from tests.jupyter_ext.jupyter_process import running_jupyter

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


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_widget_in_jupyterlab_shows_every_node_completed(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with running_jupyter(tmp_path, extra_args=("--LabApp.expose_app_in_browser=True",)) as server:
        write_notebook(tmp_path / "notebooks" / "widget.ipynb")
        # the notebook's kernel session exists before the page opens: Lab then asks no kernel question
        session = server.request("POST", "api/sessions", {"path": "widget.ipynb", "type": "notebook",
                                                          "name": "widget.ipynb", "kernel": {"name": "python3"}})
        assert session.status == 201, session.body
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(120_000)
                page.goto(f"{server.url}lab/tree/widget.ipynb?token={server.token}", timeout=120_000)
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
                page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands", timeout=60_000)
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
                # fire and forget: the command's promise settles only when every cell has run
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
                widget = page.locator(".jp-Cell").nth(2).locator(".cnb-dispatch")
                dialog = page.locator(".jp-Dialog .jp-mod-accept")
                deadline = time.monotonic() + 120
                while not widget.count():  # Lab may still ask which kernel to use: take the default
                    assert time.monotonic() < deadline, "the %%covalent cell showed no widget"
                    if dialog.count() and dialog.first.is_visible():
                        dialog.first.click()
                    page.wait_for_timeout(250)
                page.wait_for_function(  # the header's status badge, not a node's
                    "() => { const w = document.querySelectorAll('.jp-Cell')[2]?.querySelector('.cnb-dispatch');"
                    " const badge = w && w.querySelector('.cnb-summary .cnb-status');"
                    " return badge && badge.dataset.status === 'COMPLETED'; }", timeout=120_000)
                page.wait_for_timeout(500)  # the last throttled refresh
                header = widget.inner_text()
                nodes = widget.locator("svg g.node")
                titles = [nodes.nth(i).locator("title").text_content() for i in range(nodes.count())]
                labels = [text.strip() for text in widget.locator("svg g.node text").all_text_contents()]
                page.screenshot(path=str(ARTIFACTS / "jupyterlab-widget.png"), full_page=True)
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
