"""The Jupyter server extension: the dispatcher inside the notebook server, or a pointer to a remote one.

Enabled by installing covalent-nb (a ``jupyter_server_config.d`` file ships
with the wheel). See :class:`~covalent_nb.jupyter_ext.app.CovalentNB` for its
settings (``c.CovalentNB.<name>``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import CovalentNB

    return [{"module": "covalent_nb.jupyter_ext", "app": CovalentNB}]
