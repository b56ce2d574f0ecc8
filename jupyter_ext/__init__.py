"""The Jupyter server extension: the dispatcher inside the notebook server, or a pointer to a remote one.

Enabled by installing covalent-nb, as a wheel or editable (both install a
``jupyter_server_config.d`` file). See :class:`~covalent_nb.jupyter_ext.app.CovalentNB` for its
settings (``c.CovalentNB.<name>``).
"""

from __future__ import annotations

from typing import Any

from covalent_nb import __version__  # `jupyter server extension list` shows it

__all__ = ["__version__", "_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import CovalentNB

    return [{"module": "covalent_nb.jupyter_ext", "app": CovalentNB}]
