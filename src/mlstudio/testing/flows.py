"""Helpers for tests that run workflows and the processes around them.

- ``write_flow(tmp_path, source)`` writes ``tmp_path/wf/flow.py``: ``PRELUDE`` (``mark``,
  ``block`` and ``wait_for`` for its tasks) followed by ``source``. Tasks leave marker files in
  ``tmp_path/markers`` (outside the working copy, so writing them does not change the module's
  digest); the test reads them with ``lines``/``marker`` and answers with ``touch``.
- ``working_copy(tmp_path)`` writes a flow as it is (by default ``GREET``: ``greet``/``hello``).
- ``wait_until`` polls with a deadline instead of sleeping and hoping; ``wait_finished`` polls a
  run until it is terminal.
- ``pid_alive``, ``mlstudio_executable``, ``start_mlstudio`` and ``kill_group`` start, watch and
  kill processes; ``CliResult`` is what one ``mlstudio`` command printed.

Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

FINISHED = ("succeeded", "failed", "cancelled")

PRELUDE = """
import os
import time
from pathlib import Path

MARKERS = Path(@MARKERS@)


def mark(name: str, text: str = "x") -> int:
    \"\"\"Append a line to a marker file; returns how many lines it has now.\"\"\"
    path = MARKERS / name
    with path.open("a") as handle:
        handle.write(text + "\\n")
    return len(path.read_text().splitlines())


def block(seconds: float = 120) -> None:
    \"\"\"Wait (for a kill) up to ``seconds``.\"\"\"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def wait_for(name: str, seconds: float = 120) -> None:
    \"\"\"Block until the test creates the marker ``name`` (or ``seconds`` pass).\"\"\"
    deadline = time.monotonic() + seconds
    while not (MARKERS / name).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""


# --- flow files and their markers ---------------------------------------------------------------
def write_flow(tmp_path: Path, source: str) -> Path:
    """``tmp_path/wf/flow.py``: ``PRELUDE`` (markers in ``tmp_path/markers``), then ``source``."""
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    folder = tmp_path / "wf"
    folder.mkdir(exist_ok=True)
    path = folder / "flow.py"
    path.write_text(PRELUDE.replace("@MARKERS@", repr(str(markers))) + textwrap.dedent(source))
    return path


def marker(tmp_path: Path, name: str) -> Path:
    """The path of marker ``name`` (it may not exist yet)."""
    return tmp_path / "markers" / name


def lines(tmp_path: Path, name: str) -> list[str]:
    """The lines tasks wrote to marker ``name`` with ``mark``; ``[]`` while there is none."""
    path = marker(tmp_path, name)
    return path.read_text().splitlines() if path.exists() else []


def touch(tmp_path: Path, name: str) -> None:
    """Create marker ``name``: releases a task blocked in ``wait_for(name)``."""
    marker(tmp_path, name).write_text("go\n")


GREET = """
from mlstudio import task, workflow

@task
def hello(name: str = "world") -> str:
    if name == "boom":
        raise ValueError("boom")
    return f"hello {name}"

@workflow
def greet(name: str = "world") -> str:
    return hello(name)
"""


def working_copy(tmp_path: Path, source: str = GREET, workflow: str = "greet") -> str:
    """``tmp_path/wf/flow.py`` holding ``source`` as it is (no prelude); returns
    ``PATH:WORKFLOW`` as ``mlstudio run`` and ``runs.submit`` take it. The default is ``GREET``:
    workflow ``greet(name="world")`` of one task ``hello``, which raises for ``name="boom"``."""
    folder = tmp_path / "wf"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "flow.py"
    path.write_text(textwrap.dedent(source))
    return f"{path}:{workflow}"


# --- runs as the CLI shows them -----------------------------------------------------------------
def states(run: dict[str, Any]) -> dict[str, str]:
    """node -> state of a shown run."""
    return {t["node"]: t["state"] for t in run["tasks"]}


def task_of(run: dict[str, Any], node: str) -> dict[str, Any]:
    """The task ``node`` of a shown run."""
    return next(t for t in run["tasks"] if t["node"] == node)


# --- polling with a deadline --------------------------------------------------------------------
def wait_until(
    condition: Callable[[], Any],
    what: str,
    deadline_s: float = 60.0,
    *,
    every_s: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> Any:
    """Call ``condition()`` every ``every_s`` until it returns something truthy, and return that;
    fail the test (``AssertionError``, with ``explain()`` appended) after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"timed out after {deadline_s}s waiting for {what}"
            raise AssertionError(f"{message}:\n{explain()}" if explain else message)
        time.sleep(every_s)


def wait_finished(
    show: Callable[[], dict[str, Any]], what: str, deadline_s: float = 60.0, **kwargs: Any
) -> dict[str, Any]:
    """Poll ``show()`` (a run as shown) until its state is terminal; returns it."""

    def done() -> dict[str, Any] | None:
        shown = show()
        return shown if shown["state"] in FINISHED else None

    return wait_until(done, what, deadline_s, **kwargs)


# --- processes ----------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's
    try:  # a zombie still answers; it runs nothing
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:  # gone since
        return False


def mlstudio_executable() -> str:
    """The installed ``mlstudio`` command (beside this interpreter, else on ``PATH``)."""
    beside = Path(sys.executable).with_name("mlstudio")
    found = str(beside) if beside.is_file() else shutil.which("mlstudio")
    assert found, "the mlstudio command is not installed (pip install -e .)"
    return found


def start_mlstudio(
    *args: Any, env: dict[str, str], output: int | IO[Any] = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """``mlstudio ARGS`` in the background, in a session (process group) of its own, with
    ``os.environ`` updated by ``env`` (embedded: ``MLSTUDIO_URL`` is dropped)."""
    environ = {**os.environ, **env}
    environ.pop("MLSTUDIO_URL", None)
    return subprocess.Popen(
        [mlstudio_executable(), *map(str, args)],
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.DEVNULL if output == subprocess.DEVNULL else subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """``kill -9`` of ``proc``'s process group (it and whatever it started); waits for it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)


@dataclass
class CliResult:
    """What one ``mlstudio`` command did: exit code, stdout, stderr."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


# --- queue rows ---------------------------------------------------------------------------------
def task_dispatch(task_run_id: int, attempt: int = 1, run_id: str = "run_x", **fields: Any) -> Any:
    """A ``TaskDispatch`` of task ``t`` (node ``n<task_run_id>``), no code or inputs; ``fields``
    overrides any other field."""
    from mlstudio.workflows.executors.base import TaskDispatch

    values: dict[str, Any] = {
        "run_id": run_id,
        "task_run_id": task_run_id,
        "node_id": f"n{task_run_id}",
        "task": "t",
        "attempt": attempt,
        "code": {},
        "inputs": {},
        "timeout": None,
        "artifact_url": "",
        "cache_dir": "",
    }
    return TaskDispatch(**{**values, **fields})
