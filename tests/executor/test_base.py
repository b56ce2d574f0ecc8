"""The executor seam: declared settings, type checks, specs."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from covalent_nb.errors import ExecutorError
from covalent_nb.executor.base import AsyncBaseExecutor, BaseExecutor
from covalent_nb.executor.dask import DaskExecutor
from covalent_nb.executor.local import LocalExecutor


class EchoExecutor(BaseExecutor):
    """A sync executor returning its task frame, for testing the seam."""

    short_name: ClassVar[str] = "echo"
    attributes: ClassVar[dict[str, tuple[Any, Any]]] = {
        "cores": (int, 1),
        "queue": ((str, type(None)), None),
        "tags": (list, []),
        "options": (object, None),
    }

    def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        return task_frame


class AsyncEchoExecutor(AsyncBaseExecutor):
    short_name: ClassVar[str] = "async-echo"

    async def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        return task_frame


def test_defaults_and_given_settings() -> None:
    executor = EchoExecutor(cores=4)
    assert (executor.cores, executor.queue, executor.tags) == (4, None, [])
    assert executor.run(b"frame", [], {}) == b"frame"


def test_mutable_defaults_are_not_shared() -> None:
    first, second = EchoExecutor(), EchoExecutor()
    first.tags.append("gpu")
    assert second.tags == []


@pytest.mark.parametrize("settings, words", [
    ({"cores": "four"}, ["'echo'", "'cores'", "int", "str"]),
    ({"cores": True}, ["'cores'", "bool"]),
    ({"queue": 3}, ["'queue'", "str or None"]),
    ({"gpus": 1}, ["'echo'", "'gpus'", "cores, options, queue, tags"]),
])
def test_wrong_settings_name_executor_and_setting(settings: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ExecutorError) as info:
        EchoExecutor(**settings)
    for word in words:
        assert word in str(info.value)


def test_spec_round_trip() -> None:
    executor = EchoExecutor(cores=2, queue="short", tags=["a"])
    spec = executor.to_spec()
    assert spec == {"name": "echo", "attrs": {"cores": 2, "queue": "short", "tags": ["a"], "options": None}}
    rebuilt = EchoExecutor.from_spec(spec)
    assert rebuilt == executor and rebuilt is not executor


def test_non_json_setting_cannot_become_a_spec() -> None:
    with pytest.raises(ExecutorError) as info:
        EchoExecutor(options={1, 2}).to_spec()
    assert "'echo'" in str(info.value) and "'options'" in str(info.value)


def test_from_spec_checks_name_and_settings() -> None:
    with pytest.raises(ExecutorError, match="'local', not 'echo'"):
        EchoExecutor.from_spec({"name": "local", "attrs": {}})
    with pytest.raises(ExecutorError, match="no setting 'bogus'"):
        LocalExecutor.from_spec({"name": "local", "attrs": {"bogus": 1}})


def test_run_is_required() -> None:
    class NoRun(BaseExecutor):
        short_name: ClassVar[str] = "norun"

    with pytest.raises(TypeError):
        NoRun()  # type: ignore[abstract]


def test_async_defaults() -> None:
    executor = AsyncEchoExecutor()

    async def scenario() -> tuple[Any, ...]:
        return (await executor.setup({}), await executor.run(b"f", [], {}),
                await executor.cancel({}), await executor.teardown({}))

    assert asyncio.run(scenario()) == (None, b"f", False, None)
    assert EchoExecutor().cancel({}) is False


def test_builtin_executors_check_their_settings() -> None:
    with pytest.raises(ExecutorError, match="'workdir'"):
        LocalExecutor(workdir=3)  # type: ignore[arg-type]
    with pytest.raises(ExecutorError, match="'create_unique_workdir'"):
        LocalExecutor(create_unique_workdir="yes")  # type: ignore[arg-type]
    assert DaskExecutor("tcp://10.0.0.1:8786").to_spec() == {
        "name": "dask", "attrs": {"scheduler_address": "tcp://10.0.0.1:8786"}}


def test_dask_executor_run_says_the_dispatcher_drives_dask() -> None:
    with pytest.raises(NotImplementedError, match="dispatcher drives Dask directly"):
        DaskExecutor().run(b"", [], {})
