"""Builds the task frames the server hands to executors (format: docs/internals.md)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from covalent_nb import _frames
from covalent_nb._status import Status

from .run_state import DispatchRun, NodeRun
from .store import ResultStore

__all__ = ["TaskFrameBuilder"]

_CACHE_BYTES = 64 * 1024 * 1024


class TaskFrameBuilder:
    """Packs a task's function, hooks and inputs as references or bytes.

    Small payloads are cached (a fan-out of 1000 calls of one function reads
    its pickle once). With ``shared_fs`` (the worker runs on this machine)
    large payloads are passed as file paths, never read by the server.
    """

    def __init__(self, store: ResultStore, spill_threshold: int, pip_cache_dir: str | None) -> None:
        self.store = store
        self.spill_threshold = spill_threshold
        self.pip_cache_dir = pip_cache_dir
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = 0

    def _payload(self, key: str) -> bytes:
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
            return data
        data = self.store.blobs.get(key)
        if len(data) <= 1024 * 1024:
            self._cache[key] = data
            self._cache_size += len(data)
            while self._cache_size > _CACHE_BYTES:
                _, old = self._cache.popitem(last=False)
                self._cache_size -= len(old)
        return data

    def _ref(self, key: str, blobs: dict[str, bytes], shared_fs: bool) -> dict[str, str]:
        if shared_fs:
            path = self.store.blobs.file_path(key)
            if path is not None:
                return {"file": str(path)}
        if key not in blobs:
            blobs[key] = self._payload(key)
        return {"blob": key}

    def build(self, run: DispatchRun, node: NodeRun, shared_fs: bool,
              recorded: dict[str, Any] | None = None) -> tuple[bytes, list[Any]]:
        """The task frame and the parent handles (Dask futures) it refers to by index.

        ``recorded``: where the runner finds the note that the task's output is
        recorded (for tasks that children may be chained on; see worker_loss).
        """
        blobs: dict[str, bytes] = {}
        parents: list[Any] = []
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        waits: list[int] = []
        for parent_id, param in node.inputs:
            parent = run.nodes[parent_id]
            if parent.status == Status.COMPLETED:
                if param["kind"] == "wait":
                    continue
                ref: dict[str, Any] = self._ref(parent.output_key, blobs, shared_fs)
            else:
                parents.append(parent.handle)
                ref = {"parent": len(parents) - 1}
                if param["kind"] == "wait":
                    waits.append(len(parents) - 1)
                    continue
            if param["kind"] == "arg":
                index = param["index"]
                args.extend([None] * (index + 1 - len(args)))
                args[index] = ref
            else:
                kwargs[param["name"]] = ref
        spec = node.spec
        meta = {
            "dispatch_id": run.id, "node_id": node.id, "name": node.name, "kind": node.kind,
            "function": self._ref(spec["function"], blobs, shared_fs),
            "hooks": self._ref(spec["hooks"], blobs, shared_fs) if spec.get("hooks") else None,
            "args": args, "kwargs": kwargs, "wait": waits,
            "spill_dir": str(self.store.blobs.root) if shared_fs else None,
            "spill_threshold": self.spill_threshold,
            "pip_cache_dir": self.pip_cache_dir if shared_fs else None,
            "time_limit": node.time_limit,
            "recorded": recorded,
        }
        return _frames.pack(meta, blobs), parents
