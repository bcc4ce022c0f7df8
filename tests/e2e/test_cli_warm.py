"""Read commands served by the warm CLI process (mlstudio.cli.launch / mlstudio.cli.warm).

Each test gets its own socket directory and stops its warm process afterwards. The warm answer
of every command is compared with the same command run in-process (``MLSTUDIO_CLI_WARM=0``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlstudio.cli import launch
from mlstudio.testing.flows import mlstudio_executable

TRACE = "mlstudio: served warm by pid"


def _wait(predicate, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def warm(tmp_path: Path):
    warm_dir = tmp_path / "warm"
    warm_dir.mkdir(mode=0o700)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLSTUDIO_") and not k.startswith("PYTEST_")
    }
    base.update(
        MLSTUDIO_USER="alice",
        MLSTUDIO_CLI_WARM_DIR=str(warm_dir),
        MLSTUDIO_CLI_WARM_CHECK_SECONDS="0.5",  # how often it looks for its socket and code
    )

    def cli(*args: str, home: str = "home", expect: int | None = 0, **extra: str):
        env = {**base, "MLSTUDIO_HOME": str(tmp_path / home), **extra}
        proc = subprocess.run(
            [mlstudio_executable(), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if expect is not None:
            assert proc.returncode == expect, proc.stderr
        return proc

    def started() -> None:
        cli("module", "list", "--json")  # a read: starts the warm process in the background
        _wait(lambda: list(warm_dir.glob("warm-*.sock")), "the warm process to listen")

    cli.dir = warm_dir
    cli.started = started
    yield cli
    for lock in warm_dir.glob("warm-*.sock.lock"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(lock.read_text().split()[0]), signal.SIGTERM)


def _flow_module(root: Path, name: str) -> Path:
    folder = root / name.replace("/", "_")
    folder.mkdir()
    (folder / "module.toml").write_text(f'[module]\nname = "{name}"\n')
    (folder / "tasks.py").write_text(
        "from mlstudio import task, workflow\n\n@task\ndef one(x: int = 1) -> int:\n"
        "    return x\n\n@workflow\ndef wf(x: int = 1) -> int:\n    return one(x)\n"
    )
    return folder


def test_reads_are_served_warm_and_answer_exactly_as_in_process(warm, tmp_path):
    warm("namespace", "create", "team", "--json")
    warm("module", "push", str(_flow_module(tmp_path, "team/m")), "--no-tests", "--json")
    warm("run", "team/m/wf:latestAlpha", "-p", "x=3", "--json")
    warm.started()
    run_id = json.loads(warm("runs", "list", "--json").stdout)[0]["id"]
    for args in (
        ["module", "list", "--json"],
        ["module", "show", "team/m", "--json"],
        ["runs", "list", "--json"],
        ["runs", "show", run_id, "--json"],
        ["data", "list", "--json"],
        ["whoami", "--json"],
        ["module", "list"],  # the table, not only JSON
    ):
        served = warm(*args, MLSTUDIO_CLI_WARM_TRACE="1")
        alone = warm(*args, MLSTUDIO_CLI_WARM="0", MLSTUDIO_CLI_WARM_TRACE="1")
        assert TRACE in served.stderr, args
        assert TRACE not in alone.stderr, args
        assert served.stdout == alone.stdout, args


def test_errors_keep_their_exit_code_and_one_line_message(warm):
    warm.started()
    served = warm("runs", "show", "run_nope", "--json", expect=None, MLSTUDIO_CLI_WARM_TRACE="1")
    alone = warm("runs", "show", "run_nope", "--json", expect=None, MLSTUDIO_CLI_WARM="0")
    assert TRACE in served.stderr
    assert served.returncode == alone.returncode != 0
    assert served.stdout == alone.stdout
    assert json.loads(served.stdout)["error"]["message"] == "run run_nope does not exist"
    assert served.stderr.splitlines()[0] == alone.stderr.strip()


def test_each_command_sees_its_own_environment(warm, tmp_path):
    """One warm process serves two homes and two users without mixing them up."""
    warm.started()
    warm("namespace", "create", "alpha", "--json", home="a")
    warm("module", "push", str(_flow_module(tmp_path, "alpha/m")), "--no-tests", "--json", home="a")
    listed_a = json.loads(warm("module", "list", "--json", home="a").stdout)
    listed_b = json.loads(warm("module", "list", "--json", home="b").stdout)
    assert [m["full_name"] for m in listed_a] == ["alpha/m"]
    assert listed_b == []
    me = json.loads(warm("whoami", "--json", home="a", MLSTUDIO_USER="bob").stdout)
    assert json.dumps(me).count("bob") >= 1 and "alice" not in json.dumps(me)


def test_writes_and_following_run_in_process(warm, tmp_path):
    warm.started()
    pushed = warm("namespace", "create", "team", "--json", MLSTUDIO_CLI_WARM_TRACE="1")  # a write
    assert TRACE not in pushed.stderr
    assert not launch._servable(["runs", "logs", "run_x", "--follow"])
    assert not launch._servable(["module", "list", "--help"])
    assert launch._servable(["--json", "module", "list"])
    assert not launch._servable(["module", "push", "list"])
    assert launch._servable(["run", "team/m/wf", "-p", "x=1"])
    assert not launch._servable(["run", "--help"])


def test_many_reads_at_once_each_get_their_answer(warm, tmp_path):
    warm("namespace", "create", "team", "--json")
    warm("module", "push", str(_flow_module(tmp_path, "team/m")), "--no-tests", "--json")
    warm.started()
    expected = warm("module", "list", "--json", MLSTUDIO_CLI_WARM="0").stdout
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: warm("module", "list", "--json", MLSTUDIO_CLI_WARM_TRACE="1"), range(24)
            )
        )
    assert all(a.stdout == expected and TRACE in a.stderr for a in answers)


def test_turned_off_or_an_unsafe_directory_means_in_process(warm, tmp_path):
    off = warm("module", "list", "--json", MLSTUDIO_CLI_WARM="0")
    assert off.stdout.strip() == "[]"
    assert not list(warm.dir.glob("warm-*"))
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    proc = warm("module", "list", "--json", MLSTUDIO_CLI_WARM_DIR=str(shared))
    assert proc.stdout.strip() == "[]"
    assert not list(shared.iterdir())  # never a socket in a directory others can write


def test_the_warm_process_leaves_when_its_socket_is_removed(warm):
    warm.started()
    lock = next(warm.dir.glob("warm-*.sock.lock"))
    pid = int(lock.read_text().split()[0])
    next(warm.dir.glob("warm-*.sock")).unlink()
    _wait(lambda: not Path(f"/proc/{pid}").exists(), "the warm process to exit", 30.0)
    served = warm("module", "list", "--json", MLSTUDIO_CLI_WARM_TRACE="1")
    assert TRACE not in served.stderr  # no socket: answered in-process (and a new one starts)


def test_new_code_gets_a_new_warm_process():
    source = Path(launch.__file__)
    before = launch.code_digest()
    st = source.stat()
    try:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert launch.code_digest() != before
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert launch.code_digest() == before


def test_run_is_served_warm_and_ends_as_in_process(warm, tmp_path):
    warm("namespace", "create", "team", "--json")
    warm("module", "push", str(_flow_module(tmp_path, "team/m")), "--no-tests", "--json")
    warm.started()
    served = warm(
        "run", "team/m/wf:latestAlpha", "-p", "x=4", "--json", MLSTUDIO_CLI_WARM_TRACE="1"
    )
    alone = warm("run", "team/m/wf:latestAlpha", "-p", "x=5", "--json", MLSTUDIO_CLI_WARM="0")
    assert TRACE in served.stderr
    ran, ran_alone = json.loads(served.stdout), json.loads(alone.stdout)
    assert (ran["state"], ran["output_value"]) == ("succeeded", 4)
    assert (ran_alone["state"], ran_alone["output_value"]) == ("succeeded", 5)
    assert sorted(ran) == sorted(ran_alone)  # the same fields either way
    failed = warm("run", "team/m/wf:latestAlpha", "-p", "x=oops", "--json", expect=None)
    failed_alone = warm(
        "run", "team/m/wf:latestAlpha", "-p", "x=oops", "--json", expect=None, MLSTUDIO_CLI_WARM="0"
    )
    assert failed.returncode == failed_alone.returncode != 0
    assert failed.stdout == failed_alone.stdout


def test_a_warm_run_dies_with_its_caller(warm, tmp_path):
    """kill -9 of the `mlstudio run` the user started takes its engine (the warm child) and
    the engine's task process with it, as when the run was in-process."""
    folder = tmp_path / "team_slow"
    folder.mkdir()
    (folder / "module.toml").write_text('[module]\nname = "team/slow"\n')
    marks = tmp_path / "marks"
    (folder / "tasks.py").write_text(
        "import os, time\nfrom pathlib import Path\nfrom mlstudio import task, workflow\n\n"
        "@task\ndef slow() -> int:\n"
        f"    Path({str(marks)!r}).write_text(f'{{os.getpid()}} {{os.getppid()}}')\n"
        "    time.sleep(120)\n    return 1\n\n"
        "@workflow\ndef wf() -> int:\n    return slow()\n"
    )
    warm("namespace", "create", "team", "--json")
    warm("module", "push", str(folder), "--no-tests", "--json")
    warm.started()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTUDIO_", "PYTEST_"))} | {
        "MLSTUDIO_USER": "alice",
        "MLSTUDIO_HOME": str(tmp_path / "home"),
        "MLSTUDIO_CLI_WARM_DIR": str(warm.dir),
    }
    caller = subprocess.Popen(
        [mlstudio_executable(), "run", "team/slow/wf:latestAlpha", "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(lambda: marks.exists() and len(marks.read_text().split()) == 2, "the task to start")
        task_pid, engine_pid = (int(p) for p in marks.read_text().split())
        assert engine_pid != caller.pid  # the engine is the warm child, not the caller
        caller.kill()
        caller.wait(timeout=10)
        _wait(lambda: not Path(f"/proc/{engine_pid}").exists(), "the warm engine to die", 30.0)
        _wait(lambda: not Path(f"/proc/{task_pid}").exists(), "its task process to exit", 30.0)
    finally:
        if caller.poll() is None:
            caller.kill()
