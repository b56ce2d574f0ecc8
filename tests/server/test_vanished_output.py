"""A task whose output file is gone before the dispatcher checks it fails that task, cleanly.

The runner of a task on this machine writes its output into the blob store
and names the file; the dispatcher then checks the file's hash. If the file
vanished in between (a DELETE of another dispatch that named the same
payload removed it at that moment), the result path must fail the task with
a message, not raise out of the dispatcher. The race itself cannot be timed
from outside, so this test hands the real dispatcher (in this process, no
Dask cluster) the frame such a runner would return.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from covalent_nb import _frames
from covalent_nb._status import TERMINAL, Status
from covalent_nb.server.app import DispatcherService
from covalent_nb.server.settings import ServerSettings

from tests.server.manifests import small_manifest

GONE = "ab" * 32  # a well-formed key whose file does not exist


def test_an_output_file_gone_before_its_check_fails_the_task(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, str, str]:
        service = DispatcherService(ServerSettings(data_dir=tmp_path, address="127.0.0.1", port=0, cluster=False))
        await service.start()
        try:
            manifest = small_manifest()
            manifest["nodes"][1]["executor"] = {"name": "local", "attrs": {}}
            dispatcher = service.dispatcher
            dispatch_id = dispatcher.create("local", manifest).dispatch_id
            await asyncio.sleep(0)  # the start: node 1 is handed to its executor
            run = dispatcher.runs[dispatch_id]
            node = run.nodes[1]
            assert node.status == Status.RUNNING
            frame = _frames.pack({"status": "COMPLETED", "output_key": GONE,
                                  "output": {"file": str(service.store.blobs.path_for(GONE))}})
            dispatcher._on_result(run, node, frame)  # raised FileNotFoundError before
            dispatcher.flush()
            for _ in range(600):  # the local executor's own result comes later and is ignored
                if service.store.get_dispatch(dispatch_id)["status"] in {s.value for s in TERMINAL}:
                    break
                await asyncio.sleep(0.05)
            record = service.store.get_dispatch(dispatch_id)
            task = next(n for n in service.store.get_nodes(dispatch_id) if n["node_id"] == 1)
            return record["status"], task["status"], task["error"] or ""
        finally:
            await service.stop()

    dispatch_status, task_status, error = asyncio.run(scenario())
    assert (dispatch_status, task_status) == ("FAILED", "FAILED")
    assert error.startswith("the task's result could not be stored:") and "No such file" in error
