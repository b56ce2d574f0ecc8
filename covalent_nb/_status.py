"""Workflow and task statuses, as Covalent names them."""

from __future__ import annotations

import enum

__all__ = ["Status", "TERMINAL"]


class Status(str, enum.Enum):
    """A dispatch's or a task's status; each compares equal to its own name."""

    NEW_OBJECT = "NEW_OBJECT"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    POSTPROCESSING = "POSTPROCESSING"
    PENDING_POSTPROCESSING = "PENDING_POSTPROCESSING"
    POSTPROCESSING_FAILED = "POSTPROCESSING_FAILED"
    PENDING_REUSE = "PENDING_REUSE"

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Status.{self.value}"

    @property
    def is_terminal(self) -> bool:
        """True for COMPLETED, FAILED and CANCELLED."""
        return self in TERMINAL


TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
