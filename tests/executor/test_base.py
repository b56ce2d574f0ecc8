"""The executor seam: declared settings, type checks, specs, settings filled from the config."""

from __future__ import annotations

import asyncio
import copy
import inspect
import pickle
from pathlib import Path
from typing import Any, Callable, ClassVar

import pytest

from covalent_nb import errors as ct_errors
from covalent_nb.errors import ExecutorError
from covalent_nb.executor.base import REQUIRED, AsyncBaseExecutor, BaseExecutor
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


def test_a_setting_it_does_not_have_is_answered_with_its_settings_and_the_close_one() -> None:
    with pytest.raises(ExecutorError) as info:
        LocalExecutor.from_spec({"name": "local", "attrs": {"work_dir": "w"}})
    assert str(info.value) == ("executor 'local' has no setting 'work_dir'; its settings are: "
                               "create_unique_workdir, workdir; did you mean 'workdir'?")
    with pytest.raises(ExecutorError) as info:
        LocalExecutor.from_spec({"name": "local", "attrs": {"bogus": 1}})
    assert str(info.value).endswith("its settings are: create_unique_workdir, workdir")


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


# ---------------------------------------------------------------- settings from the config, REQUIRED


class BatchExecutor(BaseExecutor):
    """A sync executor with a required setting and a signature of its own, like the AWS ones."""

    short_name: ClassVar[str] = "batch"
    attributes: ClassVar[dict[str, tuple[Any, Any]]] = {
        "bucket": (str, REQUIRED),
        "vcpus": (int, 1),
        "queue": ((str, type(None)), None),
    }

    def __init__(self, bucket: str = REQUIRED, vcpus: int = 1, queue: str | None = None) -> None:
        super().__init__(bucket=bucket, vcpus=vcpus, queue=queue)

    def run(self, task_frame: bytes, parent_frames: list[bytes], task_metadata: dict[str, Any]) -> bytes:
        return task_frame


@pytest.fixture
def client_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Writes this process's config file (a fresh config dir per test)."""
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "config"))

    def write(text: str) -> None:
        (tmp_path / "config").mkdir(exist_ok=True)
        (tmp_path / "config" / "covalent.conf").write_text(text)

    return write


def test_omitted_settings_come_from_the_config_then_the_defaults(client_config) -> None:
    client_config('[executors.batch]\nbucket = "from-config"\nqueue = "long"\n')
    partial = BatchExecutor(vcpus=2)
    assert (partial.bucket, partial.vcpus, partial.queue) == ("from-config", 2, "long")
    assert partial.to_spec() == {"name": "batch", "attrs": {"bucket": "from-config", "vcpus": 2, "queue": "long"}}
    given = BatchExecutor("mine", queue=None)  # arguments win, None included
    assert (given.bucket, given.vcpus, given.queue) == ("mine", 1, None)


def test_plain_keyword_executors_are_filled_too(client_config) -> None:
    client_config('[executors.echo]\ncores = 8\ntags = ["gpu"]\n')
    assert (EchoExecutor().cores, EchoExecutor().tags, EchoExecutor(cores=2).cores) == (8, ["gpu"], 2)
    assert EchoExecutor.from_spec({"name": "echo", "attrs": {"cores": 3}}).tags == ["gpu"]


def test_a_missing_required_setting_names_executor_setting_and_section(client_config) -> None:
    client_config('[executors.batch]\nvcpus = 4\n')
    with pytest.raises(ExecutorError) as info:
        BatchExecutor(queue="short")
    message = str(info.value)
    assert "'batch'" in message and "'bucket'" in message and "no default" in message
    assert "[executors.batch]" in message and "covalent.conf" in message
    with pytest.raises(ExecutorError, match="'bucket'"):
        BatchExecutor.from_spec({"name": "batch", "attrs": {"vcpus": 2}})


def test_config_values_are_checked_and_say_where_they_came_from(client_config) -> None:
    client_config('[executors.batch]\nbucket = "b"\nvcpus = "many"\n')
    with pytest.raises(ExecutorError) as info:
        BatchExecutor()
    assert "'vcpus'" in str(info.value) and "[executors.batch]" in str(info.value) and "int" in str(info.value)
    client_config('[executors.batch]\nbucket = "b"\nbukket = "typo"\n')
    with pytest.raises(ExecutorError, match="no setting 'bukket'.*executors.batch"):
        BatchExecutor()


def test_a_fully_specified_executor_never_reads_the_config(client_config) -> None:
    client_config("this is [not toml")
    executor = BatchExecutor(bucket="b", vcpus=2, queue=None)
    assert BatchExecutor.from_spec(executor.to_spec()) == executor
    with pytest.raises(ct_errors.ConfigError):
        BatchExecutor(bucket="b")  # something is left out: the broken file is read, and says so


def test_required_marker_survives_copies_and_pickles() -> None:
    assert copy.deepcopy(REQUIRED) is REQUIRED and pickle.loads(pickle.dumps(REQUIRED)) is REQUIRED
    assert repr(REQUIRED) == "REQUIRED"


def test_constructor_signatures_stay_visible() -> None:
    assert list(inspect.signature(BatchExecutor).parameters) == ["bucket", "vcpus", "queue"]
    assert list(inspect.signature(LocalExecutor).parameters) == ["workdir", "create_unique_workdir"]
    with pytest.raises(TypeError):
        BatchExecutor("b", 1, None, "extra")  # type: ignore[call-arg]
