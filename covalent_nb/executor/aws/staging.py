"""S3 staging: put a task where AWS can read it, fetch its result, clean up.

A task is staged under one folder per run of a task::

    s3://<bucket>/<s3_prefix>/<dispatch_id>/<node_id>-<uuid>/task.frame
                                                         .../parent-<i>.frame   (only when given parents)
                                                         .../result.frame       (written by the task side)

A file path on the dispatcher's disk means nothing in AWS, so the staged
frames carry every payload inline: each ``{"file": path}`` reference becomes a
``{"blob": name}`` whose bytes are the file's. ``spill_dir`` and
``pip_cache_dir`` are set to null (the task side shares no disk with the
server; pip dependencies install into a temporary directory there).

These functions take a boto3 S3 client and block; executors call them in a
thread (``asyncio.to_thread``). botocore is imported only when needed, so this
module imports without the ``aws`` extra.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any

from covalent_nb._frames import pack, unpack

__all__ = [
    "RESULT_NAME",
    "TASK_NAME",
    "StagedTask",
    "delete_staged",
    "fetch_result",
    "inline_file_refs",
    "stage_task",
    "task_folder",
]

TASK_NAME = "task.frame"
"""The staged task frame's object name inside the task's folder."""

RESULT_NAME = "result.frame"
"""The result frame's object name inside the task's folder (written by the task side)."""

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]")


@dataclasses.dataclass(frozen=True)
class StagedTask:
    """Where one staged task lives in S3."""

    bucket: str
    folder: str
    """The key prefix of this task's objects, without a trailing slash."""
    parent_keys: tuple[str, ...] = ()

    @property
    def task_key(self) -> str:
        """The key of the staged task frame."""
        return f"{self.folder}/{TASK_NAME}"

    @property
    def result_key(self) -> str:
        """The key the task side writes the result frame to."""
        return f"{self.folder}/{RESULT_NAME}"

    def url(self, key: str | None = None) -> str:
        """``s3://bucket/key`` (the folder when no key is given), for messages."""
        return f"s3://{self.bucket}/{key or self.folder + '/'}"


def task_folder(s3_prefix: str, dispatch_id: str, node_id: Any) -> str:
    """``<s3_prefix>/<dispatch_id>/<node_id>-<uuid>``: a fresh folder for one run of one task."""
    parts = [part for part in s3_prefix.strip("/").split("/") if part]
    parts.append(_key_part(str(dispatch_id)))
    parts.append(f"{_key_part(str(node_id))}-{uuid.uuid4().hex}")
    return "/".join(parts)


def _key_part(text: str) -> str:
    return _UNSAFE_KEY_CHARS.sub("_", text) or "_"


def inline_file_refs(frame: bytes, *, strip_local_dirs: bool = False) -> bytes:
    """``frame`` with every ``{"file": path}`` reference replaced by the file's bytes as a blob.

    With ``strip_local_dirs``, ``spill_dir`` and ``pip_cache_dir`` (paths on this
    machine) are set to null. Raises OSError when a referenced file cannot be read.
    """
    meta, blobs = unpack(frame)
    new_blobs: dict[str, bytes | memoryview] = dict(blobs)
    names: dict[str, str] = {}

    def inline(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"file"} and isinstance(value["file"], str):
                path = value["file"]
                if path not in names:
                    name = _free_name(new_blobs, len(names))
                    with open(path, "rb") as f:
                        new_blobs[name] = f.read()
                    names[path] = name
                return {"blob": names[path]}
            return {key: inline(item) for key, item in value.items()}
        if isinstance(value, list):
            return [inline(item) for item in value]
        return value

    meta = inline(meta)
    if strip_local_dirs:
        meta["spill_dir"] = None
        meta["pip_cache_dir"] = None
    if not names and not strip_local_dirs:
        return frame
    return pack(meta, new_blobs)


def _free_name(blobs: dict[str, Any], index: int) -> str:
    name = f"inlined-{index}"
    while name in blobs:
        name += "_"
    return name


def stage_task(s3: Any, bucket: str, folder: str, task_frame: bytes,
               parent_frames: list[bytes] | tuple[bytes, ...] = ()) -> StagedTask:
    """Upload the task frame (and any parent result frames), payloads inline; return where they are.

    Raises OSError for an unreadable ``{"file": path}`` and botocore errors for S3
    failures; whatever was uploaded before a failure is deleted again.
    """
    staged = StagedTask(bucket, folder, tuple(f"{folder}/parent-{i}.frame" for i in range(len(parent_frames))))
    uploads = [(staged.task_key, inline_file_refs(task_frame, strip_local_dirs=True))]
    uploads += [(key, inline_file_refs(frame)) for key, frame in zip(staged.parent_keys, parent_frames)]
    try:
        for key, body in uploads:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    except BaseException:
        delete_staged(s3, staged)
        raise
    return staged


def fetch_result(s3: Any, staged: StagedTask) -> bytes | None:
    """The result frame the task side wrote, or None when there is none."""
    from botocore.exceptions import ClientError

    try:
        response = s3.get_object(Bucket=staged.bucket, Key=staged.result_key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return response["Body"].read()


def delete_staged(s3: Any, staged: StagedTask) -> int:
    """Delete every object in the task's folder; returns how many were deleted."""
    prefix = staged.folder + "/"
    deleted = 0
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=staged.bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
        if keys:
            s3.delete_objects(Bucket=staged.bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted
