"""The task runner: turns a task frame (and its parents' result frames) into a result frame.

This is the only place, besides clients, where user payloads are unpickled.
It runs in worker processes: a Dask worker calls :func:`run_task` directly,
:class:`~covalent_nb.executor.local.LocalExecutor` runs it as a command::

    python -m covalent_nb.executor.runner TASK_FILE RESULT_FILE [PARENT_FILE ...]

Frame formats are fixed in ``docs/internals.md`` ("The task frame"). A task
failure never raises out of :func:`run_task`: it becomes a FAILED result frame
with the error, the traceback and the output captured so far.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager, suppress
from typing import Any, Iterator, Mapping, Sequence

from covalent_nb._frames import pack, unpack
from covalent_nb._preview import text_preview
from covalent_nb._serialize import blob_key, dumps, loads
from covalent_nb.errors import CovalentNBError, SerializationError
from covalent_nb.executor.capture import CapturedOutput, captured_output
from covalent_nb.executor.task_stop import stoppable
from covalent_nb.executor.time_limit import IN_CHILD_ENV, run_with_time_limit

__all__ = ["DEFAULT_SPILL_THRESHOLD", "TaskHookError", "main", "run_task"]

DEFAULT_SPILL_THRESHOLD = 1 << 20
"""Outputs larger than this (bytes) are spilled when the frame gives a ``spill_dir`` but no threshold."""

_Blobs = Mapping[str, memoryview]
_Parents = Sequence[tuple[dict[str, Any], _Blobs]]


class TaskHookError(CovalentNBError):
    """A ``deps_bash`` command exited with a non-zero code, so the task did not run."""


def run_task(task_frame: bytes, *parent_frames: bytes) -> bytes:
    """Run the task described by ``task_frame`` and return its result frame.

    ``parent_frames`` are the result frames that ``{"parent": i}`` references
    point into. If any of them is not COMPLETED, the task is SKIPPED. A task
    whose output the server has already recorded (Dask computing it again
    after losing the worker that held it) is not run: its frame is RECORDED.
    """
    start = time.time()
    try:
        meta, blobs = unpack(task_frame)
        if meta.get("recorded") and _recorded(meta["recorded"]):
            return _frame("RECORDED", start, error="not run again: the server has recorded its output")
        parents = [unpack(frame) for frame in parent_frames]
    except Exception as exc:  # a malformed frame: report it like a task failure
        return _failure_frame(exc, start, None)
    for index, (parent_meta, _) in enumerate(parents):
        status = parent_meta.get("status")
        if status != "COMPLETED":
            return _frame("SKIPPED", start, error=f"not run: its input from parent {index} is {status}")
    with stoppable(meta.get("dispatch_id"), meta.get("node_id")):
        limit = meta.get("time_limit")
        if limit and not os.environ.get(IN_CHILD_ENV):
            return run_with_time_limit(task_frame, parent_frames, float(limit))
        # A time-limited child echoes its output, so that its parent has it even if it must stop it.
        with captured_output(echo=bool(os.environ.get(IN_CHILD_ENV))) as capture:
            try:
                fields, out_blobs = _execute(meta, blobs, parents, capture)
            except (Exception, SystemExit) as exc:
                return _failure_frame(exc, start, capture)
        return _frame(blobs=out_blobs, start=start, capture=capture, **fields)


def _recorded(note: Any) -> bool:
    """True when the server left the note that it has recorded this task's output.

    ``note`` is ``{"file": path, "byte": offset}`` (a non-zero byte there, in a
    file on the disk the worker shares with the server) or ``{"scheduler":
    keys}`` (an entry of the Dask scheduler's metadata).
    """
    if type(note) is not dict:
        raise ValueError(f"'recorded' is a JSON object, not {note!r}")
    if "file" in note:
        try:
            fd = os.open(note["file"], os.O_RDONLY)
        except FileNotFoundError:  # nothing of its dispatch recorded yet
            return False
        try:
            return os.pread(fd, 1, int(note["byte"])) not in (b"", b"\x00")
        finally:
            os.close(fd)
    from covalent_nb.executor.dask import recorded_on_scheduler

    return recorded_on_scheduler(note["scheduler"])


# -- result frames ---------------------------------------------------------------------------------

def _frame(status: str, start: float, capture: CapturedOutput | None = None, *,
           output: dict[str, str] | None = None, output_key: str | None = None,
           output_size: int | None = None, error: str | None = None, traceback: str | None = None,
           preview: str | None = None, blobs: dict[str, bytes] | None = None) -> bytes:
    meta = {
        "status": status, "output": output, "output_key": output_key, "output_size": output_size,
        "preview": preview,
        "error": error, "traceback": traceback,
        "stdout": capture.stdout if capture else "", "stderr": capture.stderr if capture else "",
        "start_time": start, "end_time": time.time(),
    }
    return pack(meta, blobs)


def _failure_frame(exc: BaseException, start: float, capture: CapturedOutput | None) -> bytes:
    message = str(exc)
    error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the runner's own frames say nothing to the user
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return _frame("FAILED", start, capture, error=error, traceback=text)


# -- running ---------------------------------------------------------------------------------------

def _execute(meta: dict[str, Any], blobs: _Blobs, parents: _Parents,
             capture: CapturedOutput) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Hooks in Covalent's order around the task: bash, pip, call_before, task, call_after."""
    hooks_ref = meta.get("hooks")
    hooks = _load_value(hooks_ref, blobs, parents, {}) if hooks_ref else None
    if not hooks:
        return _run_and_store(meta, blobs, parents, {}, ())
    _run_bash(hooks.bash, capture)
    pip_dir = None
    if hooks.pip:
        from covalent_nb.executor.pip_deps import install_isolated
        pip_dir = install_isolated(hooks.pip, meta.get("pip_cache_dir"), output=sys.stdout)
    with _on_sys_path(pip_dir):  # user payloads unpickle after pip, since they may import its packages
        extra_kwargs = _call_before(hooks.call_before)
        return _run_and_store(meta, blobs, parents, extra_kwargs, hooks.call_after)


def _run_and_store(meta: dict[str, Any], blobs: _Blobs, parents: _Parents,
                   extra_kwargs: dict[str, Any], call_after: Sequence[Any]
                   ) -> tuple[dict[str, Any], dict[str, bytes]]:
    cache: dict[int, Any] = {}
    function = _load_value(meta["function"], blobs, parents, cache)
    args = [_load_value(ref, blobs, parents, cache) for ref in meta.get("args", ())]
    kwargs = {name: _load_value(ref, blobs, parents, cache) for name, ref in meta.get("kwargs", {}).items()}
    if extra_kwargs:
        kwargs.update(extra_kwargs)
    kind = meta.get("kind", "electron")
    if kind == "sublattice":
        manifest = _sublattice_manifest(function, args, kwargs)
        for call in call_after:
            call.call()
        return {"status": "SUBLATTICE"}, {"manifest": manifest}
    if kind == "electron" or kind == "generated":
        value = function(*args, **kwargs)
    elif kind == "collection":
        value = function.fill(*args)
    else:
        raise ValueError(f"unknown task kind {kind!r} (expected electron, generated, collection or sublattice)")
    for call in call_after:
        call.call()
    return _store_output(value, meta)


def _load_value(ref: Mapping[str, Any], blobs: _Blobs, parents: _Parents, cache: dict[int, Any]) -> Any:
    """Resolve a value reference: ``{"blob": name}``, ``{"file": path}`` or ``{"parent": i}``."""
    if type(ref) is not dict:
        raise ValueError(f"a value reference is a JSON object, not {ref!r}")
    if "blob" in ref:
        return loads(blobs[ref["blob"]])
    if "parent" in ref:
        index = ref["parent"]
        if index not in cache:
            parent_meta, parent_blobs = parents[index]
            cache[index] = _load_value(parent_meta["output"], parent_blobs, (), {})
        return cache[index]
    if "file" in ref:
        with open(ref["file"], "rb") as f:
            return loads(f.read())
    raise ValueError(f"unknown value reference {ref!r}")


def _store_output(value: Any, meta: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    try:
        data = dumps(value)
    except Exception as exc:
        raise SerializationError(
            f"the output of task {meta.get('name')!r} (a {type(value).__name__}) could not be pickled: "
            f"{type(exc).__name__}: {exc}; return a value that cloudpickle can serialize"
        ) from None
    key = blob_key(data)
    fields: dict[str, Any] = {"status": "COMPLETED", "output_key": key, "output_size": len(data),
                              "preview": text_preview(value)}  # what displays show: nobody unpickles for it
    spill_dir = meta.get("spill_dir")
    if spill_dir:
        threshold = meta.get("spill_threshold")
        if len(data) > (DEFAULT_SPILL_THRESHOLD if threshold is None else threshold):
            fields["output"] = {"file": _spill(spill_dir, key, data)}
            return fields, {}
    fields["output"] = {"blob": "output"}
    return fields, {"output": data}


def _spill(spill_dir: str, key: str, data: bytes) -> str:
    """Write ``data`` to ``spill_dir/key[:2]/key[2:]`` atomically, unless it is already there."""
    folder = os.path.join(spill_dir, key[:2])
    path = os.path.join(folder, key[2:])
    if os.path.exists(path):
        return path
    os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    return path


def _sublattice_manifest(lattice: Any, args: list[Any], kwargs: dict[str, Any]) -> bytes:
    """The inner lattice's manifest built with the actual inputs, its blobs inline (base64)."""
    from covalent_nb.workflow.manifest import build_manifest

    manifest, manifest_blobs = build_manifest(lattice, tuple(args), kwargs)
    inline = dict(manifest.get("blobs") or {})
    inline.update({key: base64.b64encode(data).decode("ascii") for key, data in manifest_blobs.items()})
    manifest["blobs"] = inline
    return json.dumps(manifest).encode()


# -- hooks -----------------------------------------------------------------------------------------

def _run_bash(commands: Sequence[str], capture: CapturedOutput) -> None:
    """Run each command in a shell; its output joins the task's; a failure stops the task."""
    shell = shutil.which("bash")
    for command in commands:
        proc = subprocess.run(command, shell=True, executable=shell, stdin=subprocess.DEVNULL,
                              capture_output=True, encoding="utf-8", errors="replace")
        capture.write_stdout(proc.stdout)
        capture.write_stderr(proc.stderr)
        if proc.returncode != 0:
            raise TaskHookError(f"deps_bash command {command!r} exited with code {proc.returncode}")


def _call_before(calls: Sequence[Any]) -> dict[str, Any]:
    """Make the call_before calls; values with a retval_keyword become task keyword arguments."""
    collected: dict[str, list[Any]] = {}
    for call in calls:
        value = call.call()
        if call.retval_keyword:
            collected.setdefault(call.retval_keyword, []).append(value)
    return {name: values[0] if len(values) == 1 else values for name, values in collected.items()}


_path_users: dict[str, int] = {}
_path_lock = threading.Lock()


@contextmanager
def _on_sys_path(directory: str | None) -> Iterator[None]:
    """Put ``directory`` first on ``sys.path`` while the block runs, then undo it.

    Modules imported from it are evicted from ``sys.modules`` afterwards. Tasks
    running at once in threads of one process share the entry; the last one out
    removes it.
    """
    if directory is None:
        yield
        return
    with _path_lock:
        _path_users[directory] = _path_users.get(directory, 0) + 1
        if directory not in sys.path:
            sys.path.insert(0, directory)
    importlib.invalidate_caches()
    try:
        yield
    finally:
        with _path_lock:
            _path_users[directory] -= 1
            if _path_users[directory] == 0:
                del _path_users[directory]
                with suppress(ValueError):
                    sys.path.remove(directory)
                sys.path_importer_cache.pop(directory, None)
                _evict_modules(directory)


def _evict_modules(directory: str) -> None:
    prefix = os.path.join(directory, "")
    for name, module in list(sys.modules.items()):
        locations = [getattr(module, "__file__", None) or ""]
        locations.extend(getattr(module, "__path__", None) or ())
        if any(isinstance(loc, str) and loc.startswith(prefix) for loc in locations):
            sys.modules.pop(name, None)


# -- command line ----------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m covalent_nb.executor.runner TASK_FILE RESULT_FILE [PARENT_FILE ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2:
        print("usage: python -m covalent_nb.executor.runner TASK_FILE RESULT_FILE [PARENT_FILE ...]",
              file=sys.stderr)
        return 2
    task_path, result_path, *parent_paths = argv
    frames = []
    for path in [task_path, *parent_paths]:
        with open(path, "rb") as f:
            frames.append(f.read())
    result = run_task(*frames)
    temp = f"{result_path}.partial"
    with open(temp, "wb") as f:
        f.write(result)
    os.replace(temp, result_path)
    return 0


if __name__ == "__main__":
    from covalent_nb.executor.runner import main as _main  # the importable module, not __main__

    sys.exit(_main())
