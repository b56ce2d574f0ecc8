"""Code pickled by value loads under its real file name and brings the source lines it spans.

Here "another machine" is this process with the file's lines taken out of
linecache (and the file absent, or present where a case says so).
"""

from __future__ import annotations

import linecache
import pickletools
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from covalent_nb._serialize import dumps, loads

CELL = '''\
import math


def scaled(values, factor):
    """Scale values."""
    pairs = [(v, lambda: v * factor) for v in values]
    return [make() for _, make in pairs]


def root(x):
    return math.sqrt(x)
'''


@pytest.fixture
def cell_name() -> Iterator[str]:
    """A cell-like file name that exists nowhere; linecache forgets it afterwards."""
    name = f"/nowhere/ipykernel_0/{uuid.uuid4().hex}.py"
    yield name
    linecache.cache.pop(name, None)


def define(source: str, filename: str, in_linecache: bool = True) -> dict[str, Any]:
    """Run ``source`` as code of ``filename`` in a module that cannot be imported (so it pickles by value)."""
    if in_linecache:  # as IPython does for its cells
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
    namespace: dict[str, Any] = {"__name__": f"user_code_{uuid.uuid4().hex}"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def elsewhere(data: bytes, filename: str) -> Any:
    """Load ``data`` as a process would that never saw ``filename``."""
    linecache.cache.pop(filename, None)
    return loads(data)


def all_codes(function: Callable[..., Any]) -> list[Any]:
    codes, todo = [], [function.__code__]
    while todo:
        code = todo.pop()
        codes.append(code)
        todo.extend(const for const in code.co_consts if hasattr(const, "co_filename"))
    return codes


def test_code_and_its_nested_code_load_under_the_real_file_name(cell_name: str) -> None:
    scaled = elsewhere(dumps(define(CELL, cell_name)["scaled"]), cell_name)
    codes = all_codes(scaled)
    assert len(codes) >= 2  # the lambda (and, before 3.12, the list comprehensions)
    assert {code.co_filename for code in codes} == {cell_name}
    assert scaled([1, 2], 10) == [20, 20]


def test_the_lines_the_function_spans_are_in_linecache_where_it_loads(cell_name: str) -> None:
    elsewhere(dumps(define(CELL, cell_name)["scaled"]), cell_name)
    assert linecache.getline(cell_name, 4) == "def scaled(values, factor):\n"
    assert linecache.getline(cell_name, 6) == "    pairs = [(v, lambda: v * factor) for v in values]\n"
    assert linecache.getline(cell_name, 7) == "    return [make() for _, make in pairs]\n"
    assert linecache.getline(cell_name, 11).strip() == ""  # root() did not travel


def test_two_functions_of_one_file_loaded_apart_bring_both_their_lines(cell_name: str) -> None:
    namespace = define(CELL, cell_name)
    first, second = dumps(namespace["scaled"]), dumps(namespace["root"])
    elsewhere(first, cell_name)
    root = loads(second)
    assert root(16) == 4.0
    assert linecache.getline(cell_name, 7) == "    return [make() for _, make in pairs]\n"
    assert linecache.getline(cell_name, 11) == "    return math.sqrt(x)\n"


def test_only_the_lines_the_code_spans_travel_and_each_line_once(cell_name: str) -> None:
    data = dumps(define(CELL, cell_name)["root"])
    strings = [arg for op, arg, _ in pickletools.genops(data) if op.name.endswith("UNICODE")]
    assert "    return math.sqrt(x)\n" in strings
    assert not any("scaled" in s for s in strings)

    data = dumps(define(CELL, cell_name)["scaled"])
    strings = [arg for op, arg, _ in pickletools.genops(data) if op.name.endswith("UNICODE")]
    assert strings.count("    pairs = [(v, lambda: v * factor) for v in values]\n") == 1  # shared by nested code


def test_the_same_function_pickles_to_the_same_bytes(cell_name: str) -> None:
    scaled = define(CELL, cell_name)["scaled"]
    assert dumps(scaled) == dumps(scaled)


def test_a_file_that_exists_where_the_code_loads_stays_linecaches_own(tmp_path: Path) -> None:
    path = tmp_path / "flow.py"
    path.write_text(CELL)
    root = define(CELL, str(path), in_linecache=False)["root"]
    try:
        loads(dumps(root))
        size, mtime, lines, _ = linecache.cache[str(path)]
        assert mtime is not None  # read from the file, not replaced by the payload's lines
        assert "".join(lines) == CELL
    finally:
        linecache.cache.pop(str(path), None)


def test_changed_lines_replace_the_ones_known_for_that_file(cell_name: str) -> None:
    before = dumps(define(CELL, cell_name)["root"])
    after = dumps(define(CELL.replace("math.sqrt(x)", "math.sqrt(x + 0)"), cell_name)["root"])
    elsewhere(before, cell_name)
    assert linecache.getline(cell_name, 11) == "    return math.sqrt(x)\n"
    loads(after)
    assert linecache.getline(cell_name, 11) == "    return math.sqrt(x + 0)\n"
    assert linecache.getline(cell_name, 10) == "def root(x):\n"


def test_code_without_source_keeps_its_name_and_brings_no_lines() -> None:
    namespace = define("def f():\n    return 1\n", "<string>", in_linecache=False)
    f = loads(dumps(namespace["f"]))
    assert f() == 1 and f.__code__.co_filename == "<string>"
    assert "<string>" not in linecache.cache
