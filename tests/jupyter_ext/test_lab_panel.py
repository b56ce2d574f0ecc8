"""In a real browser: JupyterLab's "Covalent" side panel lists a dispatch made from a notebook's kernel.

JupyterLab runs on a free loopback port with covalent-nb's extensions: the
server extension (the dispatcher inside) and the side panel, installed by
covalent-nb's own install (the test environment's ``pip install -e .``, as
``bash tests/run`` does). A kernel of that server dispatches workflows; the
panel, opened in Debian's Chromium driven by Playwright, shows the slow one
as it runs and then COMPLETED, without a reload (the events WebSocket), and a
click opens the dispatch's page of the web UI in a main-area tab. Only the
tab's iframe address is checked, not the page in it: the web UI is its own
part. A screenshot of the panel is kept in ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import Page

from tests.jupyter_ext.jupyter_process import JupyterServer
from tests.jupyter_ext.kernel_client import KernelClient
from tests.jupyter_ext.test_browser import ARTIFACTS, launch_chromium, running_lab

PANEL = "#covalent-nb-panel"
PANEL_TAB = ".jp-SideBar [data-id='covalent-nb-panel']"

WORKFLOWS = """
    import time
    import covalent_nb as ct

    @ct.electron
    def square(x):
        return x * x

    @ct.electron
    def slow_square(x):
        time.sleep(1.5)
        return x * x

    @ct.electron
    def total(values):
        return sum(values)

    @ct.electron
    def broken(x):
        raise ValueError("no")

    @ct.lattice
    def quick_sum(n):
        return total([square(i) for i in range(n)])

    @ct.lattice
    def fails(n):
        return broken(n)

    @ct.lattice
    def slow_chain(n):
        return total([slow_square(slow_square(i)) for i in range(n)])

    for lattice in (quick_sum, fails):
        ct.get_result(ct.dispatch(lattice)(3), wait=True)
"""

DISPATCH_SLOW = "print('dispatched', ct.dispatch(slow_chain)(2))"

# the link a notebook output gives a dispatch's page (the widget's header, %covalent ui), made by the kernel
PAGE_LINK = """
    from covalent_nb.client.connect import connection
    from covalent_nb.notebook.ui_links import ui_link_html
    print(ui_link_html(connection().url, {dispatch_id!r}, "its page", name="quick_sum"))
"""
# puts that link on top of Lab's page, as an output would show it
SHOW_LINK = ("html => { const box = document.createElement('div'); box.id = 'cnb-test-link';"
             " box.style = 'position:fixed;top:4px;right:240px;z-index:10000;background:#fff'; box.innerHTML = html;"
             " document.body.append(box); }")


# The kernel client runs its own event loop, which cannot run in the thread of Playwright's
# sync API (it has one running there): every kernel call goes through this one other thread,
# which has a current event loop as a main thread has (closing the websocket asks for one).
KERNEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel",
                                   initializer=lambda: asyncio.set_event_loop(asyncio.new_event_loop()))


def run(kernel: KernelClient, server: JupyterServer, code: str) -> str:
    """Run ``code`` in the kernel; its stdout (the test fails on an error)."""
    outcome = KERNEL_THREAD.submit(kernel.execute, textwrap.dedent(code).lstrip("\n"), 120).result()
    assert outcome.error is None, f"{outcome}\n--- server log ---\n{server.log()[-4000:]}"
    return outcome.stdout


def item_status(page: Page, dispatch_id: str) -> str | None:
    """The status the panel shows for the dispatch (None while it is not listed)."""
    return page.evaluate("id => document.querySelector(`#covalent-nb-panel li[data-dispatch-id='${id}']`)"
                         "?.dataset.status ?? null", dispatch_id)


def open_panel(page: Page, server: JupyterServer) -> None:
    """Open Lab, then the Covalent panel from the left sidebar; wait until it follows the events live."""
    page.goto(f"{server.url}lab?token={server.token}", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands", timeout=120_000)
    page.locator(PANEL_TAB).click()
    page.wait_for_selector(f"{PANEL} .cnb-lab-list li", timeout=60_000)
    page.wait_for_selector(f"{PANEL} .cnb-lab-connection[data-state='live']", timeout=60_000)


def test_side_panel_lists_a_notebook_dispatch_live_and_opens_its_page(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with running_lab(tmp_path) as server:
        kernel = KERNEL_THREAD.submit(server.start_kernel).result()
        run(kernel, server, WORKFLOWS)  # two finished dispatches: the panel lists them as it opens
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            console: list[str] = []
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
            try:
                open_panel(page, server)
                listed_first = page.locator(f"{PANEL} li.cnb-lab-dispatch").count()
                page.evaluate("() => { window.cnbSamePage = true; }")  # gone if the page reloads

                started = time.monotonic()
                redraws_before = int(page.locator(PANEL).get_attribute("data-redraws") or 0)
                dispatch_id = run(kernel, server, DISPATCH_SLOW).split()[-1]
                seen: list[str] = []
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    status = item_status(page, dispatch_id)
                    if status and (not seen or seen[-1] != status):
                        seen.append(status)
                        if status == "RUNNING":  # the picture: a task or two done, the others running
                            page.wait_for_timeout(1700)
                            page.screenshot(path=str(ARTIFACTS / "lab-panel.png"))
                    if status == "COMPLETED":
                        break
                    page.wait_for_timeout(100)
                elapsed = time.monotonic() - started
                page.wait_for_timeout(600)  # the last throttled redraw
                redraws = int(page.locator(PANEL).get_attribute("data-redraws") or 0) - redraws_before
                item = page.locator(f"{PANEL} li[data-dispatch-id='{dispatch_id}']")
                item_text = item.inner_text()
                names = page.locator(f"{PANEL} .cnb-lab-name").all_inner_texts()
                same_page = page.evaluate("() => window.cnbSamePage === true")
                listed = server.get("covalent/api/v1/dispatches?limit=1").json()["dispatches"][0]

                item.click()
                tab = f"#covalent-nb-dispatch-{dispatch_id}"
                page.wait_for_selector(f"{tab} iframe", state="attached", timeout=30_000)
                src = page.locator(f"{tab} iframe").get_attribute("src")
                current = page.evaluate("() => window.jupyterapp.shell.currentWidget?.id")
                tab_label = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current").inner_text()
                item.click()  # again: the same tab, not a second one
                page.wait_for_timeout(500)
                tabs = page.locator(tab).count()

                quick_id = page.locator(f"{PANEL} li.cnb-lab-dispatch").nth(2).get_attribute("data-dispatch-id")
                link_html = run(kernel, server, PAGE_LINK.format(dispatch_id=quick_id)).strip()
                page.evaluate(SHOW_LINK, link_html)
                page.locator("#cnb-test-link a").click()
                quick_tab = f"#covalent-nb-dispatch-{quick_id}"
                page.wait_for_selector(f"{quick_tab} iframe", state="attached", timeout=30_000)
                quick_src = page.locator(f"{quick_tab} iframe").get_attribute("src")
                pages = len(browser.contexts[0].pages)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "lab-panel-failed.png"), full_page=True)
                print("--- browser console ---\n" + "\n".join(console[-60:]))
                print(f"--- server log (end) ---\n{server.log()[-4000:]}")
                raise
            finally:
                browser.close()
                KERNEL_THREAD.submit(kernel.shutdown).result()

    assert listed_first == 2, "the panel listed the two earlier dispatches as it opened"
    assert seen and seen[-1] == "COMPLETED", f"the panel never showed the dispatch COMPLETED (saw {seen})"
    assert len(seen) >= 2 and seen[0] in ("NEW_OBJECT", "STARTING", "RUNNING"), \
        f"the panel did not show the dispatch before it ended, then its end (saw {seen})"
    assert same_page, "the page was reloaded: the panel must follow the dispatch live"
    assert names[:3] == ["slow_chain", "fails", "quick_sum"], names  # newest first
    assert "slow_chain" in item_text and dispatch_id[:8] in item_text and "COMPLETED" in item_text
    assert listed["id"] == dispatch_id and listed["status"] == "COMPLETED"
    # the user's tasks (4 slow_square and total), not the list of their outputs nor the inputs
    assert listed["task_progress"] == {"COMPLETED": 5}, listed
    assert "5/5 tasks" in item_text, item_text
    assert redraws <= 2 + 4 * elapsed + 2, f"{redraws} redraws in {elapsed:.1f} s: more than four a second"
    assert src == f"{server.url}covalent/ui/#/dispatches/{dispatch_id}", src
    assert current == f"covalent-nb-dispatch-{dispatch_id}"
    assert "slow_chain" in tab_label and dispatch_id[:8] in tab_label, tab_label
    assert tabs == 1
    # the kernel's link to a dispatch's page opened as a Lab tab, not as another browser page
    assert f'data-dispatch-id="{quick_id}"' in link_html and f"/covalent/ui/#/dispatches/{quick_id}" in link_html
    assert quick_src == f"{server.url}covalent/ui/#/dispatches/{quick_id}", quick_src
    assert pages == 1
