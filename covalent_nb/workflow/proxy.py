"""NodeProxy: what an electron call returns while a lattice's graph is built.

A proxy stands for a task output that does not exist yet. Indexing, attribute
access and arithmetic on it record *generated* nodes; iterating it yields
``out[i]`` nodes (see :meth:`GraphBuilder.iterate` for how the length is found).
"""

from __future__ import annotations

import operator
import typing
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:
    from covalent_nb.workflow.builder import GraphBuilder

__all__ = ["NodeProxy", "fixed_return_length"]


class NodeProxy:
    """The future output of one node of the graph being built.

    ``out[key]``, ``out.attr`` and ``+ - * / // % **`` (reflected forms too)
    record generated nodes; ``a, b = out`` records ``out[0]``, ``out[1]``.
    Its truth value is unknown while the graph is built, so ``bool()`` raises.
    """

    __slots__ = ("_builder", "_node_id", "_length")

    def __init__(self, builder: "GraphBuilder", node_id: int, length: int | None = None) -> None:
        self._builder = builder
        self._node_id = node_id
        self._length = length

    def __getitem__(self, key: Any) -> "NodeProxy":
        return self._builder.add_generated(operator.getitem, (self, key), f":{self._name()}.__getitem__")

    def __getattr__(self, name: str) -> "NodeProxy":
        if name.startswith("_"):
            raise AttributeError(name)
        return self._builder.add_generated(getattr, (self, name), f":{self._name()}.__getattr__")

    def __iter__(self) -> Iterator["NodeProxy"]:
        return self._builder.iterate(self)

    def __bool__(self) -> bool:
        raise TypeError(
            f"the output of {self._name()!r} is not known while the lattice's graph is built, "
            "so it has no truth value: 'if', 'while', 'and', 'or' and 'not' cannot test it in a "
            "lattice body. Move the decision into an electron."
        )

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(
            f"the output of {self._name()!r} exists only while the lattice's graph is built and "
            "cannot be pickled; pass it to an electron directly or inside a list, tuple, set or dict"
        )

    def __repr__(self) -> str:
        return f"<NodeProxy of node {self._node_id} {self._name()!r}>"

    def _name(self) -> str:
        return self._builder.graph.node(self._node_id)["name"]

    def _binary(self, op: Callable[[Any, Any], Any], symbol: str, left: Any, right: Any) -> "NodeProxy":
        name = f"{_operand_name(left)}_{symbol}_{_operand_name(right)}"
        return self._builder.add_generated(op, (left, right), name)

    def __add__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.add, "+", self, other)

    def __radd__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.add, "+", other, self)

    def __sub__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.sub, "-", self, other)

    def __rsub__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.sub, "-", other, self)

    def __mul__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.mul, "*", self, other)

    def __rmul__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.mul, "*", other, self)

    def __truediv__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.truediv, "/", self, other)

    def __rtruediv__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.truediv, "/", other, self)

    def __floordiv__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.floordiv, "//", self, other)

    def __rfloordiv__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.floordiv, "//", other, self)

    def __mod__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.mod, "%", self, other)

    def __rmod__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.mod, "%", other, self)

    def __pow__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.pow, "**", self, other)

    def __rpow__(self, other: Any) -> "NodeProxy":
        return self._binary(operator.pow, "**", other, self)


def _operand_name(operand: Any) -> str:
    if isinstance(operand, NodeProxy):
        return operand._name()
    text = repr(operand)
    return text if len(text) <= 40 else text[:37] + "..."


def fixed_return_length(func: Callable[..., Any]) -> int | None:
    """The number of items ``func`` returns, when its return annotation fixes it.

    ``tuple[int, str]`` and ``typing.Tuple[int, str]`` give 2, a NamedTuple class
    gives its field count; anything else (``tuple[int, ...]``, none) gives None.
    """
    try:
        annotation = typing.get_type_hints(func).get("return")
    except Exception:  # unresolvable string annotations: fall back to the raw one
        annotation = getattr(func, "__annotations__", {}).get("return")
    if annotation is None or isinstance(annotation, str) or annotation is typing.Tuple:
        return None
    if isinstance(annotation, type) and issubclass(annotation, tuple) and hasattr(annotation, "_fields"):
        return len(annotation._fields)
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if Ellipsis in args:
            return None
        return len(args)
    return None
