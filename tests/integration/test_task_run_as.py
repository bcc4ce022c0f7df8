"""Tasks run as a separate OS user (``MLSTUDIO_RUN_AS``): the kernel closes what the audit
hook cannot see (native code reading files with C ``open``).

Needs root (the worker switches users); the test creates the unprivileged user with
``useradd`` when it is missing. The module's top-level imports are done by the worker (root)
when it loads the code, so the task itself needs no new stdlib imports (this host's Python
lives under /root, which the user may not read).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from mlstudio.testing.flows import states, task_of, working_copy

USER = "mlstudio-task"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root"),
    pytest.mark.parametrize("studio", ["sqlite"], indirect=True),
]

FLOW = """
import os

import pyarrow.parquet as pq
from mlstudio import Dataset, dataset, task, workflow

@task
def who(orders: Dataset) -> dict:
    import helpers  # the module's own code, imported lazily: from a copy the user may read

    print("running as", os.getuid())
    return {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
            "rows": helpers.rows(orders)}

@task
def native(path: str) -> int:
    return pq.read_table(path).num_rows  # Arrow's C++ reader: the audit hook cannot see it

@workflow
def wf(blob: str) -> dict:
    return {"who": who(dataset("shop/orders")), "native": native(blob)}

@workflow
def only_native(blob: str) -> int:
    return native(blob)
"""


@pytest.fixture(scope="module")
def task_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        if shutil.which("useradd") is None:
            pytest.skip("useradd is not installed")
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
            check=True,
        )
        return pwd.getpwnam(USER)


@pytest.fixture
def orders_blob(studio, tmp_path) -> Path:
    studio.ok("namespace", "create", "shop")
    csv = tmp_path / "orders.csv"
    csv.write_text("id,amount\n1,10\n2,20\n")
    studio.ok(
        "data", "import", csv, "--name", "shop/orders", "--domain", "experimentation",
        "--classify", "id=public", "--classify", "amount=public",
    )  # fmt: skip
    digest = studio.ok("data", "show", "shop/orders")["digest"]
    blob = studio.home / "artifacts" / "cas" / digest[:2] / digest[2:]
    assert blob.is_file()
    return blob


def test_the_audit_hook_alone_does_not_see_native_reads(studio, tmp_path, orders_blob):
    """The documented limit: without run_as, Arrow reads a blob by path around the hook."""
    target = working_copy(tmp_path, FLOW, "only_native")
    run = studio.ok("run", target, "-p", f"blob={orders_blob}")
    assert run["state"] == "succeeded" and run["output_value"] == 2


def test_tasks_run_as_an_unprivileged_user_cannot_read_the_home_even_natively(
    studio, tmp_path, orders_blob, task_user, monkeypatch
):
    target = working_copy(tmp_path, FLOW, "wf")
    (tmp_path / "wf" / "helpers.py").write_text("def rows(t):\n    return t.num_rows\n")
    monkeypatch.setenv("MLSTUDIO_RUN_AS", USER)
    result = studio.cli("run", target, "-p", f"blob={orders_blob}", "--json")
    run = result.json
    assert states(run) == {"who": "succeeded", "native": "failed"}, [
        (t["node"], t["error"]) for t in run["tasks"]
    ]
    native = task_of(run, "native")["error"]
    assert "Permission denied" in native and str(orders_blob) in native
    [log] = studio.ok("runs", "logs", run["id"], "--task", "who")
    assert log["text"] == f"running as {task_user.pw_uid}\n"
    platform = studio.platform()
    try:
        with platform.store.read() as uow:
            [row] = uow.runs.task_runs_of(run["id"], ["who"])
    finally:
        platform.close()
    assert row.output["v"]["inline"] == {
        "uid": task_user.pw_uid,
        "gid": task_user.pw_gid,
        "groups": [],
        "rows": 2,
    }


def test_a_store_the_task_user_could_read_is_refused_before_any_task_runs(
    studio, tmp_path, task_user, monkeypatch
):
    store = Path(tempfile.mkdtemp(prefix="mlstudio-open-store-", dir="/tmp"))
    try:
        os.chmod(store, 0o755)  # outside the (closed) home, and open to everyone
        monkeypatch.setenv("MLSTUDIO_ARTIFACT_URL", str(store))
        monkeypatch.setenv("MLSTUDIO_RUN_AS", USER)
        target = working_copy(tmp_path)
        result = studio.cli("run", target, "--json")
        assert result.code == 1
        [task] = result.json["tasks"]
        assert task["attempt"] == 1 and task["error"] == (
            f"{store} is readable by {USER}, whom tasks run as (MLSTUDIO_RUN_AS) "
            f"(chmod 700 {store} (owned by the worker's user), or unset MLSTUDIO_RUN_AS)"
        )
        os.chmod(store, 0o700)
        assert studio.ok("run", target, "-p", "name=again")["output_value"] == "hello again"
    finally:
        shutil.rmtree(store, ignore_errors=True)
