"""Package attributes that import their module on first use (PEP 562).

Keeps ``import covalent_nb`` (and its subpackages) cheap: the CLI and task
processes do not pay for the workflow model, IPython or boto3 unless they
use them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, homes: Mapping[str, str], public: Iterable[str],
                    namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: each name in ``homes`` loads from its module.

    A home that ends with ``.<name>`` is the module itself (a subpackage).
    The loaded value is cached in ``namespace`` (the package's globals).
    """
    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(home)
        value = module if home.endswith("." + name) else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(public))

    return __getattr__, __dir__
