"""Recording a lattice body as a transport graph.

:func:`build_transport_graph` runs the body once with a :class:`GraphBuilder`
as the current builder (a context variable); electron calls made meanwhile
record nodes instead of running. Outside a build :func:`current_builder` is
None and electrons are plain function calls, in a lattice called directly and
inside a running task alike.

Unpacking an output of unknown length (``a, b = out``) needs no bytecode
reading: iterators yield ``out[i]`` lazily; when the body then fails with
"too many values to unpack", the body is built again with that iterator's
length (identified by the order of ``iter()`` calls) set to what it expected.
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
import re
import reprlib
from typing import Any, Callable, Iterator, Protocol

from covalent_nb import _serialize
from covalent_nb.errors import CovalentNBError, GraphBuildError, SerializationError
from covalent_nb.workflow.collection import CollectionTemplate, is_collection
from covalent_nb.workflow.deps import DepsSpec, TaskHooks, make_hooks
from covalent_nb.workflow.graph import TransportGraph
from covalent_nb.workflow.proxy import NodeProxy

__all__ = [
    "MAX_ITERATION_LENGTH",
    "MAX_REBUILDS",
    "CallSignatureError",
    "GraphBuilder",
    "TaskLike",
    "build_transport_graph",
    "current_builder",
    "short_repr",
]

MAX_ITERATION_LENGTH = 1024
"""Iterating an output of unknown length stops the build after this many items."""

MAX_REBUILDS = 16
"""How many times a body is built again to learn the lengths of unpacked outputs."""

_current: contextvars.ContextVar["GraphBuilder | None"] = contextvars.ContextVar(
    "covalent_nb_graph_builder", default=None)

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 120
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 10

_COLLECTION_NAMES = {list: ":electron_list:", tuple: ":electron_tuple:", set: ":electron_set:",
                     frozenset: ":electron_set:", dict: ":electron_dict:"}


def current_builder() -> "GraphBuilder | None":
    """The builder recording the lattice body running now, or None outside a build."""
    return _current.get()


def short_repr(value: Any) -> str:
    """A length-limited repr, safe on objects whose ``__repr__`` fails."""
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) > 64:
        # reprlib would repr the whole buffer first: megabytes of work for a label
        return f"<{type(value).__name__} of {len(value)} bytes: {bytes(value[:24])!r}...>"
    try:
        return _repr.repr(value)
    except Exception:
        return f"<{type(value).__name__} object>"


class CallSignatureError(TypeError):
    """An electron was called, in a lattice body, with arguments its signature rejects."""


class TaskLike(Protocol):
    """What the builder reads from an electron (see :class:`~covalent_nb.workflow.electron.Electron`)."""

    __name__: str
    function: Any
    executor_spec: dict[str, Any] | None
    deps: DepsSpec
    options: dict[str, Any]
    is_sublattice: bool
    signature: Any
    return_length: int | None


class GraphBuilder:
    """Records one run of a lattice body into :attr:`graph`."""

    def __init__(self, lattice_name: str, lattice_deps: DepsSpec,
                 known_lengths: dict[int, int] | None = None,
                 replacements: dict[str, TaskLike] | None = None) -> None:
        self.graph = TransportGraph(lattice_name)
        self._replacements = replacements or {}
        self._lattice_deps = lattice_deps
        self._known_lengths = known_lengths or {}
        self._iterators_started = 0
        self._last_advanced: list[int] | None = None  # [iterator index, items yielded]
        self._iterator_items: set[int] = set()
        self._hooks: dict[int, tuple[TaskLike, TaskHooks]] = {}
        self._fitting_calls: set[tuple[int, int, tuple[str, ...]]] = set()

    @contextlib.contextmanager
    def active(self) -> Iterator["GraphBuilder"]:
        """Make this the current builder for the duration of a ``with`` block."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    # -- recording -----------------------------------------------------------------

    def add_task(self, task: TaskLike, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NodeProxy:
        """Record a call of an electron (or sublattice electron) and return its proxy.

        An electron named in the build's replacements is recorded as its replacement.
        """
        self._last_advanced = None
        task = self._replacements.get(task.__name__, task)
        hooks = self._hooks_for(task)
        self._check_signature(task, args, kwargs, hooks)
        name = f":sublattice:{task.__name__}" if task.is_sublattice else task.__name__
        who = f"{'sublattice' if task.is_sublattice else 'electron'} {task.__name__!r}"
        params: list[tuple[int, dict[str, Any]]] = []
        for index, value in enumerate(args):
            param = {"kind": "arg", "index": index}
            params.append((self._input_node(value, who, param), param))
        for key, value in kwargs.items():
            param = {"kind": "kwarg", "name": key}
            params.append((self._input_node(value, who, param), param))
        node_id = self.graph.add_node(
            name=name, kind="sublattice" if task.is_sublattice else "electron",
            function=task.function, executor=task.executor_spec, hooks=hooks,
            options=dict(task.options))
        for source, param in params:
            self.graph.add_edge(source, node_id, param)
        return NodeProxy(self, node_id, task.return_length)

    def add_generated(self, function: Callable[..., Any], operands: tuple[Any, ...], name: str) -> NodeProxy:
        """Record ``function(*operands)`` (``operator.getitem``, ``getattr``, ...) as a generated node."""
        self._check_active()
        self._last_advanced = None  # only an iterator's own next() calls may precede a failed unpacking
        who = f"generated node {name!r}"
        sources = [self._input_node(value, who, {"kind": "arg", "index": index})
                   for index, value in enumerate(operands)]
        node_id = self.graph.add_node(name=name, kind="generated", function=function)
        for index, source in enumerate(sources):
            self.graph.add_edge(source, node_id, {"kind": "arg", "index": index})
        return NodeProxy(self, node_id)

    def add_wait(self, child: Any, parents: list[Any]) -> None:
        """Make ``child`` wait for every parent (edges of kind "wait", no data)."""
        child_id = self._node_of(child, "wait(child, ...)")
        for parent in parents:
            parent_id = self._node_of(parent, "wait(..., parents)")
            if parent_id == child_id or self.graph.has_path(child_id, parent_id):
                raise ValueError(f"wait(): {self.graph.node(child_id)['name']!r} cannot wait for "
                                 f"{self.graph.node(parent_id)['name']!r}, which depends on it (a cycle)")
            self.graph.add_edge(parent_id, child_id, {"kind": "wait"})

    def finish(self, result: Any) -> TransportGraph:
        """Record the body's return value as the output and drop unused iterator items."""
        self.graph.output = self._input_node(result, f"lattice {self.graph.name!r}", None)
        self._prune_unused_iterator_items()
        return self.graph

    # -- iteration -------------------------------------------------------------------

    def iterate(self, proxy: NodeProxy) -> Iterator[NodeProxy]:
        """Iterate an output: ``out[0]``, ``out[1]``, ... made lazily, as many as asked for.

        The length is the electron's annotated one, else what an earlier build
        of this body learned for this iterator, else unknown (tracked so that a
        failed unpacking can be learned from, see :meth:`learned_length`).
        """
        self._check_active()
        self._node_of(proxy, "iteration")
        length = proxy._length
        index = None
        if length is None:
            index = self._iterators_started
            self._iterators_started += 1
            length = self._known_lengths.get(index)
        tracker = [index, 0] if length is None else None
        return self._iterator_items_of(proxy, length, tracker)

    def _iterator_items_of(self, proxy: NodeProxy, length: int | None,
                           tracker: list[Any] | None) -> Iterator[NodeProxy]:
        name = proxy._name()
        position = 0
        while length is None or position < length:
            if position >= MAX_ITERATION_LENGTH:
                raise GraphBuildError(
                    f"lattice {self.graph.name!r}: iterating over the output of {name!r} went past "
                    f"{MAX_ITERATION_LENGTH} items; its length is unknown while the graph is built. "
                    "Annotate the electron's return type with a fixed length, e.g. "
                    "`-> tuple[int, int]` or a NamedTuple class, or index the output explicitly.")
            item = self.add_generated(operator.getitem, (proxy, position), f":{name}()[{position}]")
            self._iterator_items.add(item._node_id)
            if tracker is not None:
                tracker[1] = position + 1
                self._last_advanced = tracker
            yield item
            position += 1

    def learned_length(self, error: ValueError) -> tuple[int, int] | None:
        """``(iterator index, length)`` when ``error`` is an unpacking of an unknown-length output."""
        message = str(error)
        if self._last_advanced is None or "too many values to unpack" not in message:
            return None
        index, count = self._last_advanced
        match = re.search(r"expected (\d+)", message)
        expected = int(match.group(1)) if match else count - 1
        return (index, expected) if count == expected + 1 else None

    # -- helpers ---------------------------------------------------------------------

    def _hooks_for(self, task: TaskLike) -> TaskHooks:
        """The task's deps merged with the lattice's; a sublattice keeps only its own
        (its inner lattice's deps apply inside it)."""
        cached = self._hooks.get(id(task))
        if cached is None:
            inherited = None if task.is_sublattice else self._lattice_deps
            cached = self._hooks[id(task)] = (task, make_hooks(task.deps, inherited))
        return cached[1]

    def _check_signature(self, task: TaskLike, args: tuple[Any, ...], kwargs: dict[str, Any],
                         hooks: TaskHooks) -> None:
        # Whether arguments bind depends only on how many positional and which keyword ones.
        call_shape = (id(task), len(args), tuple(kwargs))
        if call_shape in self._fitting_calls:
            return
        signature = task.signature
        if signature is None:
            return
        injected = {call.retval_keyword: None for call in hooks.call_before
                    if call.retval_keyword and call.retval_keyword not in kwargs}
        try:
            signature.bind(*args, **kwargs, **injected)
        except TypeError as error:
            extra = f" (with {sorted(injected)} from call_before retval_keyword)" if injected else ""
            raise CallSignatureError(
                f"lattice {self.graph.name!r}: electron {task.__name__!r} was called with arguments{extra} "
                f"that do not fit {task.__name__}{signature}: {error}") from None
        self._fitting_calls.add(call_shape)

    def _check_active(self) -> None:
        if _current.get() is not self:
            raise RuntimeError(
                f"an electron output of lattice {self.graph.name!r} was used outside the build of "
                "its graph; outputs can only be used while the lattice body runs")

    def _node_of(self, proxy: Any, use: str) -> int:
        if not isinstance(proxy, NodeProxy):
            raise TypeError(f"{use} takes electron outputs, not {type(proxy).__name__}")
        if proxy._builder is not self:
            raise ValueError(f"{proxy!r} comes from another lattice build; electron outputs can "
                             "only be used in the build of the lattice that made them")
        return proxy._node_id

    def _input_node(self, value: Any, consumer: str, param: dict[str, Any] | None) -> int:
        """The node feeding ``value`` to ``consumer``: a proxy's, a collection or a parameter.

        ``consumer`` describes the taker in errors, e.g. ``"electron 'add'"``.
        """
        if isinstance(value, NodeProxy):
            return self._node_of(value, consumer)
        if is_collection(value):
            split = CollectionTemplate.from_structure(value, _is_proxy)
            if split is not None:
                return self._collection_node(value, split, consumer, param)
        return self.graph.add_node(name=f":parameter:{short_repr(value)}", kind="parameter",
                                   value=value, pickled=_pickled(value, consumer, param))

    def _collection_node(self, value: Any, split: tuple[CollectionTemplate, list[Any]],
                         consumer: str, param: dict[str, Any] | None) -> int:
        template, proxies = split
        sources = [self._node_of(proxy, consumer) for proxy in proxies]
        name = next(label for kind, label in _COLLECTION_NAMES.items() if isinstance(value, kind))
        node_id = self.graph.add_node(name=name, kind="collection", function=template,
                                      pickled=_pickled(template, consumer, param))
        for slot, source in enumerate(sources):
            self.graph.add_edge(source, node_id, {"kind": "arg", "index": slot})
        return node_id

    def _prune_unused_iterator_items(self) -> None:
        graph = self.graph
        unused: set[int] = set()
        changed = True
        while changed:
            changed = False
            for node_id in self._iterator_items - unused:
                if node_id != graph.output and all(s in unused for s in graph.successors(node_id)):
                    unused.add(node_id)
                    changed = True
        for node_id in list(unused):
            for source, _ in graph.inputs(node_id):
                if graph.node(source)["kind"] == "parameter" and len(graph.successors(source)) == 1:
                    unused.add(source)
        graph.remove_nodes(unused)


def _is_proxy(value: Any) -> bool:
    return isinstance(value, NodeProxy)


def _describe(consumer: str, param: dict[str, Any] | None) -> str:
    if param is None:
        return f"the return value of {consumer}"
    if param["kind"] == "arg":
        return f"positional argument {param['index']} of {consumer}"
    return f"keyword argument {param['name']!r} of {consumer}"


def _pickled(value: Any, consumer: str, param: dict[str, Any] | None) -> bytes:
    try:
        return _serialize.dumps(value)
    except Exception as error:
        raise SerializationError(
            f"{_describe(consumer, param)} cannot be pickled ({type(error).__name__}: {error}); "
            "pass a picklable value, or create it inside the electron") from error


def build_transport_graph(lattice_name: str, body: Callable[..., Any], lattice_deps: DepsSpec,
                          args: tuple[Any, ...], kwargs: dict[str, Any],
                          replacements: dict[str, TaskLike] | None = None) -> TransportGraph:
    """Run ``body(*args, **kwargs)`` as a build and return its transport graph.

    ``replacements`` maps electron names to electrons recorded in their place.
    The body is built again (up to :data:`MAX_REBUILDS` times) when it fails
    unpacking an output of unknown length; any other failure of the body
    raises :class:`GraphBuildError` chained to the original error.
    """
    known_lengths: dict[int, int] = {}
    for _ in range(MAX_REBUILDS + 1):
        builder = GraphBuilder(lattice_name, lattice_deps, known_lengths, replacements)
        try:
            with builder.active():
                result = body(*args, **kwargs)
            return builder.finish(result)
        except (CovalentNBError, CallSignatureError):
            raise
        except ValueError as error:
            learned = builder.learned_length(error)
            if learned is None:
                raise _body_failed(lattice_name, error) from error
            known_lengths[learned[0]] = learned[1]
        except Exception as error:
            raise _body_failed(lattice_name, error) from error
    raise GraphBuildError(
        f"lattice {lattice_name!r}: unpacking electron outputs of unknown length needed more than "
        f"{MAX_REBUILDS} rebuilds of the graph; annotate the electrons' return types with a fixed "
        "length, e.g. `-> tuple[int, int]`")


def _body_failed(lattice_name: str, error: Exception) -> GraphBuildError:
    return GraphBuildError(
        f"building the graph of lattice {lattice_name!r} failed: {type(error).__name__}: {error}")
