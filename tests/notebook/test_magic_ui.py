"""``%covalent ui [ID]`` shows a link to the web UI, or to a dispatch's page there; an unknown id is named."""

from __future__ import annotations

import html
import uuid

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from covalent_nb.client.connect import connection
from covalent_nb.notebook.magics import CovalentMagicError
from tests.notebook.test_magics import checked, run, shell  # noqa: F401


def test_ui_links_to_the_dispatchers_web_ui_and_a_dispatchs_page(shell: InteractiveShell) -> None:  # noqa: F811
    checked(run(shell, "%%covalent --wait -o for_ui\nd = add(1, 2)\n"))
    handle = shell.user_ns["for_ui"]
    base = connection().url + "ui/"
    with capture_output() as shown:
        checked(run(shell, f"%covalent ui {handle.dispatch_id}"))
        checked(run(shell, "%covalent ui"))
    (page, home) = [output.data for output in shown.outputs]
    page_url = f"{base}#/dispatches/{handle.dispatch_id}"
    assert page["text/plain"] == f"Dispatch {handle.dispatch_id}: {page_url}"
    assert f'href="{html.escape(page_url)}"' in page["text/html"]
    assert f'data-dispatch-id="{handle.dispatch_id}"' in page["text/html"]
    assert home["text/plain"] == f"Your dispatches: {base}"
    assert f'href="{base}"' in home["text/html"] and "data-dispatch-id" not in home["text/html"]


def test_ui_names_an_unknown_dispatch(shell: InteractiveShell) -> None:  # noqa: F811
    unknown = str(uuid.uuid4())
    error = run(shell, f"%covalent ui {unknown}").error_in_exec
    assert isinstance(error, CovalentMagicError) and f"no dispatch {unknown!r}" in str(error)
