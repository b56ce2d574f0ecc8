"""Build task frames and read result frames by hand, as the dispatcher would."""

from __future__ import annotations

import sys
from typing import Any

import cloudpickle

from covalent_nb._frames import pack, unpack
from covalent_nb._serialize import dumps, loads


class Parent:
    """A ``{"parent": i}`` reference in :func:`task_frame` arguments."""

    def __init__(self, index: int) -> None:
        self.index = index


class File:
    """A ``{"file": path}`` reference in :func:`task_frame` arguments."""

    def __init__(self, path: str) -> None:
        self.path = str(path)


def pickled(obj: Any) -> bytes:
    """Pickle ``obj``; code from this test package goes by value (workers cannot import it)."""
    test_package = __name__.split(".")[0]
    module = getattr(obj, "__module__", None) or type(obj).__module__
    if module and module.split(".")[0] == test_package:
        cloudpickle.register_pickle_by_value(sys.modules[test_package])
    return dumps(obj)


def task_frame(function: Any, *args: Any, kind: str = "electron", kwargs: dict[str, Any] | None = None,
               hooks: Any = None, name: str = "task", **meta: Any) -> bytes:
    """A task frame: plain values become blobs, :class:`Parent`/:class:`File` become references."""
    blobs: dict[str, bytes] = {"function": pickled(function)}

    def ref(value: Any, label: str) -> dict[str, Any]:
        if isinstance(value, Parent):
            return {"parent": value.index}
        if isinstance(value, File):
            return {"file": value.path}
        blobs[label] = pickled(value)
        return {"blob": label}

    header: dict[str, Any] = {
        "dispatch_id": "dispatch-1", "node_id": 0, "name": name, "kind": kind,
        "function": {"blob": "function"},
        "hooks": None,
        "args": [ref(value, f"arg{i}") for i, value in enumerate(args)],
        "kwargs": {key: ref(value, f"kw_{key}") for key, value in (kwargs or {}).items()},
        "spill_dir": None, "spill_threshold": 1 << 20, "pip_cache_dir": None,
    }
    if hooks is not None:
        blobs["hooks"] = pickled(hooks)
        header["hooks"] = {"blob": "hooks"}
    header.update(meta)
    return pack(header, blobs)


def result_frame(value: Any, status: str = "COMPLETED") -> bytes:
    """A parent's result frame holding ``value`` inline."""
    if status != "COMPLETED":
        return pack({"status": status, "output": None, "error": "boom"})
    return pack({"status": status, "output": {"blob": "output"}}, {"output": dumps(value)})


def read_result(frame: bytes) -> tuple[dict[str, Any], Any]:
    """A result frame's header and its output value (None when it has none)."""
    meta, blobs = unpack(frame)
    output = meta.get("output")
    if output is None:
        return meta, None
    if "file" in output:
        with open(output["file"], "rb") as f:
            return meta, loads(f.read())
    return meta, loads(blobs[output["blob"]])
