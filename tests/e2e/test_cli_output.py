"""The installed ``mlstudio`` as a newcomer sees it, in real processes: narrow terminals
(``COLUMNS=80``), internal errors, a missing server extra, a server that never answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlstudio.testing.flows import mlstudio_executable

LONG_FLOW = """
from mlstudio import task, workflow

@task
def a_task_with_a_rather_long_descriptive_name(x: int = 1) -> int:
    return x

@workflow
def train_all(x: int = 1) -> int:
    return a_task_with_a_rather_long_descriptive_name(x)
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTUDIO_", "PYTEST_"))}
    env.update(MLSTUDIO_HOME=str(home), MLSTUDIO_USER="alice", **extra)
    return env


def cli(home: Path, *args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [mlstudio_executable(), *args],
        cwd=cwd,
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def home_with_a_run(tmp_path: Path) -> tuple[Path, Path, str]:
    """A home with one run of a long-named working copy and a long-named dataset."""
    home, work = tmp_path / "home", tmp_path / "work"
    (work / "flows").mkdir(parents=True)
    (work / "flows" / "churn.py").write_text(LONG_FLOW)
    csv = work / "accounts.csv"
    csv.write_text("id,email\n1,a@x.example\n")
    assert cli(home, "namespace", "create", "growth-analytics", cwd=work).returncode == 0
    imported = cli(
        home, "data", "import", "accounts.csv", "--name", "growth-analytics/customer-accounts",
        cwd=work,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    ran = cli(home, "run", "flows/churn.py:train_all", "--json", cwd=work)
    assert ran.returncode == 0, ran.stderr
    import json

    return home, work, json.loads(ran.stdout)["id"]


def test_at_80_columns_ids_and_names_are_never_cut(home_with_a_run):
    home, work, run_id = home_with_a_run
    workflow = "flows/churn.py:train_all"
    listed = cli(home, "runs", "list", cwd=work, COLUMNS="80")
    assert listed.returncode == 0
    assert all(len(line) <= 80 for line in listed.stdout.splitlines()), listed.stdout
    row = next(line for line in listed.stdout.splitlines() if run_id in line)
    assert workflow in row  # whole, on the run's line
    assert "…" not in listed.stdout
    assert "not shown:" in listed.stdout and "--wide" in listed.stdout

    wide = cli(home, "runs", "list", "--wide", cwd=work, COLUMNS="80")
    header = next(line for line in wide.stdout.splitlines() if " run " in line)
    for column in ("run", "workflow", "state", "tasks", "by", "created", "time"):
        assert f" {column} " in header
    assert "not shown" not in wide.stdout

    # narrower than the id and the name together: they fold onto more lines, still whole
    narrow = cli(home, "runs", "list", cwd=work, COLUMNS="40")
    cells = [line.split("│")[1:3] for line in narrow.stdout.splitlines() if line.startswith("│")]
    assert "".join(c[0].strip() for c in cells) == run_id
    assert "".join(c[1].strip() for c in cells) == workflow
    assert "…" not in narrow.stdout

    shown = cli(home, "runs", "show", run_id, cwd=work, COLUMNS="80")
    assert "a_task_with_a_rather_long_descriptive_name" in shown.stdout
    datasets = cli(home, "data", "list", cwd=work, COLUMNS="80")
    assert "growth-analytics/customer-accounts@1" in datasets.stdout
    assert "…" not in datasets.stdout

    lineage = cli(
        home, "data", "lineage", "growth-analytics/customer-accounts", cwd=work, COLUMNS="60"
    )
    assert lineage.returncode == 0
    assert all(len(line) <= 60 for line in lineage.stdout.splitlines())
    assert "import of accounts.csv by alice" in " ".join(lineage.stdout.split())


BUGGY = """
import sys
import mlstudio.cli.context as context

def broken():
    raise RuntimeError("kaboom")

context.studio = broken
from mlstudio.cli.main import main
sys.exit(main(["whoami"]))
"""


def test_an_internal_error_is_one_line_naming_the_file_with_its_traceback(tmp_path):
    home = tmp_path / "home"
    run = subprocess.run(
        [sys.executable, "-c", BUGGY], env=_env(home), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 70
    assert "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("error: internal error (a bug in mlstudio): RuntimeError: kaboom")
    saved = Path(line.split("traceback in ", 1)[1].split(";", 1)[0])
    assert saved.parent == home / "logs" / "internal-errors"
    text = saved.read_text()
    assert "mlstudio whoami" in text and "Traceback" in text and "kaboom" in text

    debug = subprocess.run(
        [sys.executable, "-c", BUGGY],
        env=_env(home, MLSTUDIO_DEBUG="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert debug.returncode == 70
    assert "Traceback (most recent call last)" in debug.stderr
    assert "RuntimeError: kaboom" in debug.stderr


WITHOUT_UVICORN = """
import sys
sys.modules["uvicorn"] = None  # as if the server extra were not installed
from mlstudio.cli.main import main
sys.exit(main(["server", "--port", "1"]))
"""


def test_server_without_the_server_extra_names_the_extra(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_UVICORN],
        env=_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 7
    assert "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert "mlstudio server needs the server extra" in line and "uvicorn" in line
    assert "pip install 'mlstudio[server]'" in line


def test_a_server_that_accepts_but_never_answers_times_out_and_says_which(tmp_path):
    from mlstudio.client import Client
    from mlstudio.errors import StoreUnavailableError

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # take connections, read nothing, answer nothing
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with Client(url, "mls_tok_x", timeout=1.0) as client:
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as caught:
                client.runs.list(limit=1)
            waited = time.monotonic() - started
        message = str(caught.value)
        assert f"the mlstudio server at {url} did not answer within 1 s" in message
        assert "read timeout on GET /runs" in message
        assert waited < 60  # bounded by the read timeout, not hung (no exact timing)
        assert accepted  # it did connect: the read, not the connect, timed out

        # the CLI says the same in one line (its read timeout is the client's default)
        from mlstudio.client.http import READ_TIMEOUT_S

        if READ_TIMEOUT_S <= 30:
            run = subprocess.run(
                [mlstudio_executable(), "runs", "list"],
                env=_env(tmp_path / "home", MLSTUDIO_URL=url, MLSTUDIO_TOKEN="mls_tok_x"),
                capture_output=True,
                text=True,
                timeout=READ_TIMEOUT_S * 4 + 60,
            )
            assert run.returncode == 7
            [line] = run.stderr.splitlines()
            assert f"did not answer within {READ_TIMEOUT_S:g} s (read timeout" in line
    finally:
        stop.set()
        thread.join(timeout=10)
        for conn in accepted:
            conn.close()
        listener.close()
