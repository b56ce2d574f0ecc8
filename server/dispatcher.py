"""The dispatcher: runs stored dispatches, task by task, as a state machine.

It moves opaque payloads between the store and executors and never unpickles
them. Tasks on a Dask cluster are submitted as soon as every parent is either
finished or itself submitted to the same cluster (chained on its future), so
a chain of tasks does not wait for a server round trip per step. Every status
change is written to the store (grouped into one transaction per event-loop
turn) before its event is published.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from typing import Any, Iterable, NamedTuple

from covalent_nb import _frames
from covalent_nb._preview import bounded_preview
from covalent_nb._serialize import blob_key
from covalent_nb._suggest import listing
from covalent_nb._status import TERMINAL, Status
from covalent_nb.errors import ExecutorError
from covalent_nb.executor.base import failed_frame
from covalent_nb.executor.time_limit import time_limit_failure

from .access import DISPATCH, Hidden, Identity, Refused, authorize
from .cluster import DaskClusters
from .events import EventHub
from .gc_pauses import CollectorPauses
from .json_body import dumps_in_pieces, parse_json
from .manifest_check import (CheckedManifest, ExecutorSettingsError, ManifestError, check_manifest,
                             check_payloads_present, check_structure, topological_order)
from .run_state import DispatchRun, NodeRun
from .settings import ServerSettings
from .slices import SLICE, SliceClock, Steps, pause, run_sliced, run_through
from .state_writer import StateWriter
from .store import ResultStore
from .task_frames import TaskFrameBuilder
from .worker_loss import WorkerLoss
from . import executors as server_executors

__all__ = ["Created", "Dispatcher", "DispatchNotFound", "ManifestError"]

log = logging.getLogger(__name__)

EXECUTOR_GRACE_SECONDS = 30.0
"""How long past a task's time limit the server waits for a non-Dask executor to report."""
NODE_ROWS_PER_WRITE = 5 * SLICE
"""Tasks of a big dispatch stored in one short transaction."""
BIG_BODY_BYTES = 256 * 1024
"""A dispatch's body larger than this is created in slices (see :meth:`Dispatcher.create_sliced`)."""


class DispatchNotFound(KeyError):
    """No dispatch with that id belongs to the caller."""


class Created(NamedTuple):
    """A dispatch just stored: its id, and what its client should be warned of at once.

    Each warning is ``{"kind": "unknown_executor", "executor": name, "tasks":
    [{"name", "node_id"}], "message": text}``: tasks naming an executor this
    server does not offer, which fail when they would start.
    """

    dispatch_id: str
    warnings: list[dict[str, Any]]


class Dispatcher:
    """Creates, runs, cancels and resumes dispatches for one server."""

    def __init__(self, settings: ServerSettings, store: ResultStore, hub: EventHub) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.clusters = DaskClusters.from_settings(settings)
        self.frames = TaskFrameBuilder(store, settings.spill_threshold,
                                       str(settings.data_dir / "pip-cache"))
        self.executors = server_executors.ExecutorResolver(settings)
        self.runs: dict[str, DispatchRun] = {}
        self.writer = StateWriter(store, hub)
        self.worker_loss = WorkerLoss(settings.data_dir / "recorded", self._workers_lost)
        self._background: set[asyncio.Task] = set()
        self.pauses = CollectorPauses()
        self._dask_cancels: list[Any] = []

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_crash)
        return task

    def flush(self) -> None:
        """Commit pending state changes, then publish their events."""
        self.writer.flush()

    # ---- creating ------------------------------------------------------------

    def create(self, owner: str, manifest: Any, parent: tuple[str, int] | None = None,
               idempotency: tuple[str, str] | None = None) -> Created:
        """Check and durably store a dispatch, start it; return its id and warnings.

        Raises ManifestError (nothing stored) when the manifest is malformed, or
        names an executor this server offers with settings it cannot take.
        ``idempotency`` (the request's key and digest) is stored with the dispatch.
        """
        checked = check_manifest(manifest, lambda key: self.store.payload_usable(owner, key))
        return run_through(self._create(owner, checked, parent, idempotency))

    async def create_sliced(self, owner: str, body: bytes,
                            idempotency: tuple[str, str] | None = None) -> Created:
        """:meth:`create` from a request's body: a big one never holds the event loop for long.

        A body over BIG_BODY_BYTES is parsed, checked and made the JSON text
        for the store in a worker thread; the payloads it names are looked up,
        its tasks stored and its run state built a slice at a time
        (server/slices.py), with the garbage collector kept from long pauses
        (server/gc_pauses.py). Raises JsonBodyError when the body is not JSON
        the API takes, else as :meth:`create`.
        """
        if len(body) <= BIG_BODY_BYTES:
            return self.create(owner, parse_json(body), idempotency=idempotency)
        with self.pauses.building():
            checked, text = await asyncio.to_thread(_parse_check_encode, body)
            missing = list(checked.missing)
            for start in range(0, len(missing), SLICE):
                check_payloads_present(checked, lambda key: self.store.payload_usable(owner, key),
                                       missing[start:start + SLICE])
                await pause()
            created = await run_sliced(self._create(owner, checked, None, idempotency, text))
            if len(checked.manifest["nodes"]) > SLICE:
                self.pauses.keep(created.dispatch_id)
        return created

    def _create(self, owner: str, checked: CheckedManifest, parent: tuple[str, int] | None,
                idempotency: tuple[str, str] | None, text: str | None = None) -> Steps[Created]:
        """Store a checked dispatch and start it (a sliced loop); ``text``: its manifest's JSON, when made."""
        manifest = checked.manifest
        warnings = yield from self._check_executors(manifest)
        redispatch_of = manifest.get("redispatch_of")
        if redispatch_of is not None:
            previous = self.store.get_dispatch(str(redispatch_of))
            try:  # one's own only: the new dispatch reuses its payloads and results
                authorize(Identity(owner, frozenset({DISPATCH})), previous, "redispatch", str(redispatch_of))
            except (Hidden, Refused):
                raise DispatchNotFound(f"no dispatch {redispatch_of!r} to redispatch") from None
        dispatch_id = str(uuid.uuid4())
        manifest.pop("blobs", None)
        rows = [{"node_id": n["id"], "name": n["name"], "kind": n["kind"],
                 "status": Status.NEW_OBJECT.value, "executor": n.get("executor"),
                 "fingerprint": n.get("fingerprint"), "preview": n.get("preview")} for n in manifest["nodes"]]
        record = {"id": dispatch_id, "owner": owner, "name": manifest["name"],
                  "status": Status.NEW_OBJECT.value, "output_node": manifest["output"],
                  "parent_id": parent[0] if parent else None,
                  "parent_node": parent[1] if parent else None,
                  "redispatch_of": redispatch_of, "node_count": len(rows)}
        self.flush()
        early = rows if len(rows) > SLICE else []  # a big dispatch's tasks: stored first, in slices
        try:
            for start in range(0, len(early), NODE_ROWS_PER_WRITE):
                with self.store.transaction():
                    self.store.insert_nodes(dispatch_id, early[start:start + NODE_ROWS_PER_WRITE])
                yield
            with self.store.transaction(durable=True):
                for key, data in checked.inline_blobs.items():
                    self.store.blobs.put(key, data)
                self.store.insert_dispatch(record, manifest if text is None else text, [] if early else rows,
                                           checked.blob_keys)
                if idempotency is not None:
                    self.store.remember_request(owner, *idempotency, dispatch_id, warnings)
        except Exception:
            if early:
                with self.store.transaction():
                    self.store.drop_creation(dispatch_id)
            raise
        run = yield from DispatchRun.in_slices(dispatch_id, owner, manifest, checked.order, self.executors.resolve)
        run.parent = parent
        self.runs[dispatch_id] = run
        reuse = None
        if redispatch_of is not None and manifest.get("reuse_previous_results"):
            reuse = self.store.completed_by_fingerprint(str(redispatch_of))
        self._spawn(self._start(run, reuse))
        return Created(dispatch_id, warnings)

    def _check_executors(self, manifest: dict[str, Any]) -> Steps[list[dict[str, Any]]]:
        """Resolve every task's executor now; warnings for the names this server does not offer (a sliced loop).

        Settings missing or of the wrong type for an executor the server offers
        refuse the dispatch (ExecutorSettingsError naming the task). A name it
        does not offer is accepted: those tasks fail when they would start.
        """
        lattice_executor = manifest["lattice"].get("executor")
        specs = [(node, node.get("executor") or lattice_executor) for node in manifest["nodes"]]
        unknown = self.executors.unknown_names(spec["name"] for _, spec in specs if spec)
        named_by: dict[str, list[tuple[str, int]]] = {}
        clock = SliceClock()
        for node, spec in specs:
            if clock.ends():
                yield
            if spec and spec["name"] in unknown:
                if node["kind"] != "parameter":  # a parameter never runs on its executor
                    named_by.setdefault(spec["name"], []).append((node["name"], node["id"]))
                continue
            try:
                self.executors.resolve(spec)
            except (ExecutorError, TypeError, ValueError) as exc:  # a plugin's own checks may raise these
                fix = "the electron's executor" if node.get("executor") else "the lattice's executor"
                if spec["name"] != server_executors.DEFAULT_EXECUTOR:
                    fix += f" or the [executors.{spec['name']}] section of the server's config"
                raise ExecutorSettingsError(
                    f"task {node['name']!r} (node {node['id']}): {exc}; fix {fix}") from None
        warnings = []
        for name, tasks in named_by.items():
            message = self.executors.unknown_message(name, tasks)
            message += " " if message.endswith("?") else ". "
            message += ("The dispatch runs; that task fails when it would start." if len(tasks) == 1 else
                        "The dispatch runs; those tasks fail when they would start.")
            warnings.append({"kind": "unknown_executor", "executor": name,
                             "tasks": [{"name": task, "node_id": nid} for task, nid in tasks],
                             "message": message})
        return warnings

    async def _start(self, run: DispatchRun, reuse: dict[str, dict[str, Any]] | None = None) -> None:
        """Start a dispatch's tasks; one whose start fails ends FAILED with the error, never stays RUNNING."""
        try:
            await self._start_tasks(run, reuse)
        except Exception as exc:
            log.error("dispatch %s could not start", run.id, exc_info=True)
            if run.status not in TERMINAL:
                self._fail_all(run, f"the dispatch could not start: {type(exc).__name__}: {exc}")

    async def _start_tasks(self, run: DispatchRun, reuse: dict[str, dict[str, Any]] | None) -> None:
        """Complete the parameters (and reused tasks), then submit every task that can go (sliced loops)."""
        now = time.time()
        clock = SliceClock()
        if run.status == Status.NEW_OBJECT:
            self.writer.set_dispatch(run, Status.RUNNING, start_time=now)
        for nid in run.order:
            if clock.ends():
                await pause()
            node = run.nodes[nid]
            if node.status != Status.NEW_OBJECT or node.dead:
                continue
            if node.kind == "parameter":
                self.writer.set_node(run, node, Status.COMPLETED, start_time=now, end_time=now,
                               output_key=node.spec["value"])
                node.output_key = node.spec["value"]
            elif reuse and node.spec.get("fingerprint") in reuse:
                self._reuse(run, node, reuse[node.spec["fingerprint"]])
        for node in run.nodes.values():
            if clock.ends():
                await pause()
            node.waiting = sum(1 for pid, _ in node.inputs if run.nodes[pid].status != Status.COMPLETED)
        for address in {n.executor["attrs"].get("scheduler_address") for n in run.nodes.values()
                        if n.is_dask and not n.finished}:
            try:
                client = await self.clusters.client(address)
            except Exception as exc:
                self._fail_all(run, f"cannot reach the Dask cluster {address or '(local)'}: {exc}")
                return
            self.worker_loss.watch(client)
        for nid in run.order:
            if clock.ends():
                await pause()
            self._try_submit(run, run.nodes[nid])
        self._check_finished(run)

    def _reuse(self, run: DispatchRun, node: NodeRun, previous: dict[str, Any]) -> None:
        self.writer.set_node(run, node, Status.PENDING_REUSE)
        self.writer.set_node(run, node, Status.COMPLETED, start_time=previous["start_time"],
                       end_time=previous["end_time"], output_key=previous["output_key"],
                       output_size=previous["output_size"], stdout=previous["stdout"],
                       stderr=previous["stderr"], preview=previous["preview"])
        node.output_key = previous["output_key"]
        self.store.add_dispatch_blob(run.id, previous["output_key"])

    def _fail_all(self, run: DispatchRun, message: str) -> None:
        """End a dispatch that cannot run at all (its tasks never start)."""
        for node in run.nodes.values():
            self._mark_dead(run, node)
        self._finalize(run, error=message)

    # ---- submitting ----------------------------------------------------------

    def _try_submit(self, run: DispatchRun, node: NodeRun) -> None:
        if node.submitted or node.finished or node.kind == "parameter" or run.status in TERMINAL:
            return
        if node.waiting == 0:
            self._submit(run, node)
            return
        if not node.is_dask:
            return
        address = node.executor["attrs"].get("scheduler_address")
        for pid, _ in node.inputs:
            parent = run.nodes[pid]
            if parent.status == Status.COMPLETED:
                continue
            if not parent.chainable or parent.executor["attrs"].get("scheduler_address") != address:
                return
        self._submit(run, node)

    def _submit(self, run: DispatchRun, node: NodeRun) -> None:
        if not self.executors.offers(node.executor["name"]):
            now = time.time()
            node.submitted = True
            self._fail(run, node, {"start_time": now, "end_time": now,
                                   "error": self.executors.unknown_message(node.executor["name"],
                                                                           [(node.name, node.id)])})
            return
        node.submitted = True
        node.attempts += 1
        if node.waiting == 0 and node.status == Status.NEW_OBJECT:
            node.start_time = time.time()
            self.writer.set_node(run, node, Status.RUNNING, start_time=node.start_time)
        if node.is_dask:
            address = node.executor["attrs"].get("scheduler_address")
            client = self.clusters.ready_client(address)
            local = self.clusters.uses_local_cluster(address)
            recorded = self.worker_loss.where(local, run.id, node.id) if run.may_feed_chain(node) else None
            frame, parents = self.frames.build(run, node, local, recorded)
            from covalent_nb.executor.runner import run_task

            node.submissions += 1
            future = client.submit(run_task, frame, *parents, pure=False,
                                   key=f"{node.name}-{run.id}-{node.id}-{node.submissions}")
            node.handle = future
            self._spawn(self._await_dask(run, node, future))
        else:
            frame, _ = self.frames.build(run, node, shared_fs=True)
            node.handle = self._spawn(self._run_on_executor(run, node, frame))

    async def _await_dask(self, run: DispatchRun, node: NodeRun, future: Any) -> None:
        try:
            frame = await future
        except Exception as exc:  # the cluster lost or refused the task
            if node.finished or node.handle is not future:
                return
            frame = failed_frame(f"the Dask cluster could not run the task: {exc!r}", node.start_time or time.time())
        if node.handle is future:
            self._on_result(run, node, frame)

    async def _run_on_executor(self, run: DispatchRun, node: NodeRun, frame: bytes) -> None:
        metadata = {"dispatch_id": run.id, "node_id": node.id, "name": node.name}
        limit = node.time_limit
        try:
            # The runner stops the task at its limit; this is the backstop for a remote
            # executor that does not answer in time.
            frame = await asyncio.wait_for(self.executors.run(node.executor, frame, metadata),
                                           None if limit is None else limit + EXECUTOR_GRACE_SECONDS)
        except asyncio.TimeoutError:
            await self.executors.cancel(node.executor, metadata)
            frame = time_limit_failure(limit, node.start_time or time.time())
        except asyncio.CancelledError:
            await self.executors.cancel(node.executor, metadata)
            raise
        except Exception as exc:
            frame = failed_frame(f"executor {node.executor['name']!r} failed: {exc}", node.start_time or time.time())
        self._on_result(run, node, frame)

    # ---- results -------------------------------------------------------------

    def _on_result(self, run: DispatchRun, node: NodeRun, frame: bytes) -> None:
        if node.finished or run.status in TERMINAL:
            return
        node.handle = None
        try:
            meta, blobs = _frames.unpack(frame)
            status = meta.get("status")
            if status == "COMPLETED":
                key, size = self._store_output(meta, blobs)
                self._complete(run, node, key, size, meta)
            elif status == "SUBLATTICE":
                self._start_sublattice(run, node, json.loads(bytes(blobs["manifest"])))
            elif status == "SKIPPED":
                self._skipped(run, node)
            elif node.attempts <= node.retries:
                node.failures.append(meta.get("error") or "the task failed")
                self._submit(run, node)
            else:
                self._fail(run, node, meta)
        except (_frames.FrameError, ValueError, KeyError, ManifestError, OSError) as exc:
            # OSError: e.g. the output file a worker wrote was deleted (a dispatch naming the
            # same payload was deleted at that moment) before it could be checked.
            self._fail(run, node, {"error": f"the task's result could not be stored: {exc}"})
        self._check_finished(run)

    def _store_output(self, meta: dict[str, Any], blobs: dict[str, memoryview]) -> tuple[str, int]:
        ref = meta.get("output") or {}
        if "blob" in ref:
            data = blobs[ref["blob"]]
            key = blob_key(data)
            self.writer.begin()
            self.store.blobs.put(key, data)
            return key, len(data)
        key = meta.get("output_key", "")
        if "file" in ref and self.store.blobs.is_key(key) and ref["file"] == str(self.store.blobs.path_for(key)):
            path = self.store.blobs.path_for(key)
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            if digest == key:
                return key, path.stat().st_size
        raise ValueError("the runner returned no valid output reference")

    def _complete(self, run: DispatchRun, node: NodeRun, key: str, size: int, meta: dict[str, Any]) -> None:
        now = time.time()
        self.writer.set_node(run, node, Status.COMPLETED, start_time=meta.get("start_time", node.start_time),
                       end_time=meta.get("end_time", now), output_key=key, output_size=size,
                       stdout=meta.get("stdout", ""), stderr=_with_retries(node, meta.get("stderr", "")),
                       preview=bounded_preview(meta.get("preview")))
        node.output_key = key
        self.store.add_dispatch_blob(run.id, key)
        if node.is_dask and any(run.nodes[cid].submitted and not run.nodes[cid].finished for cid in node.children):
            # Children chained on its future: should the worker holding its result die, Dask
            # computes it again for them, and the runner must find it recorded.
            address = node.executor["attrs"].get("scheduler_address")
            self.worker_loss.note(self.clusters.ready_client(address), self.clusters.uses_local_cluster(address),
                                  run.id, node.id)
        for cid in node.children:
            child = run.nodes[cid]
            child.waiting -= 1
            if child.finished:
                continue
            if child.submitted and child.waiting == 0 and child.status == Status.NEW_OBJECT:
                child.start_time = now
                self.writer.set_node(run, child, Status.RUNNING, start_time=now)
            else:
                self._try_submit(run, child)

    def _fail(self, run: DispatchRun, node: NodeRun, meta: dict[str, Any]) -> None:
        if node.status == Status.NEW_OBJECT:
            self.writer.set_node(run, node, Status.RUNNING, start_time=meta.get("start_time") or time.time())
        self.writer.set_node(run, node, Status.FAILED, end_time=meta.get("end_time") or time.time(),
                       error=meta.get("error") or "the task failed", traceback=meta.get("traceback", ""),
                       stdout=meta.get("stdout", ""), stderr=_with_retries(node, meta.get("stderr", "")))
        run.failed.append(node.id)
        for did in run.descendants(node.id):
            self._mark_dead(run, run.nodes[did])

    def _skipped(self, run: DispatchRun, node: NodeRun) -> None:
        """A chained task did not run: the frame of a parent it was chained on was not COMPLETED."""
        if any(run.nodes[pid].finished and run.nodes[pid].status != Status.COMPLETED for pid, _ in node.inputs):
            self._mark_dead(run, node)
            return
        # No parent failed: Dask lost the worker holding a parent's result and computed it
        # again, and the runner answered RECORDED. Submit the task again: chained on the
        # parents still running, with the recorded outputs of the others from the store.
        node.submitted = False
        node.attempts -= 1  # the skipped run was no attempt
        if not any(run.nodes[pid].status != Status.COMPLETED and run.nodes[pid].handle is not None
                   and run.nodes[pid].handle.done() for pid, _ in node.inputs):
            self._try_submit(run, node)
        # else a parent's frame is in, not yet handled: once it is, the parent completes (and
        # submits this task) or is submitted again (and this task follows when it completes).

    def _workers_lost(self, worker: str, running: Iterable[str], lost: Iterable[str]) -> None:
        """A Dask worker left its cluster: note on the tasks Dask runs again because of it."""
        for keys, when in ((running, "while the task ran there (or was about to)"),
                           (lost, "after the task ran there, before its result reached the server")):
            for key in keys:
                node = self._node_of(key)
                if node is not None:
                    node.interruptions.append(f"Dask worker {worker} was lost {when}; Dask ran the task again")

    def _node_of(self, key: Any) -> NodeRun | None:
        """The unfinished task whose current Dask key is ``key`` (``name-dispatch-node-n``)."""
        try:
            head, node_id, _ = str(key).rsplit("-", 2)
            node = self.runs[head[-36:]].nodes[int(node_id)]
        except (KeyError, ValueError):
            return None
        handle = node.handle
        return node if not node.finished and getattr(handle, "key", None) == key else None

    def _mark_dead(self, run: DispatchRun, node: NodeRun) -> None:
        if node.finished:
            return
        self._release(node)
        node.dead = True
        run.unfinished -= 1

    def _release(self, node: NodeRun) -> None:
        handle, node.handle = node.handle, None
        if handle is None:
            return
        if isinstance(handle, asyncio.Future):  # a task of another executor
            handle.cancel()
            return
        # A Dask future: its cancel() only makes a coroutine, so the dispatcher sends the
        # cancels itself, all those of one turn of the loop in one message per cluster.
        self._dask_cancels.append(handle)
        if len(self._dask_cancels) == 1:
            asyncio.get_running_loop().call_soon(self._send_dask_cancels)

    def _send_dask_cancels(self) -> None:
        futures, self._dask_cancels = self._dask_cancels, []
        self._spawn(self.clusters.cancel(futures))

    def _check_finished(self, run: DispatchRun) -> None:
        if run.unfinished == 0 and run.status == Status.RUNNING:
            self._finalize(run)

    def _finalize(self, run: DispatchRun, error: str | None = None) -> None:
        now = time.time()
        if run.cancelled:
            self.writer.set_dispatch(run, Status.CANCELLED, end_time=now, error="the dispatch was cancelled")
        elif run.failed or error:
            names = ", ".join(f"{run.nodes[i].name} (node {i})" for i in run.failed)
            self.writer.set_dispatch(run, Status.FAILED, end_time=now,
                               error=error or f"task(s) failed: {names}")
        else:
            output = run.nodes[run.output]
            self.writer.set_dispatch(run, Status.COMPLETED, end_time=now, output_key=output.output_key)
        self.runs.pop(run.id, None)
        self.pauses.ended(run.id)
        self.worker_loss.forget(run.id)
        if run.parent is not None:
            self._sublattice_finished(run)

    # ---- sublattices -----------------------------------------------------------

    def _start_sublattice(self, run: DispatchRun, node: NodeRun, manifest: dict[str, Any]) -> None:
        child_id = self.create(run.owner, manifest, parent=(run.id, node.id)).dispatch_id
        node.sub_dispatch_id = child_id
        node.submitted = True
        self.writer.begin()
        self.store.update_node(run.id, node.id, sub_dispatch_id=child_id)

    def _sublattice_finished(self, child: DispatchRun) -> None:
        parent_id, node_id = child.parent
        run = self.runs.get(parent_id)
        if run is None:
            return
        node = run.nodes[node_id]
        if node.finished:
            return
        if child.status == Status.COMPLETED:
            key = child.nodes[child.output].output_key
            size = self.store.blobs.size(key) or 0
            output = self.store.get_node(child.id, child.output) or {}
            self._complete(run, node, key, size, {"start_time": node.start_time, "preview": output.get("preview")})
        else:
            record = self.store.get_dispatch(child.id) or {}
            self._fail(run, node, {"error": f"sublattice dispatch {child.id} ended {child.status.value}: "
                                            f"{record.get('error') or ''}"})
        self._check_finished(run)

    # ---- cancelling ------------------------------------------------------------

    def cancel(self, owner: str, dispatch_id: str, task_ids: list[int] | None = None) -> dict[str, Any]:
        """Cancel a dispatch, or only some of its tasks; it then ends CANCELLED."""
        record = self.store.get_dispatch(dispatch_id)
        if record is None or record["owner"] != owner:
            raise DispatchNotFound(f"no dispatch with id {dispatch_id!r}")
        run = self.runs.get(dispatch_id)
        if run is None:
            return {"dispatch_id": dispatch_id, "status": record["status"], "cancelled": []}
        if task_ids is None:
            targets = [n for n in run.nodes.values() if not n.finished]
        else:
            unknown = [t for t in task_ids if t not in run.nodes]
            if unknown:
                tasks = listing(f"{nid} ({node.name})" for nid, node in sorted(run.nodes.items()))
                raise ManifestError(f"dispatch {dispatch_id} has no task(s) {unknown}; its tasks are: {tasks}")
            targets = [run.nodes[t] for t in task_ids if not run.nodes[t].finished]
        run.cancelled = True
        running_futures, running_tasks = [], []
        for node in targets:
            if node.finished:
                continue
            if node.is_dask and node.handle is not None and node.status == Status.RUNNING:
                running_futures.append(node.handle)
                running_tasks.append((run.id, node.id))
                node.handle = None
            self._release(node)
            if node.sub_dispatch_id and node.sub_dispatch_id in self.runs:
                self.cancel(owner, node.sub_dispatch_id)
            self.writer.set_node(run, node, Status.CANCELLED, end_time=time.time())
            for did in run.descendants(node.id):
                self._mark_dead(run, run.nodes[did])
        if running_futures:
            self._spawn(self.clusters.stop_running(running_futures, running_tasks))
        self._check_finished(run)
        return {"dispatch_id": dispatch_id, "status": run.status.value, "cancelled": [n.id for n in targets]}

    # ---- restart -----------------------------------------------------------------

    async def resume_unfinished(self) -> list[str]:
        """Pick up the dispatches that were running when the server stopped."""
        resumed = []
        for dispatch_id in self.store.unfinished_dispatches():
            record = self.store.get_dispatch(dispatch_id)
            manifest = self.store.get_manifest(dispatch_id)
            order = topological_order([n["id"] for n in manifest["nodes"]], manifest.get("edges", []))
            try:
                run = DispatchRun(dispatch_id, record["owner"], manifest, order, self.executors.resolve)
            except ExecutorError as exc:  # the server's executor config changed while it was down
                with self.store.transaction():
                    self.store.update_dispatch(dispatch_id, status=Status.FAILED.value, end_time=time.time(),
                                               error=f"cannot resume after a restart: {exc}")
                continue
            run.status = Status(record["status"])
            if record["parent_id"]:
                run.parent = (record["parent_id"], record["parent_node"])
            self.runs[dispatch_id] = run
            self._restore_nodes(run)
            resumed.append(dispatch_id)
        for dispatch_id in resumed:
            run = self.runs.get(dispatch_id)
            if run is not None:
                self._spawn(self._start(run))
        return resumed

    def _restore_nodes(self, run: DispatchRun) -> None:
        for row in self.store.get_nodes(run.id):
            node = run.nodes[row["node_id"]]
            node.status = Status(row["status"])
            node.output_key = row["output_key"]
            node.sub_dispatch_id = row["sub_dispatch_id"]
            if node.status in TERMINAL:
                run.unfinished -= 1
            if node.status == Status.FAILED:
                run.failed.append(node.id)
            if node.status == Status.CANCELLED:
                run.cancelled = True
            if node.status == Status.RUNNING:
                if node.sub_dispatch_id:
                    node.submitted = True
                else:
                    self.writer.set_node(run, node, Status.NEW_OBJECT)
        for node in list(run.nodes.values()):
            if node.status in (Status.FAILED, Status.CANCELLED):
                for did in run.descendants(node.id):
                    self._mark_dead(run, run.nodes[did])

    async def close(self) -> None:
        """Stop waiting on tasks, commit what is pending, shut the Dask clients down."""
        for task in list(self._background):
            task.cancel()
        self.worker_loss.close()
        self.flush()
        await self.clusters.close()


def _with_retries(node: NodeRun, stderr: str) -> str:
    """The task's stderr, after a line for each earlier attempt that failed and was retried,
    and for each run that a lost Dask worker cut off."""
    notes = [f"[covalent-nb] attempt {i} of {node.retries + 1} failed and was retried: {error}"
             for i, error in enumerate(node.failures, 1)]
    notes.extend(f"[covalent-nb] {note}" for note in node.interruptions)
    if not notes:
        return stderr or ""
    return "\n".join(notes) + "\n" + (stderr or "")


def _parse_check_encode(body: bytes) -> tuple[CheckedManifest, str]:
    """The manifest in ``body``, checked (but for the payloads it did not send), and its JSON text
    for the store, its inline payloads left out. Runs in a worker thread."""
    checked = check_structure(parse_json(body))
    checked.manifest.pop("blobs", None)
    return checked, dumps_in_pieces(checked.manifest)


def _log_crash(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dispatcher task crashed", exc_info=task.exception())
