"""Per-thread capture of sys.stdout/sys.stderr."""

from __future__ import annotations

import sys
import threading

import pytest

from covalent_nb.executor.capture import ThreadLocalStream, captured_output


def test_captures_stdout_and_stderr_of_the_block(capsys: pytest.CaptureFixture[str]) -> None:
    with captured_output() as out:
        print("to stdout")
        print("to stderr", file=sys.stderr)
    print("after the block")
    assert out.stdout == "to stdout\n"
    assert out.stderr == "to stderr\n"
    assert isinstance(sys.stdout, ThreadLocalStream)
    assert capsys.readouterr().out == "after the block\n"


def test_output_is_kept_when_the_block_raises() -> None:
    with pytest.raises(ValueError):
        with captured_output() as out:
            print("before the error")
            raise ValueError("x")
    assert out.stdout == "before the error\n"


def test_nested_captures_take_only_their_own_output() -> None:
    with captured_output() as outer:
        print("outer 1")
        with captured_output() as inner:
            print("inner")
        print("outer 2")
    assert inner.stdout == "inner\n"
    assert outer.stdout == "outer 1\nouter 2\n"


def test_concurrent_threads_do_not_mix_outputs() -> None:
    barrier = threading.Barrier(4)
    results: dict[int, str] = {}

    def work(index: int) -> None:
        with captured_output() as out:
            barrier.wait()
            for line in range(200):
                print(f"thread {index} line {line}")
                sys.stdout.flush()
        results[index] = out.stdout

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, text in results.items():
        lines = text.splitlines()
        assert len(lines) == 200
        assert all(line.startswith(f"thread {index} ") for line in lines)


def test_threads_without_capture_write_to_the_original_stream(capsys: pytest.CaptureFixture[str]) -> None:
    started, release = threading.Event(), threading.Event()

    def capturing() -> None:
        with captured_output():
            started.set()
            release.wait(5)

    thread = threading.Thread(target=capturing)
    thread.start()
    started.wait(5)
    print("main thread, not captured")
    release.set()
    thread.join()
    assert "main thread, not captured" in capsys.readouterr().out


def test_proxy_answers_stream_attributes_from_the_original() -> None:
    with captured_output():
        assert sys.stdout.encoding == sys.stdout.original.encoding  # type: ignore[attr-defined]
        assert isinstance(sys.stdout.isatty(), bool)
