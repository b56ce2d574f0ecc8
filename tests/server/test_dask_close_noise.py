"""Closing the local cluster: a stream that closes under the scheduler is logged without its traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from distributed.comm.core import CommClosedError

from covalent_nb.server.dask_close_noise import quiet_closed_comms


def log_closed_stream(error: Exception) -> None:
    """Log the way distributed's BatchedSend does when its comm closes under it."""
    try:
        raise error
    except Exception:
        logging.getLogger("distributed.batched").info("Batched Comm Closed %r", "<TCP (closed)>",
                                                      exc_info=True)


class Captured(logging.Handler):
    """The records a logger emits, formatted as a log file would show them (with tracebacks)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def messages(self) -> list[str]:
        return [line.split(": ", 1)[1].splitlines()[0] for line in self.lines]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def batched_log() -> Iterator[Captured]:
    """What distributed.batched logs at INFO and above during the test (whatever else handles it)."""
    logger = logging.getLogger("distributed.batched")
    captured, level = Captured(), logger.level
    logger.addHandler(captured)
    logger.setLevel(logging.INFO)
    yield captured
    logger.removeHandler(captured)
    logger.setLevel(level)


def test_a_closed_stream_while_closing_is_one_line(batched_log: Captured) -> None:
    with quiet_closed_comms():
        log_closed_stream(CommClosedError("in <TCP (closed) Scheduler connection to worker>"))
    assert batched_log.messages == ["Batched Comm Closed '<TCP (closed)>'"]
    assert "Traceback" not in batched_log.text and "CommClosedError" not in batched_log.text


def test_other_errors_and_other_times_keep_their_traceback(batched_log: Captured) -> None:
    with quiet_closed_comms():
        log_closed_stream(ValueError("not a closed stream"))
    log_closed_stream(CommClosedError("outside a close"))  # the filter is gone again
    assert batched_log.text.count("Traceback") == 2
    assert "ValueError: not a closed stream" in batched_log.text
    assert "CommClosedError: outside a close" in batched_log.text
    assert not logging.getLogger("distributed.batched").filters
