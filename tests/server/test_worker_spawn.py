"""Local cluster workers started from a host run as a script or a module: they skip the host's main."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HOST = """
import asyncio, os
with open("runs.txt", "a") as record:  # every process that runs this module says so
    record.write(f"{os.getpid()}\\n")

from covalent_nb.server.cluster import DaskClusters

async def main():
    clusters = DaskClusters(2)
    client = await clusters.client(None)
    print(len(await client.run(os.getpid)))
    await clusters.close()

if __name__ == "__main__":
    asyncio.run(main())
"""
"""A host of a local cluster: records each process that runs it, prints how many workers answered."""


@pytest.mark.parametrize("command", [["host.py"], ["-m", "host"]], ids=["script", "module"])
def test_workers_do_not_run_the_host_main_again(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "host.py").write_text(textwrap.dedent(HOST))
    done = subprocess.run([sys.executable, *command], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2", done.stdout  # two workers ran
    runs = (tmp_path / "runs.txt").read_text().split()
    assert len(runs) == 1, f"processes that ran the host's main: {runs}"
