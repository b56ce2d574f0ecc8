"""The example workflow ``covalent-nb demo`` runs on a real dispatcher.

One electron per number squares it (fan-out), one electron sums the squares
(fan-in), a last one describes the total. The demo dispatches it, waits for
the result and prints the dispatch id, the result, every task's record and
the time taken.
"""

from __future__ import annotations

import datetime
import sys
import time
from typing import Any, TextIO

import covalent_nb as ct
from covalent_nb.notebook.node_kinds import display_status

__all__ = ["describe", "format_node_table", "run", "square", "sum_of_squares", "total"]


@ct.electron
def square(x: int) -> int:
    """One fan-out task: ``x`` squared."""
    return x * x


@ct.electron
def total(values: list[int]) -> int:
    """The fan-in task: the sum of all the squares."""
    return sum(values)


@ct.electron
def describe(n: int, value: int) -> str:
    """A sentence about the total."""
    return f"1^2 + 2^2 + ... + {n}^2 = {value}"


@ct.lattice
def sum_of_squares(n: int) -> str:
    """Square 1..n in parallel, sum the squares, describe the sum."""
    squares = [square(i) for i in range(1, n + 1)]
    return describe(n, total(squares))


def _seconds(start: Any, end: Any) -> float | None:
    """``end - start`` in seconds, for datetimes or epoch floats (None when unknown)."""
    if start is None or end is None:
        return None
    if isinstance(start, datetime.datetime) and isinstance(end, datetime.datetime):
        return (end - start).total_seconds()
    try:
        return float(end) - float(start)
    except (TypeError, ValueError):
        return None


def _cell(value: Any, width: int) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 3] + "..."


def format_node_table(nodes: list[dict[str, Any]]) -> str:
    """A text table of ``Result.get_all_node_results()``: id, name, status, duration, output.

    Parameter nodes (the literal inputs, named ``:parameter:...``) are counted, not listed.
    """
    tasks = [node for node in nodes if not str(node.get("node_name", "")).startswith(":parameter:")]
    lines = [f"{'node':>4}  {'name':<22} {'status':<10} {'time':>9}  output"]
    for node in sorted(tasks, key=lambda record: record.get("node_id", 0)):
        seconds = _seconds(node.get("start_time"), node.get("end_time"))
        took = f"{seconds * 1000:7.1f}ms" if seconds is not None else f"{'-':>9}"
        lines.append(
            f"{node.get('node_id', '?'):>4}  {_cell(node.get('node_name', ''), 22):<22} "
            f"{display_status(node.get('status', '')):<10} {took:>9}  {_cell(node.get('output'), 40)}"
        )
    if len(tasks) < len(nodes):
        lines.append(f"({len(nodes) - len(tasks)} parameter nodes holding the inputs are not shown)")
    return "\n".join(lines)


def run(dispatcher_addr: str | None = None, n: int = 8, out: TextIO | None = None) -> bool:
    """Dispatch :func:`sum_of_squares`, wait, print what happened; True when it is right."""
    out = out or sys.stdout
    began = time.perf_counter()
    dispatch_id = ct.dispatch(sum_of_squares, dispatcher_addr=dispatcher_addr)(n)
    print(f"dispatched sum_of_squares({n}): dispatch id {dispatch_id}", file=out)
    result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=dispatcher_addr)
    took = time.perf_counter() - began
    print(f"status: {result.status}", file=out)
    print(f"result: {result.result}", file=out)
    if result.error:
        print(f"error: {result.error}", file=out)
    print(format_node_table(result.get_all_node_results()), file=out)
    print(f"time taken: {took:.2f} s from dispatch to result", file=out)
    expected = f"1^2 + 2^2 + ... + {n}^2 = {sum(i * i for i in range(1, n + 1))}"
    return str(result.status) == "COMPLETED" and result.result == expected
