"""Fixtures: moto's AWS server as a real subprocess on a free loopback port, never real AWS.

moto's Lambda and Batch run user code only through Docker, which is not
available here, so the server is switched to moto's Docker-free Lambda and
Batch (``use_docker: false``): Lambda invocations answer with the request
payload and Batch jobs are marked SUCCEEDED at once without running. Tests
that need the task to actually run play the AWS service themselves by running
the shipped runner (:mod:`covalent_nb.executor.aws.task_entry`) on the staged
task; each such test says so.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from covalent_nb._server_process import terminate_process

REGION = "us-east-1"


@dataclasses.dataclass(frozen=True)
class MotoServer:
    """A running ``python -m moto.server`` process."""

    endpoint: str
    pid: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_api(endpoint: str, path: str, body: dict[str, Any] | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{endpoint}{path}", data=data), timeout=5) as reply:
        return reply.read()


def _wait_until_answering(endpoint: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with code {proc.returncode}:\n{log.read_text()}")
        try:
            _moto_api(endpoint, "/moto-api/config")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"moto server did not answer at {endpoint} within 60 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto's server on 127.0.0.1 with Docker-free Lambda and Batch; stopped by its pid at the end."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_answering(endpoint, proc, log)
        _moto_api(endpoint, "/moto-api/config", {"batch": {"use_docker": False}, "lambda": {"use_docker": False}})
        yield MotoServer(endpoint, proc.pid)
    finally:
        terminate_process(proc)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials and a region for boto3; no AWS or covalent-nb config file of this machine is read."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("COVALENT_NB_CONFIG_DIR", str(tmp_path / "covalent-nb-config"))  # no [executors.*] of this machine
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def session(moto_server: MotoServer, aws_env: None) -> Any:
    """A boto3 session with the dummy credentials."""
    import boto3

    return boto3.Session(region_name=REGION)


@pytest.fixture
def s3(session: Any, moto_server: MotoServer) -> Any:
    """An S3 client talking to moto."""
    return session.client("s3", endpoint_url=moto_server.endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, empty bucket in moto."""
    name = f"covalent-nb-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def iam_role(session: Any, moto_server: MotoServer) -> str:
    """The ARN of a fresh IAM role in moto (Lambda and Batch resources need one)."""
    iam = session.client("iam", endpoint_url=moto_server.endpoint)
    name = f"covalent-nb-role-{uuid.uuid4().hex[:8]}"
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]


@pytest.fixture
def endpoint_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``AWS_ENDPOINT_URL`` pointing at moto, as the task side would find it; returns the endpoint."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint)
    return moto_server.endpoint

