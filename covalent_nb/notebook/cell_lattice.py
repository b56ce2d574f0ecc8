"""A notebook cell as a lattice: the body of ``%%covalent`` becomes a workflow function.

:func:`lattice_from_cell` compiles the cell into::

    def <name>(*, <inputs>):
        <the cell's statements>
        return {<each name the cell assigns>: <its value>, "__last__": <the last expression>}

whose globals are the notebook namespace, so electrons, functions and modules
defined in earlier cells resolve as usual and electron calls in the cell become
the graph's tasks. Notebook *data* the cell reads (not modules, functions,
classes, electrons or lattices) becomes the keyword inputs of the lattice, so
the dispatch records them. Definitions the cell makes (functions, classes,
modules, electrons) are not sent through the graph: the client keeps them in
:attr:`CellLattice.definitions` when the graph is built. The lattice's doc
starts with :data:`~covalent_nb.notebook.node_kinds.CELL_DOC`, so displays
can tell a cell's dispatch and call the output dict's node the cell's result.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import keyword
import linecache
import re
from types import CodeType, TracebackType
from typing import Any

from covalent_nb.errors import CovalentNBError
from covalent_nb.notebook.cell_names import CellNames
from covalent_nb.notebook.node_kinds import CELL_DOC
from covalent_nb.workflow.lattice import Lattice
from covalent_nb.workflow.proxy import NodeProxy

__all__ = ["CellError", "CellLattice", "CellOutputs", "CellSyntaxError", "LAST_KEY", "is_data",
           "lattice_from_cell"]

LAST_KEY = "__last__"
"""The key of the cell's last expression value in the lattice's output dict."""

_PREFIX = "__covalent_cell"
_LAST = f"{_PREFIX}_last__"
_VALUES = f"{_PREFIX}_values__"
_OUTPUTS = f"{_PREFIX}_outputs__"
_FACTORY = f"{_PREFIX}_factory__"
_cell_numbers = itertools.count(1)


class CellError(CovalentNBError):
    """A ``%%covalent`` cell could not be run; shown in notebooks as one short message.

    IPython displays an exception through ``_render_traceback_`` when it has
    one, so the user sees what went wrong instead of the magic's internals.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class CellSyntaxError(CellError):
    """The cell is not valid Python; ``lineno`` and ``text`` say where."""

    def __init__(self, message: str, lineno: int | None, text: str) -> None:
        super().__init__(message)
        self.lineno = lineno
        self.text = text


class CellOutputs:
    """Called at the end of the generated function with what the cell assigned.

    Returns the data (electron outputs and plain values) for the graph's output
    and keeps definitions (functions, classes, modules, electrons) client-side in
    :attr:`definitions`, which is never pickled with the lattice.
    """

    def __init__(self) -> None:
        self.definitions: dict[str, Any] = {}

    def __call__(self, values: dict[str, Any]) -> dict[str, Any]:
        data = {}
        self.definitions = {}
        for name, value in values.items():
            if is_data(value):
                data[name] = value
            else:
                self.definitions[name] = value
        return data

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (CellOutputs, ())


@dataclasses.dataclass
class CellLattice:
    """A cell compiled into a lattice.

    ``lattice``: the :class:`~covalent_nb.workflow.lattice.Lattice` (its
    ``source`` is the cell text); ``kwargs``: its inputs, read from the
    notebook namespace; ``assigned``: the names the cell assigns, in order;
    ``has_last_expr``: whether the cell ends with an expression (its value is
    the output's ``"__last__"``); ``filename``: what tracebacks call the cell;
    ``outputs``: the :class:`CellOutputs` the generated function returns through.
    """

    lattice: Lattice
    kwargs: dict[str, Any]
    assigned: list[str]
    has_last_expr: bool
    filename: str
    outputs: CellOutputs

    @property
    def definitions(self) -> dict[str, Any]:
        """Functions, classes, modules and electrons the cell assigned in its last graph build."""
        return self.outputs.definitions

    def error_line(self, error: BaseException) -> int | None:
        """The cell line where ``error`` (or the error it was raised from) happened, if in the cell."""
        line = None
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            line = _last_line_in(error.__traceback__, self.filename) or line
            error = error.__cause__ or error.__context__
        return line


def is_data(value: Any) -> bool:
    """Whether a namespace value is data (an input or an output) rather than code.

    Modules, classes, functions, electrons and lattices (anything callable) are
    code; electron outputs while a graph is built are data.
    """
    if isinstance(value, NodeProxy):
        return True
    return not (inspect.ismodule(value) or isinstance(value, type) or callable(value))


def lattice_from_cell(source: str, user_ns: dict[str, Any], *, name: str = "covalent_cell",
                      executor: str | None = None) -> CellLattice:
    """Compile a cell's source into a lattice over the notebook namespace ``user_ns``.

    ``name`` is the lattice's name; ``executor`` the default executor of the
    cell's electrons. Raises :class:`CellSyntaxError` (naming the line) when
    the cell is not valid Python; nothing is run here.
    """
    filename = f"<covalent cell {next(_cell_numbers)}: {name}>"
    tree = _parse(source, filename)
    names = CellNames()
    for statement in tree.body:
        names.walk(statement)
    assigned = [n for n in names.assigned if n not in names.global_names and not n.startswith(_PREFIX)]
    reads = [n for n in names.read_first if n in user_ns and n not in names.global_names
             and not n.startswith("__")]
    inputs = [n for n in reads if is_data(user_ns[n])]
    # Code the cell reads before rebinding it is local to the function: hand it in as a default.
    shadowed = [n for n in reads if n in names.assigned and not is_data(user_ns[n])]
    has_last_expr = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
    module = _function_module(tree, _identifier(name), inputs + shadowed, assigned, has_last_expr)
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        code = compile(module, filename, "exec")
    except SyntaxError as error:  # e.g. `from x import *`, allowed in a cell but not in a function
        raise _syntax_error(error, source) from None
    code = _without_factory_qualname(code)
    scratch: dict[str, Any] = {}
    exec(code, user_ns, scratch)  # defines only the factory, in `scratch`
    outputs = CellOutputs()
    function = scratch[_FACTORY](outputs)
    function.__name__ = function.__qualname__ = name
    function.__kwdefaults__ = {n: user_ns[n] for n in shadowed} or None
    lattice = Lattice(function, executor=executor)
    lattice.source = source
    # Displays know a cell's dispatch by this doc, and call its output node the cell's result.
    lattice.__doc__ = CELL_DOC + (f"\n\n{function.__doc__}" if function.__doc__ else "")
    return CellLattice(lattice, {n: user_ns[n] for n in inputs}, assigned, has_last_expr, filename, outputs)


# ---------------------------------------------------------------- parsing and errors


def _parse(source: str, filename: str) -> ast.Module:
    try:
        compile(source, filename, "exec", dont_inherit=True)  # Python's own checks: return, yield, ...
        return ast.parse(source, filename)
    except SyntaxError as error:
        raise _syntax_error(error, source) from None


def _syntax_error(error: SyntaxError, source: str) -> CellSyntaxError:
    lineno = error.lineno
    lines = source.splitlines()
    text = (error.text or (lines[lineno - 1] if lineno and 0 < lineno <= len(lines) else "")).rstrip("\n")
    where = f", line {lineno}" if lineno else ""
    message = f"%%covalent cell{where}: {error.msg}"
    if text.strip():
        message += f"\n    {text.strip()}"
    if text.lstrip().startswith(("%", "!")):
        message += "\nIPython magics and shell commands (% and !) cannot be used in a %%covalent cell."
    return CellSyntaxError(message + "\nNothing was dispatched.", lineno, text)


def _last_line_in(traceback: TracebackType | None, filename: str) -> int | None:
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name) or "covalent_cell"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = "_" + ident
    return ident


# ---------------------------------------------------------------- code generation


def _function_module(tree: ast.Module, ident: str, parameters: list[str], assigned: list[str],
                     has_last_expr: bool) -> ast.Module:
    """``def FACTORY(OUTPUTS): def ident(*, params): body; return OUTPUTS(values); return ident``."""
    body = list(tree.body)
    last_line = body[-1].end_lineno if body else 1
    if has_last_expr:
        last = body.pop()
        body.append(ast.copy_location(ast.Assign(targets=[ast.Name(_LAST, ast.Store())], value=last.value), last))
    collect = [f"{_VALUES} = {{}}"]
    collect += [f"try:\n    {_VALUES}[{n!r}] = {n}\nexcept NameError:\n    pass" for n in assigned]
    if has_last_expr:
        collect.append(f"{_VALUES}[{LAST_KEY!r}] = {_LAST}")
    collect.append(f"return {_OUTPUTS}({_VALUES})")
    epilogue = ast.parse("\n".join(collect)).body
    for node in ast.walk(ast.Module(body=epilogue, type_ignores=[])):
        if "lineno" in node._attributes:
            node.lineno = node.end_lineno = last_line
            node.col_offset = node.end_col_offset = 0
    arguments = ast.arguments(posonlyargs=[], args=[], vararg=None,
                              kwonlyargs=[ast.arg(n) for n in parameters],
                              kw_defaults=[None] * len(parameters), kwarg=None, defaults=[])
    function = ast.FunctionDef(ident, arguments, body + epilogue, [], None)
    factory_args = ast.arguments(posonlyargs=[], args=[ast.arg(_OUTPUTS)], vararg=None, kwonlyargs=[],
                                 kw_defaults=[], kwarg=None, defaults=[])
    factory = ast.FunctionDef(_FACTORY, factory_args, [function, ast.Return(ast.Name(ident, ast.Load()))],
                              [], None)
    for node in (function, factory):
        node.lineno, node.col_offset = 1, 0
    return ast.fix_missing_locations(ast.Module(body=[factory], type_ignores=[]))


def _without_factory_qualname(code: CodeType) -> CodeType:
    """``code`` with the factory left out of nested qualified names (``cell.<locals>.helper``)."""
    prefix = f"{_FACTORY}.<locals>."
    consts = tuple(_without_factory_qualname(c) if isinstance(c, CodeType)
                   else c.removeprefix(prefix) if isinstance(c, str) else c  # a class body's __qualname__
                   for c in code.co_consts)
    return code.replace(co_consts=consts, co_qualname=code.co_qualname.removeprefix(prefix))
