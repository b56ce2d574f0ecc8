"""The store keeps the text previews of values, also in a database written before it had them."""

from __future__ import annotations

import sqlite3

from covalent_nb.server.store import ResultStore

OLD_NODES = """
CREATE TABLE nodes (
    dispatch_id TEXT NOT NULL, node_id INTEGER NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, start_time REAL, end_time REAL, executor TEXT, output_key TEXT,
    output_size INTEGER, error TEXT, traceback TEXT, stdout TEXT, stderr TEXT, sub_dispatch_id TEXT,
    fingerprint TEXT, PRIMARY KEY (dispatch_id, node_id)) WITHOUT ROWID;
INSERT INTO nodes(dispatch_id, node_id, name, kind, status) VALUES ('old', 0, 'task', 'electron', 'COMPLETED');
"""


def test_an_older_database_gains_the_preview_column(tmp_path) -> None:
    db = sqlite3.connect(tmp_path / "results.db")
    db.executescript(OLD_NODES)
    db.close()
    store = ResultStore(tmp_path)
    try:
        assert store.get_node("old", 0)["preview"] is None  # older tasks have none
        store.update_node("old", 0, preview="[1, 2]")
        assert store.get_node("old", 0)["preview"] == "[1, 2]"
        assert store.node_summaries("old", [0, 5]) == {0: {"name": "task", "kind": "electron", "status": "COMPLETED",
                                                             "preview": "[1, 2]"}}
    finally:
        store.close()


def test_parameter_previews_are_stored_with_the_tasks(tmp_path) -> None:
    store = ResultStore(tmp_path)
    try:
        with store.transaction(durable=True):
            store.insert_dispatch({"id": "d", "owner": "me", "name": "flow", "status": "NEW_OBJECT", "node_count": 2,
                                   "output_node": 1}, {"nodes": []},
                                  [{"node_id": 0, "name": ":parameter:3", "kind": "parameter", "status": "NEW_OBJECT",
                                    "preview": "3"},
                                   {"node_id": 1, "name": "task", "kind": "electron", "status": "NEW_OBJECT"}], [])
        assert store.get_node("d", 0)["preview"] == "3" and store.get_node("d", 1)["preview"] is None
        assert store.get_node("d", 2) is None
        store.update_node("d", 1, status="RUNNING")
        store.update_node("d", 0, status="COMPLETED")
        store.update_node("d", 1, status="COMPLETED")
        assert [status for _, status, _ in store.node_history("d", 1)] == ["RUNNING", "COMPLETED"]
        assert len(store.node_history("d")) == 3
    finally:
        store.close()
