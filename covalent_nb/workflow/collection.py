"""Collections whose items are task outputs: a structure with numbered holes.

A list/tuple/set/dict argument (nested arbitrarily, any dict keys) that holds
electron outputs becomes one *collection* node. Its function is a pickled
:class:`CollectionTemplate`; the runner calls ``template.fill(*outputs)`` with
the parents' outputs in slot order and gets the structure back.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["CollectionTemplate", "is_collection"]

# Shape nodes are small tuples ``(tag, payload)``; they pickle compactly.
_SLOT, _CONST, _LIST, _TUPLE, _SET, _FROZENSET, _DICT, _NAMEDTUPLE, _SUBCLASS = range(9)
_TAG_OF_TYPE = {list: _LIST, tuple: _TUPLE, set: _SET, frozenset: _FROZENSET, dict: _DICT}
_BASES = (list, tuple, set, frozenset, dict)

Shape = tuple[int, Any]


def is_collection(obj: Any) -> bool:
    """Whether ``obj`` is a list, tuple, set, frozenset or dict (subclasses included)."""
    return isinstance(obj, _BASES)


class _SlotMarker:
    """Stands in for a slot when a template is shown."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<{self.index}>"


class CollectionTemplate:
    """A list/tuple/set/dict structure with placeholders replaced by slot indices.

    Build one with :meth:`from_structure`; rebuild the structure with :meth:`fill`.
    """

    __slots__ = ("_shape", "slot_count")

    def __init__(self, shape: Shape, slot_count: int) -> None:
        self._shape = shape
        self.slot_count = slot_count

    @classmethod
    def from_structure(cls, obj: Any, is_placeholder: Callable[[Any], bool]
                       ) -> tuple["CollectionTemplate", list[Any]] | None:
        """Split ``obj`` into a template and the placeholders it holds, in slot order.

        Returns None when ``obj`` holds no placeholder (it is then a plain
        literal). The same placeholder object appearing twice gets one slot.
        """
        placeholders: list[Any] = []
        slot_of: dict[int, int] = {}
        hits = [0]  # placeholders met so far, repeats included

        def shape_of(item: Any) -> Shape:
            if is_placeholder(item):
                hits[0] += 1
                slot = slot_of.get(id(item))
                if slot is None:
                    slot = slot_of[id(item)] = len(placeholders)
                    placeholders.append(item)
                return (_SLOT, slot)
            if not isinstance(item, _BASES):
                return (_CONST, item)
            before = hits[0]
            shape = _container_shape(item, shape_of)
            # A sub-container without placeholders is kept whole, as one constant.
            return shape if hits[0] > before else (_CONST, item)

        shape = shape_of(obj)
        if not placeholders:
            return None
        return cls(shape, len(placeholders)), placeholders

    def fill(self, *values: Any) -> Any:
        """Rebuild the structure with ``values[i]`` in slot ``i``."""
        if len(values) != self.slot_count:
            raise TypeError(f"CollectionTemplate.fill takes {self.slot_count} values, got {len(values)}")
        return _build(self._shape, values)

    def __repr__(self) -> str:
        markers = [_SlotMarker(i) for i in range(self.slot_count)]
        return f"CollectionTemplate({_build(self._shape, markers)!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, CollectionTemplate) and other.slot_count == self.slot_count
                and other._shape == self._shape)

    def __hash__(self) -> int:
        return hash((CollectionTemplate, self.slot_count))


def _container_shape(obj: Any, shape_of: Callable[[Any], Shape]) -> Shape:
    kind = type(obj)
    if isinstance(obj, dict):
        items = [(shape_of(key), shape_of(value)) for key, value in obj.items()]
        return (_DICT, items) if kind is dict else (_SUBCLASS, (kind, _DICT, items))
    children = [shape_of(item) for item in obj]
    tag = _TAG_OF_TYPE.get(kind)
    if tag is not None:
        return (tag, children)
    if isinstance(obj, tuple) and hasattr(kind, "_fields"):
        return (_NAMEDTUPLE, (kind, children))
    base = next(base for base in _BASES if isinstance(obj, base))
    return (_SUBCLASS, (kind, _TAG_OF_TYPE[base], children))


def _build(shape: Shape, values: Any) -> Any:
    tag, payload = shape
    if tag == _SLOT:
        return values[payload]
    if tag == _CONST:
        return payload
    if tag == _LIST:
        return [_build(child, values) for child in payload]
    if tag == _TUPLE:
        return tuple(_build(child, values) for child in payload)
    if tag == _SET:
        return {_build(child, values) for child in payload}
    if tag == _FROZENSET:
        return frozenset(_build(child, values) for child in payload)
    if tag == _DICT:
        return {_build(key, values): _build(value, values) for key, value in payload}
    if tag == _NAMEDTUPLE:
        kind, children = payload
        return kind(*(_build(child, values) for child in children))
    kind, base_tag, children = payload
    return kind(_build((base_tag, children), values))
