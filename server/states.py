"""The status state machine: every allowed transition, in one table each."""

from __future__ import annotations

from covalent_nb._status import TERMINAL, Status

__all__ = ["IllegalTransition", "check_dispatch_transition", "check_node_transition", "TERMINAL"]

S = Status

NODE_TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NEW_OBJECT: frozenset({S.RUNNING, S.PENDING_REUSE, S.COMPLETED, S.CANCELLED}),
    S.PENDING_REUSE: frozenset({S.COMPLETED}),
    # A running task goes back to NEW_OBJECT when the server restarts under it.
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.NEW_OBJECT}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

DISPATCH_TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NEW_OBJECT: frozenset({S.RUNNING, S.CANCELLED, S.FAILED}),
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A status change the state machine does not allow."""


def _check(table: dict[Status, frozenset[Status]], what: str, old: str, new: str) -> None:
    if Status(new) not in table[Status(old)]:
        raise IllegalTransition(f"{what} cannot go from {old} to {new}")


def check_node_transition(old: str, new: str) -> None:
    """Raise IllegalTransition unless a task may go from ``old`` to ``new``."""
    _check(NODE_TRANSITIONS, "a task", old, new)


def check_dispatch_transition(old: str, new: str) -> None:
    """Raise IllegalTransition unless a dispatch may go from ``old`` to ``new``."""
    _check(DISPATCH_TRANSITIONS, "a dispatch", old, new)
