"""Tests of covalent_nb.demo: its table, and `covalent-nb demo` end to end on a real server."""

from __future__ import annotations

import datetime
import os
import socket
import subprocess
import sys
from pathlib import Path

from covalent_nb.demo import format_node_table


def test_node_table_lists_tasks_and_counts_parameters() -> None:
    start = datetime.datetime(2024, 1, 1, 12, 0, 0)
    nodes = [
        {"node_id": 1, "node_name": "square", "status": "COMPLETED", "output": 4,
         "start_time": start, "end_time": start + datetime.timedelta(milliseconds=250)},
        {"node_id": 0, "node_name": ":parameter:2", "status": "COMPLETED", "output": 2,
         "start_time": None, "end_time": None},
        {"node_id": 2, "node_name": "total", "status": "FAILED", "output": "x" * 100,
         "start_time": 10.0, "end_time": 10.5},
    ]
    lines = format_node_table(nodes).splitlines()
    assert lines[0].split() == ["node", "name", "status", "time", "output"]
    assert lines[1].split() == ["1", "square", "COMPLETED", "250.0ms", "4"]
    assert lines[2].split()[:4] == ["2", "total", "FAILED", "500.0ms"]
    assert lines[2].endswith("...") and len(lines[2].split()[4]) == 40
    assert lines[3] == "(1 parameter nodes holding the inputs are not shown)"


def test_node_table_says_pending_for_a_task_that_has_not_started() -> None:
    nodes = [{"node_id": 3, "node_name": "describe", "status": "NEW_OBJECT", "output": None,
              "start_time": None, "end_time": None}]
    assert format_node_table(nodes).splitlines()[1].split()[:4] == ["3", "describe", "pending", "-"]


def test_demo_command_runs_the_workflow_and_stops_its_server(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, COVALENT_NB_CONFIG_DIR=str(tmp_path / "conf"),
               COVALENT_NB_DATA_DIR=str(tmp_path / "data"))
    env.pop("COVALENT_NB_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "covalent_nb", "demo", "--port", str(port)],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "dispatch id " in done.stdout
    assert "status: COMPLETED" in done.stdout
    assert "result: 1^2 + 2^2 + ... + 8^2 = 204" in done.stdout
    assert done.stdout.count(" square ") == 8 and "time taken:" in done.stdout
    assert "stopped covalent-nb dispatcher" in done.stdout
    assert not (tmp_path / "data" / "server.pid").exists()
    status = subprocess.run([sys.executable, "-m", "covalent_nb", "status"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 3
