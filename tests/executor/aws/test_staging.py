"""S3 staging against moto's S3: the staged frame carries every payload inline; clean-up leaves nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from covalent_nb._frames import pack, unpack
from covalent_nb._serialize import dumps, loads
from covalent_nb.executor.aws import staging
from covalent_nb.executor.runner import run_task

from ..taskframes import File, Parent, read_result, result_frame, task_frame
from .playing_aws import bucket_keys


def write_pickle(path: Path, value: Any) -> File:
    path.write_bytes(dumps(value))
    return File(str(path))


def test_task_folder_is_prefix_dispatch_and_node_with_a_fresh_suffix() -> None:
    first = staging.task_folder("/covalent-nb/team/", "dispatch-1", 7)
    second = staging.task_folder("covalent-nb/team", "dispatch-1", 7)
    assert re.fullmatch(r"covalent-nb/team/dispatch-1/7-[0-9a-f]{32}", first)
    assert first != second
    assert staging.task_folder("", "a/b c", 0).startswith("a_b_c/0-")


def test_inline_file_refs_makes_the_frame_self_contained(tmp_path: Path) -> None:
    shared = write_pickle(tmp_path / "shared", 20)
    frame = task_frame(lambda a, b, c: a + b + c, shared, shared, 2,
                       spill_dir=str(tmp_path / "spill"), pip_cache_dir=str(tmp_path / "pip"))
    inlined = staging.inline_file_refs(frame, strip_local_dirs=True)
    meta, blobs = unpack(inlined)
    assert all(set(ref) == {"blob"} for ref in meta["args"])
    assert meta["args"][0] == meta["args"][1]  # one file read once, one blob
    assert loads(blobs[meta["args"][0]["blob"]]) == 20
    assert meta["spill_dir"] is None and meta["pip_cache_dir"] is None
    (tmp_path / "shared").unlink()  # the remote side has no access to this disk
    result, value = read_result(run_task(inlined))
    assert result["status"] == "COMPLETED" and value == 42


def test_inline_file_refs_reaches_a_parent_frames_spilled_output(tmp_path: Path) -> None:
    spilled = pack({"status": "COMPLETED", "output": {"file": str(write_pickle(tmp_path / "out", [1, 2]).path)}})
    meta, blobs = unpack(staging.inline_file_refs(spilled))
    assert loads(blobs[meta["output"]["blob"]]) == [1, 2]


def test_stage_fetch_and_clean_up(s3: Any, bucket: str, tmp_path: Path) -> None:
    frame = task_frame(len, write_pickle(tmp_path / "arg", "abc"), spill_dir=str(tmp_path))
    folder = staging.task_folder("covalent-nb", "dispatch-1", 0)
    staged = staging.stage_task(s3, bucket, folder, frame)
    assert bucket_keys(s3, bucket) == [f"{folder}/task.frame"]
    meta, blobs = unpack(s3.get_object(Bucket=bucket, Key=staged.task_key)["Body"].read())
    assert meta["args"] == [{"blob": "inlined-0"}] and loads(blobs["inlined-0"]) == "abc"
    assert meta["spill_dir"] is None

    assert staging.fetch_result(s3, staged) is None
    s3.put_object(Bucket=bucket, Key=staged.result_key, Body=result_frame(3))
    assert read_result(staging.fetch_result(s3, staged))[1] == 3

    assert staging.delete_staged(s3, staged) == 2
    assert bucket_keys(s3, bucket) == []


def test_parent_frames_are_staged_beside_the_task(s3: Any, bucket: str) -> None:
    staged = staging.stage_task(s3, bucket, "p/d/1-x", task_frame(sum, Parent(0)), [result_frame([1, 2])])
    assert staged.parent_keys == ("p/d/1-x/parent-0.frame",)
    assert bucket_keys(s3, bucket) == ["p/d/1-x/parent-0.frame", "p/d/1-x/task.frame"]


def test_an_unreadable_file_reference_stages_nothing(s3: Any, bucket: str, tmp_path: Path) -> None:
    frame = task_frame(len, File(str(tmp_path / "missing")))
    with pytest.raises(FileNotFoundError):
        staging.stage_task(s3, bucket, "p/d/0-x", frame)
    assert bucket_keys(s3, bucket) == []


def test_staging_into_a_missing_bucket_raises_the_s3_error(s3: Any) -> None:
    with pytest.raises(ClientError, match="NoSuchBucket"):
        staging.stage_task(s3, "covalent-nb-no-such-bucket", "p/d/0-x", task_frame(len, "abc"))
