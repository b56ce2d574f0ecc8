"""Many clients at once: uploads, dispatches, cancels and deletes while dispatches run.

Uploads once failed with 500 "cannot start a transaction within a
transaction" whenever a running dispatch had its turn's transaction open,
each leaving its payload behind in ``blobs/tmp``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

import covalent_nb as ct
from tests.conftest import start_server

THREADS = 16
PER_THREAD = 20
ARG_BYTES = 300 * 1024


@ct.electron
def digest(data):
    import hashlib
    return hashlib.sha256(data).hexdigest()


@ct.lattice
def digest_flow(data):
    return digest(data)


@ct.electron
def nap(seconds, data):
    import time
    time.sleep(seconds)
    return len(data)


@ct.lattice
def nap_flow(seconds, data):
    return nap(seconds, data)


def test_many_clients_upload_dispatch_cancel_and_delete_while_dispatches_run(tmp_path, monkeypatch):
    server = start_server(tmp_path, workers=2)
    monkeypatch.setenv("COVALENT_NB_TOKEN", server.token)
    addr = server.addr
    try:
        # work that keeps running (and changing state) under the whole storm
        background = [ct.dispatch(nap_flow, dispatcher_addr=addr)(0.2 * i, os.urandom(ARG_BYTES))
                      for i in range(1, 9)]
        expected: dict[str, str] = {}
        cancelled: list[str] = []
        deleted: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def client(thread: int) -> None:
            try:
                for i in range(PER_THREAD):
                    data = os.urandom(ARG_BYTES)   # a new payload each time: an upload each time
                    if i % 7 == 3:                 # some are cancelled at once
                        dispatch_id = ct.dispatch(nap_flow, dispatcher_addr=addr)(30, data)
                        ct.cancel(dispatch_id, dispatcher_addr=addr)
                        with lock:
                            cancelled.append(dispatch_id)
                        continue
                    dispatch_id = ct.dispatch(digest_flow, dispatcher_addr=addr)(data)
                    if i % 5 == 4:                 # some are deleted as soon as they end
                        result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=addr)
                        assert result.result == hashlib.sha256(data).hexdigest()
                        ct.delete(dispatch_id, dispatcher_addr=addr)
                        with lock:
                            deleted.append(dispatch_id)
                        continue
                    with lock:
                        expected[dispatch_id] = hashlib.sha256(data).hexdigest()
            except BaseException as exc:  # reported below with the others
                with lock:
                    errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        elapsed = time.monotonic() - started
        assert not any(t.is_alive() for t in threads), "clients still busy after 10 minutes"
        assert errors == [], errors[:3]
        assert len(expected) + len(cancelled) + len(deleted) == THREADS * PER_THREAD

        for dispatch_id, want in expected.items():   # nothing lost
            result = ct.get_result(dispatch_id, wait=True, dispatcher_addr=addr)
            assert result.status == "COMPLETED", (dispatch_id, result.error)
            assert result.result == want
        for dispatch_id in cancelled:
            assert ct.get_result(dispatch_id, wait=True, dispatcher_addr=addr).status == "CANCELLED"
        for dispatch_id in deleted:
            with pytest.raises(ct.DispatchNotFoundError):
                ct.get_result(dispatch_id, dispatcher_addr=addr)
        for dispatch_id in background:
            assert ct.get_result(dispatch_id, wait=True, dispatcher_addr=addr).status == "COMPLETED"

        assert list((server.data_dir / "blobs" / "tmp").iterdir()) == []      # no orphan temp files
        log = (server.data_dir / "server.log").read_text()
        assert "Uncaught exception" not in log and "Traceback" not in log, log[-3000:]
        print(f"{THREADS * PER_THREAD} dispatches of {ARG_BYTES // 1024} KB from {THREADS} threads "
              f"in {elapsed:.1f} s")
    finally:
        server.cli("stop")
