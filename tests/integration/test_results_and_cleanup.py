"""Getting results out and cleaning up through the CLI, on SQLite and Postgres: what each command
prints, one-line refusals with their exit codes (and nothing changed), and garbage collection
racing a push that re-uses a blob it is about to delete."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

TABLE = """
import pandas as pd

from mlstudio import task, workflow


@task(classify={"*": "internal"})
def make(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "y": [2 * i for i in range(n)]})


@task
def total(df: pd.DataFrame) -> dict:
    return {"sum": int(df["y"].sum())}


@workflow
def flow(n: int = 3) -> dict:
    return total(make(n))
"""


def module(tmp_path: Path, name: str, body: str = TABLE) -> Path:
    root = tmp_path / name.replace("/", "-")
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        f'[module]\nname = "{name}"\ndescription = "results"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(body)
    return root


@pytest.fixture
def ran(studio, tmp_path: Path) -> dict[str, Any]:
    """Namespace res with module res/tab pushed and one run of its flow (n=4)."""
    studio.ok("namespace", "create", "res")
    studio.ok("user", "add", "bob")
    studio.ok("module", "push", module(tmp_path, "res/tab"), "--no-tests")
    run = studio.ok("run", "res/tab/flow:latestAlpha", "-p", "n=4")
    assert run["state"] == "succeeded"
    return run


def audit(studio, action: str) -> list[dict[str, Any]]:
    return studio.ok("audit", "--action", action, "--limit", "1000")


def test_runs_output_prints_csv_and_json_or_writes_a_file(studio, ran, tmp_path):
    rid = ran["id"]
    printed = studio.cli("runs", "output", rid, "--task", "make")
    assert printed.code == 0 and printed.stdout.splitlines() == [
        '"x","y"',
        "0,0",
        "1,2",
        "2,4",
        "3,6",
    ]
    assert studio.cli("runs", "output", rid).stdout.strip().replace(" ", "") == '{\n"sum":12\n}'
    summary = studio.ok("runs", "output", rid, "--task", "make")  # --json, no --to: the value
    assert summary["value"] == [{"x": i, "y": 2 * i} for i in range(4)] and summary["file"] is None

    target = tmp_path / "make.parquet"
    human = studio.cli("runs", "output", rid, "--task", "make", "--to", target)
    assert human.code == 0 and f"{rid}/make → {target}" in human.stdout and "4 rows" in human.stdout
    assert target.stat().st_size > 0
    assert [p.name for p in tmp_path.glob(".make.parquet*")] == []  # no temporary file left

    bad = studio.fails("runs", "output", rid, "--task", "make", "--to", tmp_path / "m.txt", code=2)
    assert "a table is written as .csv, .parquet or .json" in bad.stderr
    assert not (tmp_path / "m.txt").exists()
    denied = studio.fails("runs", "output", rid, user="bob", code=4)
    assert "bob may not view runs in domain experimentation" in denied.stderr
    assert any(e["actor"] == "bob" and e["decision"] == "deny" for e in audit(studio, "run.output"))


def test_data_head_prints_the_readable_columns_and_says_what_is_withheld(studio, tmp_path):
    studio.ok("namespace", "create", "res")
    csv = tmp_path / "people.csv"
    csv.write_text("id,email\n1,a@x.io\n2,b@x.io\n")
    studio.ok("data", "import", csv, "--name", "res/people", "--classify", "id=internal")
    shown = studio.cli("data", "head", "res/people", "-n", "1")
    assert shown.code == 0, shown.stderr
    assert "2 of 2" not in shown.stdout and "1 of 2 rows of res/people@1" in shown.stdout
    assert "withheld" in shown.stdout and "email" in shown.stdout and "a@x.io" not in shown.stdout
    refused = studio.fails("data", "head", "res/people", "--columns", "email", code=4)
    assert "res/people.email" in refused.stderr and "unclassified" in refused.stderr
    missing = studio.fails("data", "head", "res/people", "--columns", "mail", code=2)
    assert "res/people@1 has no column 'mail' (its columns are id, email)" in missing.stderr


def test_refused_deletions_are_one_line_exit_5_and_change_nothing(studio, ran, tmp_path):
    rid = ran["id"]
    studio.ok("runs", "pin", rid, "--reason", "kept")
    versions_before = studio.ok("module", "show", "res/tab")["versions"]
    refused = studio.fails("module", "delete", "res/tab@1", code=5)
    assert refused.stderr.startswith("error: res/tab@1 is still needed: tag latestAlpha")
    assert "(and 1 more)" in refused.stderr  # the pinned run too
    assert studio.ok("module", "show", "res/tab")["versions"] == versions_before
    domain = studio.fails("domain", "remove", "experimentation", code=5)
    assert "built in" in domain.stderr
    gone = studio.fails("data", "delete", "res/nosuch", code=3)
    assert "dataset res/nosuch does not exist" in gone.stderr
    assert {e["decision"] for e in audit(studio, "module.delete")} == {"deny"}
    shown = studio.ok("runs", "show", rid)
    assert shown["pinned"]["reason"] == "kept"


def test_gc_cli_dry_run_then_removal_admins_only(studio, ran):
    orphan = studio.home / "artifacts" / "cas" / "ab" / ("c" * 62)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"not referenced by anything")
    old = time.time() - 3 * 3600
    os.utime(orphan, (old, old))

    dry = studio.cli("gc", "--dry-run")
    assert dry.code == 0 and "would remove 1 blobs" in dry.stdout and orphan.exists()
    assert "nothing was removed (dry run)" in dry.stdout
    refused = studio.fails("gc", user="bob", code=4)
    assert "it needs the platform admin role" in refused.stderr and orphan.exists()
    done = studio.ok("gc")
    assert done["removed"]["blobs"] == 1 and done["removed"]["bytes"] == 26 and not orphan.exists()
    assert studio.cli("runs", "output", ran["id"], "--task", "make").code == 0  # still readable
    assert [e["decision"] for e in audit(studio, "gc.run")] == ["allow", "deny", "allow"]
    negative = studio.fails("gc", "--keep-runs-days", "-1", code=2)
    assert "--keep-runs-days -1 is negative" in negative.stderr


def test_a_push_that_reuses_a_blob_gc_is_deleting_keeps_it(studio, platform, tmp_path):
    """gc listed an old unreferenced blob and read the references; before it deletes the blob,
    a push of the same content re-uses it and publishes a version that references it. The push
    refreshed the blob, so the deletion is skipped and the new version is intact."""
    from mlstudio.maintenance.gc import GarbageCollector
    from mlstudio.modules.archive import build_module
    from mlstudio.modules.manifest import load_manifest

    studio.ok("namespace", "create", "res")
    root = module(tmp_path, "res/race")
    archive = build_module(root, load_manifest(root).exclude).archive
    digest = platform.cas.put(archive)  # left behind, unreferenced (e.g. a deleted version)
    blob = studio.home / "artifacts" / "cas" / digest[:2] / digest[2:]
    old = time.time() - 3 * 3600
    os.utime(blob, (old, old))

    real_delete = platform.cas.delete_if_unmodified
    pushed: list[dict[str, Any]] = []

    def push_first(candidate: str, cutoff: Any) -> bool:
        if candidate == digest and not pushed:  # the concurrent push lands right now
            pushed.append(studio.ok("module", "push", root, "--no-tests"))
        return real_delete(candidate, cutoff)

    platform.cas.delete_if_unmodified = push_first
    report = GarbageCollector(platform.store, platform.cas).collect("alice")
    assert pushed and pushed[0]["ref"] == "res/race@1"
    assert report["removed"]["blobs"] == 0 and blob.exists()
    assert platform.cas.intact(digest)
    assert studio.ok("module", "show", "res/race@1")["selected"]["archive_digest"] == digest
    assert studio.ok("run", "res/race/flow:latestAlpha")["output_value"] == {"sum": 6}


PERSIST = """
import pandas as pd

from mlstudio import task, workflow


@task(persist="res/made", classify={"*": "internal"})
def made(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


@workflow
def flow(n: int = 3) -> pd.DataFrame:
    return made(n)
"""


def test_a_dataset_a_cache_entry_holds_is_refused_until_the_cache_is_cleared(studio, tmp_path):
    studio.ok("namespace", "create", "res")
    studio.ok("module", "push", module(tmp_path, "res/maker", PERSIST), "--no-tests")
    assert studio.ok("run", "res/maker/flow:latestAlpha")["state"] == "succeeded"
    assert studio.ok("data", "show", "res/made")["version"] == 1
    refused = studio.fails("data", "delete", "res/made@1", code=5)
    assert "1 cache entry of res/maker/flow were computed from it" in refused.stderr
    assert "mlstudio cache clear --workflow res/maker/flow" in refused.stderr
    assert studio.ok("data", "show", "res/made@1")["version"] == 1
    studio.ok("cache", "clear", "--workflow", "res/maker/")
    assert studio.ok("data", "delete", "res/made")["versions"] == [1]
    assert studio.ok("run", "res/maker/flow:latestAlpha")["state"] == "succeeded"
    assert studio.ok("data", "show", "res/made")["version"] == 2  # never @1 again
