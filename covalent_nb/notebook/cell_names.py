"""Which names a notebook cell reads before binding them, and which it binds (for ``%%covalent``).

The walk follows evaluation order, so ``x = x + 1`` reads the notebook's
``x`` and then binds the cell's own. Nested functions, lambdas, classes and
comprehensions count as reading their free names where they are defined.
"""

from __future__ import annotations

import ast
from typing import Iterable

__all__ = ["CellNames"]

_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
                  ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class CellNames:
    """Walks the cell's statements in evaluation order.

    ``read_first``: names read before the cell binds them (in order);
    ``assigned``: names the cell binds (in order); ``global_names``: names
    declared ``global``. Nested functions, lambdas, classes and comprehensions
    count as reading their free names where they are defined.
    """

    def __init__(self) -> None:
        self.read_first: dict[str, None] = {}
        self.assigned: dict[str, None] = {}
        self.global_names: set[str] = set()

    def load(self, name: str) -> None:
        if name not in self.assigned:
            self.read_first.setdefault(name)

    def store(self, name: str) -> None:
        self.assigned.setdefault(name)

    def walk(self, node: ast.AST) -> None:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is not None:
            method(node)
        else:
            self.walk_all(ast.iter_child_nodes(node))

    def walk_all(self, nodes: Iterable[ast.AST | None]) -> None:
        for node in nodes:
            if node is not None:
                self.walk(node)

    def _Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.store(node.id)
        else:  # Load, and Del (deleting a notebook variable needs it bound first)
            self.load(node.id)

    def _Assign(self, node: ast.Assign) -> None:
        self.walk(node.value)
        self.walk_all(node.targets)

    def _AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):  # `x += 1` reads x first
            self.load(node.target.id)
            self.walk(node.value)
            self.store(node.target.id)
        else:
            self.walk(node.target)
            self.walk(node.value)

    def _AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.walk(node.value)
            self.walk(node.target)

    def _NamedExpr(self, node: ast.NamedExpr) -> None:
        self.walk(node.value)
        self.store(node.target.id)

    def _For(self, node: ast.For | ast.AsyncFor) -> None:
        self.walk(node.iter)
        self.walk(node.target)
        self.walk_all(node.body)
        self.walk_all(node.orelse)

    _AsyncFor = _For

    def _Global(self, node: ast.Global) -> None:
        self.global_names.update(node.names)

    def _Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self.store(alias.asname or alias.name.split(".")[0])

    _ImportFrom = _Import

    def _ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self.walk_all([node.type])
        if node.name:
            self.store(node.name)
        self.walk_all(node.body)

    def _MatchAs(self, node: ast.MatchAs | ast.MatchStar) -> None:
        self.walk_all(ast.iter_child_nodes(node))
        if node.name:
            self.store(node.name)

    _MatchStar = _MatchAs

    def _MatchMapping(self, node: ast.MatchMapping) -> None:
        self.walk_all(ast.iter_child_nodes(node))
        if node.rest:
            self.store(node.rest)

    def _nested(self, node: ast.AST, evaluated_here: list[ast.AST | None]) -> None:
        self.walk_all(evaluated_here)
        for name in sorted(_free_names(node)):
            self.load(name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.store(node.name)

    def _FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        args = node.args
        here: list[ast.AST | None] = [*getattr(node, "decorator_list", []), *args.defaults, *args.kw_defaults]
        if not isinstance(node, ast.Lambda):
            here += [a.annotation for a in _all_args(args)] + [node.returns]
        self._nested(node, here)

    _AsyncFunctionDef = _FunctionDef
    _Lambda = _FunctionDef

    def _ClassDef(self, node: ast.ClassDef) -> None:
        self._nested(node, [*node.decorator_list, *node.bases, *node.keywords])

    def _ListComp(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp) -> None:
        self._nested(node, [node.generators[0].iter])

    _SetComp = _DictComp = _GeneratorExp = _ListComp


def _all_args(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


class _ScopeNames(ast.NodeVisitor):
    """Names one nested scope binds and reads (scopes nested in it count by their free names)."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.loaded: set[str] = set()
        self.declared_global: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        (self.bound if isinstance(node.ctx, ast.Store) else self.loaded).add(node.id)

    def visit_Global(self, node: ast.Global) -> None:
        self.declared_global.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.loaded.update(node.names)

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.bound.update(a.asname or a.name.split(".")[0] for a in node.names)

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)

    def _visit_nested(self, node: ast.AST) -> None:
        evaluated_here: list[ast.AST | None]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            evaluated_here = [*getattr(node, "decorator_list", []), *node.args.defaults, *node.args.kw_defaults]
        elif isinstance(node, ast.ClassDef):
            evaluated_here = [*node.decorator_list, *node.bases, *node.keywords]
        else:
            evaluated_here = [node.generators[0].iter]
        for child in evaluated_here:
            if child is not None:
                self.visit(child)
        self.loaded |= _free_names(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bound.add(node.name)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _visit_nested
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _visit_nested


def _free_names(node: ast.AST) -> set[str]:
    """Names a nested scope reads from outside itself."""
    scope = _ScopeNames()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        scope.bound.update(a.arg for a in _all_args(node.args))
        body = node.body if isinstance(node.body, list) else [node.body]
    elif isinstance(node, ast.ClassDef):
        body = node.body
    else:
        body = []
        for index, generator in enumerate(node.generators):
            scope.visit(generator.target)
            if index:
                scope.visit(generator.iter)
            body.extend(generator.ifs)
        body.extend([node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt])
    for child in body:
        scope.visit(child)
    return scope.loaded - scope.bound - scope.declared_global
