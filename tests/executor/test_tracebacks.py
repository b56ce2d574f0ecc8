"""A failing task's traceback names the user's file and line and shows the line, wherever the function was written.

Each case pickles a failing function in one process: a module registered
"by value", a script run as ``__main__``, a cell of IPython's terminal-style
``InteractiveShell`` (``<ipython-input-...>`` names) and a cell of a real
ipykernel kernel (``/tmp/ipykernel_<pid>/<hash>.py`` names, files that never
exist). The source file is then removed where there is one, and the task runs
in another process with ``python -m covalent_nb.executor.runner``, as
LocalExecutor runs it. Every case runs with the installed cloudpickle and with
the oldest release ``pyproject.toml`` allows, installed with pip into a folder
put first on ``PYTHONPATH`` of both processes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Iterator

import cloudpickle
import jupyter_client
import pytest
from packaging.version import Version

from covalent_nb._frames import unpack

REPO = Path(__file__).resolve().parents[2]

USER_CODE = '''\
def helper(b):
    return [1 / x for x in [b]]


def divide(a, b):
    print("dividing", a, "by", b)
    total = a + helper(b)[0]
    return total
'''

WRITE_FRAME = '''
import cloudpickle
from tests.executor.taskframes import task_frame
with open({frame!r}, "wb") as f:
    f.write(task_frame(divide, 1, 0, name="divide"))
print("cloudpickle", cloudpickle.__version__)
print("file", divide.__code__.co_filename)
'''


def oldest_allowed_cloudpickle() -> str:
    """The lower bound of ``cloudpickle>=...`` in pyproject.toml's dependencies."""
    with open(REPO / "pyproject.toml", "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    [floor] = [re.fullmatch(r"cloudpickle\s*>=\s*([\w.]+)", dep.strip()).group(1)  # type: ignore[union-attr]
               for dep in dependencies if dep.startswith("cloudpickle")]
    return floor


@pytest.fixture(scope="session")
def oldest_cloudpickle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the oldest cloudpickle release that pyproject.toml allows (from PyPI)."""
    target = tmp_path_factory.mktemp("oldest_cloudpickle")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                           f"cloudpickle=={oldest_allowed_cloudpickle()}"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture(params=["installed", "oldest"])
def cloudpickle_env(request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, str], Version]]:
    """The environment of both processes and the cloudpickle version they must see."""
    paths = [str(REPO)]
    expected = Version(cloudpickle.__version__)
    if request.param == "oldest":
        paths.insert(0, str(request.getfixturevalue("oldest_cloudpickle_dir")))
        expected = Version(oldest_allowed_cloudpickle())
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    yield dict(os.environ, PYTHONPATH=os.pathsep.join(paths)), expected


def client_said(output: str, expected_version: Version) -> str:
    """Check the cloudpickle version the pickling process printed; return the file name it printed."""
    version = re.search(r"^cloudpickle (\S+)$", output, re.M)
    filename = re.search(r"^file (.+)$", output, re.M)
    assert version and filename, output
    assert Version(version.group(1)) == expected_version
    return filename.group(1)


def run_task_elsewhere(frame: Path, env: dict[str, str], cwd: Path) -> dict[str, object]:
    """Run the task frame with the runner's command in a new process; return the result frame's header."""
    result = frame.with_suffix(".result")
    done = subprocess.run([sys.executable, "-m", "covalent_nb.executor.runner", str(frame), str(result)],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    meta, _ = unpack(result.read_bytes())
    return meta


def assert_user_traceback(meta: dict[str, object], filename: str) -> None:
    assert meta["status"] == "FAILED"
    assert meta["error"] == "ZeroDivisionError: division by zero"
    assert meta["stdout"] == "dividing 1 by 0\n"
    text = str(meta["traceback"])
    assert f'File "{filename}", line 7, in divide\n    total = a + helper(b)[0]\n' in text, text
    assert f'File "{filename}", line 2, in helper\n    return [1 / x for x in [b]]\n' in text, text
    assert "<dynamic-code>" not in text and "executor/runner.py" not in text


def run_python(code: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_function_of_a_module_pickled_by_value(tmp_path: Path, cloudpickle_env: tuple[dict[str, str], Version]
                                               ) -> None:
    env, version = cloudpickle_env
    source = tmp_path / "client"
    source.mkdir()
    (source / "usermod.py").write_text(USER_CODE)
    frame = tmp_path / "task.frame"
    client = ("import cloudpickle, usermod\n"
              "cloudpickle.register_pickle_by_value(usermod)\n"
              "from usermod import divide\n" + WRITE_FRAME.format(frame=str(frame)))
    filename = client_said(run_python(client, env, source), version)
    assert filename == str(source / "usermod.py")
    shutil.rmtree(source)  # the worker has neither the module nor its file
    assert_user_traceback(run_task_elsewhere(frame, env, tmp_path), filename)


def test_function_of_a_script_run_as_main(tmp_path: Path, cloudpickle_env: tuple[dict[str, str], Version]) -> None:
    env, version = cloudpickle_env
    frame = tmp_path / "task.frame"
    script = tmp_path / "flow.py"
    script.write_text(USER_CODE + WRITE_FRAME.format(frame=str(frame)))
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    filename = client_said(done.stdout, version)
    assert filename == str(script)
    script.unlink()
    assert_user_traceback(run_task_elsewhere(frame, env, tmp_path), filename)


def test_function_of_an_interactive_shell_cell(tmp_path: Path, cloudpickle_env: tuple[dict[str, str], Version]
                                               ) -> None:
    env, version = cloudpickle_env
    frame = tmp_path / "task.frame"
    client = textwrap.dedent(f"""
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_cell({USER_CODE!r}).raise_error()
        shell.run_cell({WRITE_FRAME.format(frame=str(frame))!r}).raise_error()
    """)
    filename = client_said(run_python(client, env, tmp_path), version)
    assert filename.startswith("<ipython-input-")
    assert_user_traceback(run_task_elsewhere(frame, env, tmp_path), filename)


def test_function_of_a_notebook_cell_in_a_real_kernel(tmp_path: Path,
                                                      cloudpickle_env: tuple[dict[str, str], Version]) -> None:
    env, version = cloudpickle_env
    frame = tmp_path / "task.frame"
    manager, client = jupyter_client.manager.start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        printed: list[str] = []

        def collect(message: dict) -> None:
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])

        for cell in (USER_CODE, WRITE_FRAME.format(frame=str(frame))):
            reply = client.execute_interactive(cell, timeout=60, output_hook=collect)
            assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    filename = client_said("".join(printed), version)
    assert re.search(r"ipykernel_\d+[/\\]\d+\.py$", filename), filename
    assert not os.path.exists(filename)
    assert_user_traceback(run_task_elsewhere(frame, env, tmp_path), filename)
