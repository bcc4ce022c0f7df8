"""The task sandbox (issue 9.1, Python tasks): no task reads data around the enforcement point.

On the local executor (both databases), a queue worker (``mlstudio worker`` processes) and Ray:
a task opening an artifact-store blob, the metadata database or another task's log is refused
and fails ``denied`` without a retry, and the refusal is audited; the worker's own reads (a
lazily loaded input table, the task's log, the module's code) still work; every attempt gets a
scratch directory of its own that is removed afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.flows import (
    kill_group,
    lines,
    start_mlstudio,
    states,
    task_of,
    write_flow,
)

PROBE = """
import shutil
import sqlite3
from mlstudio import task, workflow

@task(retries=2, retry_delay=0.01)
def probe(target: dict) -> str:
    mark("attempts", target["how"])
    path, how = target["path"], target["how"]
    if how == "open":
        return open(path, "rb").read(16).hex()
    if how == "listdir":
        return ",".join(os.listdir(path))
    if how == "sqlite":
        return str(sqlite3.connect(path).execute("select count(*) from runs").fetchone())
    if how == "copy":
        return shutil.copy(path, os.path.join(os.environ["TMPDIR"], "stolen"))
    if how == "connect":  # the metadata database's server, over the network
        import socket

        host, port = path.rsplit(":", 1)
        return str(socket.create_connection((host, int(port)), timeout=5))
    if how == "caught":  # a task that swallows the refusal is still denied
        try:
            return open(path, "rb").read().hex()
        except PermissionError:
            return "got away with it"
    raise AssertionError(how)

@workflow
def steal(targets: list) -> list:
    return probe.map(target=targets)
"""


def protected_targets(studio) -> list[dict[str, str]]:
    """A real blob of the artifact store, a real task log, the home, and (SQLite) the DB."""
    blob = next(p for p in (studio.home / "artifacts").rglob("*") if p.is_file())
    log = next(p for p in (studio.home / "logs").rglob("*.log"))
    targets = [
        {"how": "open", "path": str(blob)},
        {"how": "copy", "path": str(blob)},
        {"how": "open", "path": str(log)},
        {"how": "listdir", "path": str(studio.home)},
        {"how": "caught", "path": str(blob)},
    ]
    if studio.backend == "sqlite":
        db = studio.home / "studio.db"
        targets += [
            {"how": "open", "path": str(db)},
            {"how": "sqlite", "path": str(db)},
            {"how": "open", "path": f"{db}-wal"},
        ]
    else:
        from sqlalchemy.engine import make_url

        url = make_url(studio.database_url)
        targets.append({"how": "connect", "path": f"{url.host}:{url.port or 5432}"})
    return targets


def shown_path(target: dict[str, str]) -> str:
    return target["path"] if target["how"] == "connect" else os.path.realpath(target["path"])


def seed_a_log(studio, tmp_path: Path) -> None:
    """A first run that prints, so the home has a task log (and the store blobs)."""
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def chatty() -> int:
            print("a line in someone else's log")
            return 1

        @workflow
        def seed() -> int:
            return chatty()
        """,
    )
    assert studio.ok("run", f"{flow}:seed")["state"] == "succeeded"


def assert_denied_and_audited(studio, run: dict[str, Any], targets: list[dict[str, str]]) -> None:
    assert run["state"] == "failed"
    probes = [t for t in run["tasks"] if t["kind"] == "task"]
    assert len(probes) == len(targets)
    for t in probes:
        target = targets[int(t["node"].rsplit("[", 1)[1].rstrip("]"))]
        assert t["state"] == "failed", t
        assert t["attempt"] == 1, f"a denied task is not retried: {t}"
        assert t["error"].startswith("denied: the task sandbox refused"), t["error"]
        assert shown_path(target) in t["error"]
    audited = [
        e
        for e in studio.ok("audit", "--action", "sandbox.access")
        if e["resource"].startswith(f"run:{run['id']}/")
    ]
    assert len(audited) == len(targets)
    assert {e["decision"] for e in audited} == {"deny"}
    assert {e["details"]["path"] for e in audited} == {shown_path(t) for t in targets}
    assert all(e["actor"] == "alice" and e["details"]["reason"] for e in audited)


def run_steal(studio, flow: Path, targets: list[dict[str, str]], *extra: str) -> dict[str, Any]:
    result = studio.cli(
        "run", f"{flow}:steal", "-p", f"targets={json.dumps(targets)}", *extra, "--json"
    )
    assert result.code == 1, result.stderr
    return result.json


# --- the local executor ------------------------------------------------------------------------
def test_local_tasks_opening_the_store_the_database_or_a_log_are_denied_and_audited(
    studio, tmp_path
):
    seed_a_log(studio, tmp_path)
    targets = protected_targets(studio)
    kept = [Path(targets[0]["path"]), Path(targets[2]["path"])]  # the blob and the log
    before = [p.read_bytes() for p in kept]
    flow = write_flow(tmp_path, PROBE)
    run = run_steal(studio, flow, targets)
    assert_denied_and_audited(studio, run, targets)
    assert sorted(lines(tmp_path, "attempts")) == sorted(t["how"] for t in targets)
    # nothing was taken or broken: the blobs are as they were, the database still answers
    assert [p.read_bytes() for p in kept] == before
    assert any(r["id"] == run["id"] for r in studio.ok("runs", "list"))


def test_the_workers_own_reads_still_work_while_the_task_is_confined(studio, tmp_path):
    studio.ok("namespace", "create", "shop")
    csv = tmp_path / "orders.csv"
    csv.write_text("id,amount\n1,10\n2,20\n3,30\n")
    studio.ok(
        "data", "import", csv, "--name", "shop/orders", "--domain", "experimentation",
        "--classify", "id=public", "--classify", "amount=public",
    )  # fmt: skip
    flow = write_flow(
        tmp_path,
        """
        import logging
        from mlstudio import Dataset, dataset, task, workflow

        @task
        def total(orders: Dataset) -> int:
            import helpers  # the module's own code, imported lazily: allowed

            print("loading the table")  # the task's log, opened by the worker
            logging.getLogger("t").warning("and a log record")
            return helpers.double(int(orders.to_pandas()["amount"].sum()))  # loaded lazily

        @workflow
        def wf() -> int:
            return total(dataset("shop/orders"))
        """,
    )
    (flow.parent / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    run = studio.ok("run", f"{flow}:wf")
    assert run["state"] == "succeeded" and run["output_value"] == 120
    [log] = studio.ok("runs", "logs", run["id"], "--task", "total")
    assert "loading the table" in log["text"] and "and a log record" in log["text"]


def test_every_attempt_gets_its_own_scratch_directory_removed_afterwards(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        import tempfile
        from mlstudio import current, task, workflow

        @task(retries=1, retry_delay=0.01)
        def flaky() -> str:
            scratch = current().scratch
            assert tempfile.gettempdir() == str(scratch) == os.environ["TMPDIR"]
            assert list(scratch.iterdir()) == [], "a fresh directory per attempt"
            (scratch / "work.bin").write_bytes(b"x" * 1000)
            tempfile.mkstemp()  # lands in the scratch directory too
            attempt = mark("scratch", str(scratch))
            if attempt == 1:
                raise RuntimeError("first attempt fails")
            return str(scratch)

        @workflow
        def wf() -> str:
            return flaky()
        """,
    )
    run = studio.ok("run", f"{flow}:wf")
    assert run["state"] == "succeeded" and task_of(run, "flaky")["attempt"] == 2
    first, second = lines(tmp_path, "scratch")
    assert first != second and Path(first).parent == Path(second).parent
    assert Path(first).name.startswith(f"{run['id']}.flaky.1.")
    assert Path(second).name.startswith(f"{run['id']}.flaky.2.")
    assert not Path(first).exists() and not Path(second).exists()


def test_the_first_task_on_a_fresh_machine_gets_its_scratch_directory(studio, tmp_path):
    """The scratch folder does not exist yet (a new /tmp): the worker makes it before the
    task's code runs, because inside the sandbox it is another task's space."""
    import subprocess

    from mlstudio.testing.flows import mlstudio_executable

    flow = write_flow(
        tmp_path,
        """
        from mlstudio import current, task, workflow

        @task
        def uses_scratch() -> str:
            (current().scratch / "notes.txt").write_text("hello")
            return str(current().scratch)

        @workflow
        def wf() -> str:
            return uses_scratch()
        """,
    )
    fresh_tmp = tmp_path / "fresh-tmp"
    fresh_tmp.mkdir()
    env = {**os.environ, **studio.env(), "TMPDIR": str(fresh_tmp), "MLSTUDIO_CLI_WARM": "0"}
    env.pop("MLSTUDIO_URL", None)
    done = subprocess.run(
        [mlstudio_executable(), "run", f"{flow}:wf", "--json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    used = Path(json.loads(done.stdout)["output_value"])
    assert used.parent == fresh_tmp / f"mlstudio-scratch-{os.getuid()}"
    assert used.parent.is_dir() and not used.exists()  # the folder stays, the attempt's is gone


def test_what_the_sandbox_cannot_follow_is_recorded_with_the_task(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        import subprocess
        from mlstudio import task, workflow

        @task
        def shell() -> str:
            return subprocess.run(["echo", "hi"], capture_output=True, text=True).stdout

        @workflow
        def wf() -> str:
            return shell()
        """,
    )
    run = studio.ok("run", f"{flow}:wf")
    assert run["output_value"] == "hi\n"
    reads = task_of(run, "shell")["reads"]
    assert reads["untracked"] == ["subprocess: echo echo hi"]


# --- queue workers -----------------------------------------------------------------------------
@pytest.fixture
def worker(studio, tmp_path):
    log_path = tmp_path / "worker.log"
    with open(log_path, "ab") as log:
        proc = start_mlstudio(
            "worker", "--pool", "sandbox", "--concurrency", "2", env=studio.env(), output=log
        )
    try:
        yield proc
    finally:
        kill_group(proc)


def test_queue_worker_tasks_are_denied_the_same_way(studio, tmp_path, worker):
    seed_a_log(studio, tmp_path)
    targets = protected_targets(studio)
    flow = write_flow(tmp_path, PROBE)
    run = run_steal(studio, flow, targets, "--pool", "sandbox")
    assert run["executor"] == "queue"
    assert_denied_and_audited(studio, run, targets)
    # the worker's own reads and writes are unaffected: a normal task still runs there
    ok = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def fine() -> int:
            print("hello from a worker")
            return os.getpid()

        @workflow
        def steal() -> int:
            return fine()
        """,
    )
    shown = studio.ok("run", f"{ok}:steal", "--pool", "sandbox")
    assert shown["state"] == "succeeded" and shown["output_value"] != os.getpid()
    assert worker.poll() is None, "the worker is still up"


# --- Ray ---------------------------------------------------------------------------------------
@pytest.fixture
def ray_session():
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.parametrize("studio", ["sqlite"], indirect=True)
def test_ray_tasks_are_denied_the_same_way_and_their_reads_recorded(studio, tmp_path, ray_session):
    seed_a_log(studio, tmp_path)
    targets = protected_targets(studio)
    flow = write_flow(tmp_path, PROBE)
    run = run_steal(studio, flow, targets, "--executor", "ray")
    assert run["executor"] == "ray"
    assert_denied_and_audited(studio, run, targets)
    points = tmp_path / "points.csv"
    points.write_text("1\n2\n")
    reader = write_flow(
        tmp_path,
        f"""
        from mlstudio import task, workflow

        @task
        def read() -> int:
            return len(open({str(points)!r}).read().split())

        @workflow
        def steal() -> int:
            return read()
        """,
    )
    first = studio.ok("run", f"{reader}:steal", "--executor", "ray")
    assert first["output_value"] == 2
    assert task_of(first, "read")["reads"] == {"files": 1, "dirs": 0}
    assert states(studio.ok("run", f"{reader}:steal", "--executor", "ray")) == {"read": "cached"}
    points.write_text("1\n2\n3\n")
    assert studio.ok("run", f"{reader}:steal", "--executor", "ray")["output_value"] == 3


@pytest.mark.parametrize("studio", ["sqlite"], indirect=True)
def test_module_top_level_code_and_unpickling_run_inside_the_sandbox_too(studio, tmp_path):
    db = studio.home / "studio.db"
    flow = write_flow(
        tmp_path,
        f"""
        from mlstudio import task, workflow

        DB = {str(db)!r}


        class Sneaky:
            def __init__(self):
                self.x = 1

            def __setstate__(self, state):  # runs when a worker unpickles the input
                self.head = open(DB, "rb").read(16)


        @task
        def make() -> Sneaky:
            return Sneaky()

        @task
        def use(thing: Sneaky) -> str:
            return "never"

        @workflow
        def wf() -> str:
            return use(make())
        """,
    )
    run = studio.cli("run", f"{flow}:wf", "--json").json
    assert states(run) == {"make": "succeeded", "use": "failed"}
    assert task_of(run, "use")["error"].startswith(
        f"denied: the task sandbox refused opening {os.path.realpath(db)}"
    )
    importing = tmp_path / "importing"
    importing.mkdir()
    (importing / "flow.py").write_text(
        "import multiprocessing\n"
        "from mlstudio import task, workflow\n"
        "HEAD = None\n"
        "if multiprocessing.current_process().name == 'mlstudio-worker':  # not when planned\n"
        "    try:\n"
        f"        HEAD = open({str(db)!r}, 'rb').read(16)\n"
        "    except PermissionError as exc:\n"
        "        HEAD = str(exc)\n"
        "@task\n"
        "def head() -> str:\n"
        "    return repr(HEAD)\n"
        "@workflow\n"
        "def wf() -> str:\n"
        "    return head()\n"
    )
    run = studio.cli("run", f"{importing / 'flow.py'}:wf", "--json").json
    assert task_of(run, "head")["error"].startswith(
        f"denied: the task sandbox refused opening {os.path.realpath(db)}"
    ), "the import caught the refusal, and the attempt is still denied"


@pytest.mark.parametrize("studio", ["sqlite"], indirect=True)
def test_a_workflow_whose_code_opens_the_store_while_it_is_planned_is_refused(studio, tmp_path):
    db = studio.home / "studio.db"
    at_import = tmp_path / "at_import"
    at_import.mkdir()
    (at_import / "flow.py").write_text(
        "from mlstudio import task, workflow\n"
        f"HEAD = open({str(db)!r}, 'rb').read(16)  # module top level, run when planned\n"
        "@task\n"
        "def head() -> str:\n"
        "    return repr(HEAD)\n"
        "@workflow\n"
        "def wf() -> str:\n"
        "    return head()\n"
    )
    in_workflow = write_flow(
        tmp_path,
        f"""
        from mlstudio import task, workflow

        @task
        def show(n: int) -> int:
            return n

        @workflow
        def wf() -> int:
            import sqlite3

            runs = sqlite3.connect({str(db)!r}).execute("select count(*) from runs").fetchone()
            return show(runs[0])
        """,
    )
    for target, verb in (
        (f"{at_import / 'flow.py'}:wf", "opening"),
        (f"{in_workflow}:wf", "connecting to"),
    ):
        result = studio.cli("run", target, "--json")
        assert result.code != 0
        assert result.stderr.startswith(
            f"error: planning wf was denied: the task sandbox refused {verb} {os.path.realpath(db)}"
        ), result.stderr
        assert result.stderr.count("\n") == 1
    assert studio.ok("runs", "list") == []
    audited = studio.ok("audit", "--action", "sandbox.access")
    assert [(e["decision"], e["resource"]) for e in audited] == [
        ("deny", f"workflow:{in_workflow}:wf"),
        ("deny", f"workflow:{at_import / 'flow.py'}:wf"),
    ]
    # the platform's own work while planning (the catalog, the registry, the code) still works
    assert studio.ok("run", working_copy_of(tmp_path))["output_value"] == "hello world"


def working_copy_of(tmp_path: Path) -> str:
    from mlstudio.testing.flows import working_copy

    return working_copy(tmp_path / "greet")
