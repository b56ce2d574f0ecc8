"""Links to the web UI: its URL under a dispatcher's, and the widget header's link to a dispatch's page."""

from __future__ import annotations

import html
import re

from covalent_nb.client.http import DispatcherConnection
from covalent_nb.notebook.ui_links import ui_link_html, ui_url
from covalent_nb.notebook.widget import DispatchWidget

from .dispatch_views import finished_small_view


def test_ui_url_hangs_under_the_dispatchers_url() -> None:
    assert ui_url("http://127.0.0.1:8888/covalent/") == "http://127.0.0.1:8888/covalent/ui/"
    assert ui_url("http://127.0.0.1:48008/", "abc-123") == "http://127.0.0.1:48008/ui/#/dispatches/abc-123"
    assert ui_url("http://h:1/user/ann/covalent", "a/b c") == "http://h:1/user/ann/covalent/ui/#/dispatches/a%2Fb%20c"


def test_a_link_says_where_it_leads_for_the_lab_extension() -> None:
    link = ui_link_html("http://127.0.0.1:8888/user/ann/covalent/", "d1", "its page", name='a "quoted" <name>')
    assert link.startswith('<a class="cnb-ui-link" href="http://127.0.0.1:8888/user/ann/covalent/ui/#/dispatches/d1"')
    assert 'data-ui-path="/user/ann/covalent/ui/"' in link and 'data-dispatch-id="d1"' in link
    assert 'data-dispatch-name="a &quot;quoted&quot; &lt;name&gt;"' in link
    assert 'target="_blank"' in link and link.endswith(">its page</a>")
    home = ui_link_html("http://127.0.0.1:48008/")
    assert "data-dispatch-id" not in home and ">http://127.0.0.1:48008/ui/</a>" in home


def test_the_widget_header_links_to_the_dispatchs_page() -> None:
    view = finished_small_view()
    conn = DispatcherConnection("127.0.0.1", 8888, "token", "/covalent/")
    widget = DispatchWidget(view, connection=conn, live=False)
    links = re.findall(r'<a class="cnb-ui-link" href="([^"]+)"[^>]*>', widget._header.value)
    assert [html.unescape(href) for href in links] == [f"http://127.0.0.1:8888/covalent/ui/#/dispatches/{view['id']}"]
    assert f'data-dispatch-name="{html.escape(view["name"])}"' in widget._header.value
    # a widget that does not know its dispatcher has no link
    assert "cnb-ui-link" not in DispatchWidget(view, live=False)._header.value
