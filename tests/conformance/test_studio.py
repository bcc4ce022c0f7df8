"""The same cases against every implementation of the application interface.

A case passes only if the local studio (SQLite, Postgres) and the HTTP client (a real server)
give the same results and the same errors, so a use case written once in ``app/local`` behaves
the same at every edge. Results are also checked against the views they are declared as.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import typing
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from mlstudio.app import views
from mlstudio.errors import (
    ConfigurationError,
    ConflictError,
    InUseError,
    InvalidInputError,
    MlstudioError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from mlstudio.workflows.options import RunOptions

TASKS = """
from mlstudio import task, workflow


@task
def double(x: int) -> int:
    print(f"doubling {x}")
    return 2 * x


@workflow
def flow(x: int = 1) -> int:
    return double(x)
"""


OUTPUTS = """
from fractions import Fraction

import pandas as pd

from mlstudio import task, workflow


@task(classify={"id": "internal", "email": "confidential+pii"})
def people(n: int) -> pd.DataFrame:
    return pd.DataFrame({"id": list(range(n)), "email": [f"u{i}@x.io" for i in range(n)]})


@task
def summary(df: pd.DataFrame) -> dict:
    return {"rows": len(df)}


@task
def third() -> Fraction:
    return Fraction(1, 3)


@workflow
def flow(n: int = 3) -> dict:
    third()
    return summary(people(n))
"""

READS = """
from mlstudio import Dataset, dataset, task, workflow


@task
def count(people: Dataset) -> int:
    return people.to_arrow().num_rows


@workflow
def flow() -> int:
    return count(dataset("REF"))
"""

TABLE = """
import pandas as pd

from mlstudio import task, workflow


@task(classify={"*": "internal"})
def make(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n))})


@workflow
def flow(n: int = 3) -> pd.DataFrame:
    return make(n)
"""


def conforms(value: dict[str, Any], view: Any) -> dict[str, Any]:
    """``value`` has every key ``view`` requires (extra keys are allowed)."""
    required = set(getattr(view, "__required_keys__", ()))
    missing = required - set(value)
    assert not missing, f"{view.__name__} lacks {sorted(missing)}: {value}"
    return value


def fails(call: Any, error: type[MlstudioError], text: str) -> MlstudioError:
    with pytest.raises(error) as caught:
        call()
    assert text in caught.value.one_line(), caught.value.one_line()
    return caught.value


def module_dir(app: Any, name: str, body: str = TASKS) -> Path:
    root = app.tmp / name.replace("/", "-")
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        f'[module]\nname = "{name}"\ndescription = "conformance"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(body)
    return root


def user(app: Any, base: str) -> str:
    return f"{base}-{app.ns}"


# --- identity -----------------------------------------------------------------------------------
def test_whoami_users_and_grants(app):
    me = conforms(app.users.whoami(), views.WhoamiView)
    assert me["user"] == "alice" and me["registered"] and not me["disabled"]
    assert any(g["role"] == "admin" for g in me["grants"])

    bob = user(app, "bob")
    added = conforms(app.users.add(bob, "steward"), views.UserView)
    assert added["name"] == bob and added["role"] == "steward"
    fails(lambda: app.users.add(bob), ConflictError, bob)
    listed = {u["name"]: u for u in app.users.list()}
    assert {g["role"] for g in listed[bob]["grants"]} == {"steward"}

    granted = conforms(app.users.grant(bob, "reader", namespace=app.ns), views.GrantChangeView)
    assert granted == {
        "user": bob,
        "role": "reader",
        "scope_kind": "namespace",
        "scope": app.ns,
        "added": True,
    }
    assert app.users.grant(bob, "reader", namespace=app.ns)["added"] is False
    fails(
        lambda: app.users.grant(bob, "runner", namespace=app.ns, domain="adhoc"),
        InvalidInputError,
        "pass either --namespace or --domain, not both",
    )
    assert app.users.revoke(bob, "reader", namespace=app.ns)["removed"] is True
    assert app.users.revoke(bob, "reader", namespace=app.ns)["removed"] is False
    assert app.users.disable(bob)["disabled"] is True
    assert app.users.enable(bob)["disabled"] is False
    fails(lambda: app.users.disable(user(app, "nobody")), NotFoundError, "nobody")


def test_tokens_have_a_state_and_the_secret_once(app):
    created = conforms(app.tokens.create(description="ci"), views.TokenView)
    assert created["token"] and created["state"] == "active" and created["user"] == "alice"
    listed = {t["id"]: t for t in app.tokens.list()}
    assert listed[created["id"]]["state"] == "active" and "token" not in listed[created["id"]]
    revoked = conforms(app.tokens.revoke(created["id"]), views.TokenView)
    assert revoked["state"] == "revoked"
    fails(lambda: app.tokens.revoke("tok_nosuch"), InvalidInputError, "invalid token id")
    fails(lambda: app.tokens.revoke("tok_0190f3a2b4c5d6e7f8a9b0"), NotFoundError, "tok_0190")


def test_audit_shows_what_was_done_and_others_see_their_own(app):
    bob = user(app, "bob")
    app.users.add(bob)
    events = app.audit.list(actor="alice", action="user.add", limit=5)
    assert events and conforms(events[0], views.AuditEventView)["resource"] == f"user:{bob}"
    as_bob = app.as_user(bob)
    assert all(e["actor"] == bob for e in as_bob.audit.list(actor="alice"))


# --- governance ---------------------------------------------------------------------------------
def test_domains_list_show_set(app):
    names = {d["name"] for d in app.domains.list()}
    assert {"experimentation", "production", "adhoc"} <= names
    shown = conforms(app.domains.show("production"), views.DomainView)
    assert isinstance(shown["members"], list)
    name = f"d{app.ns}"
    fails(lambda: app.domains.set(name, clearance="internal"), NotFoundError, name)
    created = conforms(
        app.domains.create(name, clearance="internal", readable_labels=["pii"]), views.DomainView
    )
    fails(lambda: app.domains.create(name), ConflictError, name)
    assert created["clearance"] == "internal" and created["readable_labels"] == ["pii"]
    changed = app.domains.set(name, readable_labels=None, may_persist=True)
    assert changed["readable_labels"] is None and changed["may_persist"] is True
    assert changed["clearance"] == "internal"  # left out: unchanged
    fails(lambda: app.domains.show(f"x{app.ns}"), NotFoundError, f"x{app.ns}")
    fails(lambda: app.domains.set(name, clearance="secret"), InvalidInputError, "secret")


def test_domain_remove_refuses_what_still_refers_to_it(app):
    name, other = f"d{app.ns}", f"r{app.ns}"
    app.domains.create(name, clearance="internal", promoted_only=False)
    app.domains.create(other, readable_domains=[name], promoted_only=False)
    bob = user(app, "bob")
    app.users.add(bob)
    app.users.grant(bob, "viewer", domain=name)
    fails(lambda: app.domains.remove(name), InUseError, f"domain {other} may read it")
    app.domains.set(other, readable_domains=[])
    module = f"{app.ns}/mod"
    app.modules.push(module_dir(app, module))
    schedule = app.schedules.add(f"{module}/flow:latestAlpha", "0 6 * * 1-5", domain=name)
    fails(lambda: app.domains.remove(name), InUseError, f"schedule {schedule['id']}")
    app.schedules.remove(schedule["id"])
    fails(lambda: app.as_user(bob).domains.remove(name), PermissionDeniedError, "admin")

    removed = conforms(app.domains.remove(name), views.DomainRemovalView)
    assert removed == {"name": name, "removed": True, "revoked": [{"user": bob, "role": "viewer"}]}
    fails(lambda: app.domains.show(name), NotFoundError, name)
    fails(lambda: app.domains.remove(name), NotFoundError, name)
    fails(lambda: app.domains.remove("production"), StateError, "built in")
    rid = app.runs.start(f"{module}/flow:latestAlpha", {}, RunOptions(domain=other))["id"]
    app.runs.wait(rid)
    fails(lambda: app.domains.remove(other), InUseError, "1 run(s) ran in it")
    events = app.audit.list(action="domain.remove", limit=20)
    assert {e["decision"] for e in events} == {"allow", "deny"}


def test_namespaces_grants_and_quotas(app):
    listed = {n["name"]: n for n in app.namespaces.list()}
    assert conforms(listed[app.ns], views.NamespaceView)["created_by"] == "alice"
    fails(lambda: app.namespaces.create(app.ns), ConflictError, app.ns)
    bob = user(app, "bob")
    app.users.add(bob)
    assert conforms(app.namespaces.grant(app.ns, bob, "maintainer"), views.NamespaceGrantView)[
        "added"
    ]
    quota = conforms(app.namespaces.set_quota(app.ns, max_running_runs=3), views.QuotaView)
    assert quota["max_running_runs"] == 3 and quota["max_running_tasks"] is None
    assert app.namespaces.quota(app.ns)["max_running_runs"] == 3
    fails(
        lambda: app.namespaces.set_quota(app.ns, max_running_runs=-1),
        InvalidInputError,
        "max_running_runs",
    )
    as_bob = app.as_user(bob)
    fails(
        lambda: as_bob.namespaces.set_quota(app.ns, max_running_runs=9), PermissionDeniedError, ""
    )


# --- modules ------------------------------------------------------------------------------------
def test_push_list_show_tag_promote_rollback(app):
    name = f"{app.ns}/mod"
    pushed = conforms(app.modules.push(module_dir(app, name), message="one"), views.PushView)
    assert pushed["ref"] == f"{name}@1" and pushed["tests_passed"] and not pushed["unchanged"]
    again = app.modules.push(module_dir(app, name))
    assert again["unchanged"] and again["version"] == 1
    module_dir(app, name, TASKS.replace("2 * x", "3 * x"))
    assert app.modules.push(module_dir(app, name, TASKS.replace("2 * x", "3 * x")))["version"] == 2

    [row] = app.modules.list(namespace=app.ns)
    assert conforms(row, views.ModuleView)["tags"] == {"latestAlpha": 2}
    assert app.modules.list(search="nosuchthing-" + app.ns) == []

    moved = conforms(app.modules.promote(name, 1), views.TagMoveView)
    assert moved["moved"] and moved["to"] == 1
    assert app.modules.tag(name, "stable", 2)["to"] == 2
    assert app.modules.promote(name, 2)["to"] == 2
    assert app.modules.rollback(name)["to"] == 1
    shown = conforms(app.modules.show(f"{name}:latest"), views.ModuleShowView)
    assert shown["selected"]["version"] == 1
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    fails(lambda: app.modules.show(f"{app.ns}/nosuch"), NotFoundError, "nosuch")
    fails(lambda: app.modules.promote(name, 9), NotFoundError, "9")
    fails(lambda: app.modules.show("not a ref"), MlstudioError, "not a ref")


# --- runs ---------------------------------------------------------------------------------------
def test_runs_start_wait_show_logs_clone(app):
    name = f"{app.ns}/mod"
    app.modules.push(module_dir(app, name))
    started = conforms(
        app.runs.start(f"{name}/flow:latestAlpha", {"x": 4}, RunOptions(fail_fast=True)),
        views.RunView,
    )
    assert started["state"] == "queued" and started["params"] == {"x": 4}
    seen: list[dict[str, Any]] = []
    done = conforms(app.runs.wait(started["id"], seen.append), views.RunShowView)
    assert done["state"] == "succeeded" and done["output_value"] == 8
    assert seen and seen[-1]["counts"] == {"succeeded": 1}
    [task] = done["tasks"]
    assert conforms(task, views.TaskRunView)["task"] == "double"
    assert app.runs.show(started["id"][:-3])["id"] == started["id"]  # a unique prefix works
    states = conforms(app.runs.states(started["id"]), views.RunStatesView)
    assert states == {
        "id": started["id"],
        "state": "succeeded",
        "tasks": [{"node": "double", "state": "succeeded", "cache_hit": False}],
    }

    logs = app.runs.logs(started["id"], task="double")
    assert "doubling 4" in "".join(conforms(e, views.LogView)["text"] for e in logs)
    fails(lambda: app.runs.logs(started["id"], task="nosuch"), NotFoundError, "nosuch")

    listed = app.runs.list(workflow=name, limit=5)
    assert [r["id"] for r in listed] == [started["id"]]
    assert conforms(listed[0], views.RunView)["tasks"] == {"succeeded": 1}

    clone = app.runs.clone(started["id"], {"x": 5}, no_cache=True)
    assert clone["trigger"] == "clone" and clone["params"] == {"x": 5}
    assert app.runs.wait(clone["id"])["output_value"] == 10
    fails(lambda: app.runs.cancel(started["id"]), MlstudioError, "already succeeded")
    fails(lambda: app.runs.resume(started["id"]), MlstudioError, "already succeeded")


def test_module_delete_refuses_tags_pinned_runs_and_schedules(app):
    name = f"{app.ns}/mod"
    for factor in (2, 3, 4):
        app.modules.push(module_dir(app, name, TASKS.replace("2 * x", f"{factor} * x")))
    app.modules.promote(name, 2)  # latest -> 2, latestAlpha -> 3
    rid = app.runs.start(f"{name}/flow@1", {"x": 1})["id"]
    assert app.runs.wait(rid)["output_value"] == 2
    app.runs.pin(rid)
    fails(lambda: app.modules.delete(f"{name}@1"), InUseError, f"run {rid} is pinned and ran it")
    app.runs.unpin(rid)
    schedule = app.schedules.add(f"{name}/flow@1", "0 6 * * 1-5")
    fails(lambda: app.modules.delete(f"{name}@1"), InUseError, f"schedule {schedule['id']}")
    app.schedules.remove(schedule["id"])
    bob = user(app, "bob")
    app.users.add(bob)
    fails(lambda: app.as_user(bob).modules.delete(f"{name}@1"), PermissionDeniedError, "delete")

    gone = conforms(app.modules.delete(f"{name}@1"), views.DeletionView)
    assert (gone["versions"], gone["remaining"]) == ([1], [2, 3])
    fails(lambda: app.modules.show(f"{name}@1"), NotFoundError, "was deleted by alice")
    fails(lambda: app.modules.delete(f"{name}@2"), InUseError, "tag latest points at it")
    err = fails(lambda: app.modules.delete(f"{name}@3"), InUseError, "tag latestAlpha points at it")
    assert err.hint.startswith(f"move it to another version first: mlstudio module tag {name}")
    fails(lambda: app.modules.delete(name), InvalidInputError, "one version")
    app.modules.tag(name, "latestAlpha", 2)
    app.modules.delete(f"{name}@3")
    # numbers are never given out again
    assert app.modules.push(module_dir(app, name, TASKS.replace("2 * x", "5 * x")))["version"] == 4
    assert [v["version"] for v in app.modules.show(name)["versions"]] == [2, 4]
    # a finished run keeps its lock: its clone runs the deleted version's code
    clone = app.runs.clone(rid, no_cache=True)
    assert app.runs.wait(clone["id"])["output_value"] == 2
    denied = [
        e for e in app.audit.list(action="module.delete", limit=20) if e["decision"] == "deny"
    ]
    assert len(denied) >= 4


def test_bad_runs_are_refused_before_anything_runs(app):
    name = f"{app.ns}/mod"
    app.modules.push(module_dir(app, name))
    fails(lambda: app.runs.start(f"{name}/nosuch:latestAlpha", {}), MlstudioError, "nosuch")
    fails(lambda: app.runs.start(f"{name}/flow:latestAlpha", {"y": 1}), MlstudioError, "y")
    fails(lambda: app.runs.show("run_nosuchrun"), NotFoundError, "run_nosuchrun")
    fails(lambda: app.runs.states("run_nosuchrun"), NotFoundError, "run_nosuchrun")
    assert app.runs.list(workflow=name) == []


def test_run_output_as_a_file_governed_like_a_read(app):
    import pyarrow.parquet as pq

    name = f"{app.ns}/outs"
    app.modules.push(module_dir(app, name, OUTPUTS))
    app.modules.promote(name, 1)
    started = app.runs.start(f"{name}/flow:latest", {"n": 3}, RunOptions(domain="production"))
    assert app.runs.wait(started["id"])["state"] == "succeeded"
    rid = started["id"]

    out = conforms(app.runs.output(rid, app.tmp / "result.json"), views.OutputView)
    assert (out["kind"], out["node"], out["domain"]) == ("json", None, "production")
    assert json.loads((app.tmp / "result.json").read_text()) == {"rows": 3}

    csv = app.runs.output(rid, app.tmp / "people.csv", task="people")
    assert (csv["format"], csv["rows"], csv["columns"]) == ("csv", 3, ["id", "email"])
    assert "u2@x.io" in (app.tmp / "people.csv").read_text()
    assert app.runs.output(rid, app.tmp / "people.parquet", task="people")["format"] == "parquet"
    table = pq.read_table(app.tmp / "people.parquet")
    assert (
        table.num_rows == 3 and b"mlstudio.classification" in table.schema.field("email").metadata
    )
    printed = app.runs.output(rid, app.tmp / "printed", task="people", fmt="text")
    assert printed["format"] == "csv"
    assert (app.tmp / "printed").read_text().splitlines()[0] == '"id","email"'
    pickled = app.runs.output(rid, app.tmp / "third.pkl", task="third")
    assert (pickled["kind"], pickled["type"]) == ("pickle", "Fraction")
    assert pickle.loads((app.tmp / "third.pkl").read_bytes()) == Fraction(1, 3)

    # read under a domain that may not read pii: refused naming the column, nothing written
    leak = app.tmp / "leak.csv"
    fails(
        lambda: app.runs.output(rid, leak, task="people", domain="experimentation"),
        PermissionDeniedError,
        "email",
    )
    fails(  # the summary is derived from the pii column: it carries its label
        lambda: app.runs.output(rid, app.tmp / "sum.json", domain="experimentation"),
        PermissionDeniedError,
        "pii",
    )
    assert not leak.exists() and not (app.tmp / "sum.json").exists()
    denials = [e for e in app.audit.list(action="run.output", limit=20) if e["decision"] == "deny"]
    assert {e["resource"] for e in denials} >= {f"run:{rid}/people", f"run:{rid}"}

    fails(
        lambda: app.runs.output(rid, app.tmp / "x.csv", task="third"),
        InvalidInputError,
        "pickled Fraction",
    )
    fails(
        lambda: app.runs.output(rid, app.tmp / "x", task="third", fmt="text"),
        InvalidInputError,
        "cannot be printed",
    )
    fails(lambda: app.runs.output(rid, app.tmp / "x.txt", task="people"), InvalidInputError, ".csv")
    fails(lambda: app.runs.output(rid, app.tmp / "x.json", task="nosuch"), NotFoundError, "nosuch")
    fails(lambda: app.runs.output(rid, app.tmp / "no" / "x.json"), NotFoundError, "does not exist")
    bob = user(app, "bob")
    app.users.add(bob)
    fails(
        lambda: app.as_user(bob).runs.output(rid, app.tmp / "b.json"),
        PermissionDeniedError,
        "view runs",
    )
    assert not (app.tmp / "b.json").exists()


def test_runs_pin_and_unpin(app):
    name = f"{app.ns}/mod"
    app.modules.push(module_dir(app, name))
    rid = app.runs.start(f"{name}/flow:latestAlpha", {"x": 2})["id"]
    app.runs.wait(rid)
    pinned = conforms(app.runs.pin(rid, "the paper"), views.PinView)
    assert (pinned["pinned"], pinned["changed"], pinned["reason"]) == (True, True, "the paper")
    assert app.runs.pin(rid, "again")["changed"] is False  # the first pin and reason stay
    assert app.runs.show(rid)["pinned"]["reason"] == "the paper"
    bob = user(app, "bob")
    app.users.add(bob)
    fails(lambda: app.as_user(bob).runs.unpin(rid), PermissionDeniedError, "runner")
    assert app.runs.unpin(rid)["changed"] is True
    assert app.runs.unpin(rid) == {
        "run": rid,
        "pinned": False,
        "changed": False,
        "reason": None,
        "pinned_by": None,
        "pinned_at": None,
    }
    assert app.runs.show(rid)["pinned"] is None
    actions = {e["action"] for e in app.audit.list(actor="alice", limit=50)}
    assert {"run.pin", "run.unpin"} <= actions


def test_cache_stats_and_clear(app):
    stats = conforms(app.cache.stats(), views.CacheStatsView)
    assert stats["hits"] >= 0 and stats["entries"] >= 0
    cleared = conforms(app.cache.clear(workflow=f"{app.ns}/"), views.CacheClearView)
    assert cleared == {"removed": 0}


# --- data ---------------------------------------------------------------------------------------
def test_datasets_import_classify_lineage_export(app):
    csv = app.tmp / "people.csv"
    csv.write_text("id,email,score\n1,a@x.io,0.5\n2,b@x.io,0.7\n")
    name = f"{app.ns}/people"
    imported = conforms(
        app.datasets.import_file(csv, name, domain="production", classify=["id=internal"]),
        views.DatasetView,
    )
    assert imported["ref"] == f"{name}@1" and imported["rows"] == 2
    assert sorted(imported["unclassified"]) == ["email", "score"]
    [row] = app.datasets.list(namespace=app.ns)
    assert conforms(row, views.DatasetListView)["unclassified"] == 2

    classified = app.datasets.classify(name, ["email=confidential+pii", "score=internal"])
    assert {c["column"] for c in classified["changes"]} == {"email", "score"}
    assert app.datasets.show(name)["unclassified"] == []
    fails(lambda: app.datasets.classify(name, ["email=public"]), PermissionDeniedError, "email")
    lineage = conforms(app.datasets.lineage(name, "email"), views.LineageView)
    assert [c["column"] for c in lineage["columns"]] == ["email"]

    out = app.tmp / "out.csv"
    fails(
        lambda: app.datasets.export(name, out, domain="experimentation"),
        PermissionDeniedError,
        "email",
    )
    assert not out.exists()
    exported = conforms(app.datasets.export(name, out, domain="production"), views.ExportView)
    assert exported["rows"] == 2 and "b@x.io" in out.read_text()
    fails(lambda: app.datasets.show(f"{app.ns}/nosuch"), NotFoundError, "nosuch")


def test_data_head_shows_only_what_the_domain_may_read(app):
    csv = app.tmp / "people.csv"
    csv.write_text("id,email,score\n1,a@x.io,0.5\n2,b@x.io,0.7\n3,c@x.io,0.9\n")
    name = f"{app.ns}/people"
    classify = ["id=internal", "email=confidential+pii"]
    app.datasets.import_file(csv, name, domain="production", classify=classify)

    shown = conforms(app.datasets.head(name, rows=2), views.HeadView)
    assert shown["columns"] == ["id"] and shown["rows"] == [{"id": 1}, {"id": 2}]
    assert [w["column"] for w in shown["withheld"]] == ["email", "score"]
    assert shown["total_rows"] == 3 and shown["domain"] == "experimentation"
    fails(lambda: app.datasets.head(name, columns=["id", "email"]), PermissionDeniedError, "email")
    fails(
        lambda: app.datasets.head(name, columns=["nosuch"]),
        InvalidInputError,
        "has no column 'nosuch'",
    )
    whole = app.datasets.head(name, columns=["score,id"], domain="production")
    assert whole["columns"] == ["score", "id"] and whole["rows"][2] == {"score": 0.9, "id": 3}
    assert whole["withheld"] == []
    fails(lambda: app.datasets.head(name, rows=0), InvalidInputError, "1 to 1000")
    assert any(
        e["decision"] == "deny" and e["resource"] == f"dataset:{name}@1"
        for e in app.audit.list(action="data.head", limit=20)
    )
    bob = user(app, "bob")
    app.users.add(bob)
    fails(lambda: app.as_user(bob).datasets.head(name), PermissionDeniedError, "viewer")


def test_data_delete_refuses_what_a_cache_entry_or_pinned_run_needs(app):
    csv = app.tmp / "people.csv"
    csv.write_text("id,score\n1,0.5\n2,0.7\n3,0.9\n")
    name = f"{app.ns}/people"
    for _ in range(2):
        app.datasets.import_file(csv, name, classify=["id=internal", "score=internal"])
    module = f"{app.ns}/reader"
    app.modules.push(module_dir(app, module, READS.replace("REF", f"{name}@1")))
    rid = app.runs.start(f"{module}/flow:latestAlpha", {})["id"]
    assert app.runs.wait(rid)["output_value"] == 3

    err = fails(lambda: app.datasets.delete(f"{name}@1"), InUseError, "were computed from it")
    assert err.hint == f"clear them first: mlstudio cache clear --workflow {module}/flow"
    app.cache.clear(workflow=f"{module}/")
    app.runs.pin(rid)
    fails(lambda: app.datasets.delete(f"{name}@1"), InUseError, f"run {rid} is pinned and read it")
    assert app.datasets.show(f"{name}@1")["version"] == 1  # nothing was deleted
    bob = user(app, "bob")
    app.users.add(bob)
    fails(lambda: app.as_user(bob).datasets.delete(name), PermissionDeniedError, "delete datasets")
    app.runs.unpin(rid)

    gone = conforms(app.datasets.delete(f"{name}@1"), views.DeletionView)
    assert (gone["versions"], gone["remaining"]) == ([1], [2])
    fails(lambda: app.datasets.show(f"{name}@1"), NotFoundError, "was deleted by alice")
    # a finished run keeps its lock: its clone reads the same data
    clone = app.runs.clone(rid, no_cache=True)
    assert app.runs.wait(clone["id"])["output_value"] == 3

    assert app.datasets.delete(f"{name}@2")["remaining"] == []
    assert app.datasets.import_file(csv, name, classify=["id=internal"])["version"] == 3
    assert app.datasets.delete(name)["versions"] == [3]
    fails(lambda: app.datasets.delete(name), NotFoundError, "does not exist")
    decisions = {(e["decision"], e["resource"]) for e in app.audit.list(action="data.delete")}
    assert ("allow", f"dataset:{name}@1") in decisions and (
        "deny",
        f"dataset:{name}@1",
    ) in decisions


def test_declassifiers_need_a_second_person(app):
    name = f"{app.ns}/mod"
    app.modules.push(module_dir(app, name))
    app.modules.promote(name, 1)
    created = conforms(
        app.declassifiers.create(
            name, "double", ["email"], remove_labels=["pii"], justification="hashed"
        ),
        views.DeclassifierView,
    )
    assert created["state"] == "pending"
    assert created["id"] in {d["id"] for d in app.declassifiers.list("pending")}
    fails(lambda: app.declassifiers.approve(created["id"]), PermissionDeniedError, "")
    steward = user(app, "carol")
    app.users.add(steward, "steward")
    approved = app.as_user(steward).declassifiers.approve(created["id"])
    assert approved["state"] == "approved"
    assert app.declassifiers.revoke(created["id"])["state"] == "revoked"


# --- storage ------------------------------------------------------------------------------------
def _blob_path(app: Any, digest: str) -> Path:
    return app.artifacts / "cas" / digest[:2] / digest[2:]


def _plant(app: Any, data: bytes, age_s: float) -> Path:
    import hashlib

    path = _blob_path(app, hashlib.sha256(data).hexdigest())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    _age(path, age_s)
    return path


def _age(path: Path, age_s: float) -> None:
    when = time.time() - age_s
    os.utime(path, (when, when))


def test_gc_removes_only_what_nothing_needs(app):
    name = f"{app.ns}/gcmod"
    app.modules.push(module_dir(app, name, TABLE))
    base = 10 + int(app.ns[1:], 16) % 100_000  # tables of their own (blobs are shared by content)
    kept, dropped = (
        app.runs.start(f"{name}/flow:latestAlpha", {"n": n})["id"] for n in (base, base + 1)
    )
    for rid in (kept, dropped):
        assert app.runs.wait(rid)["state"] == "succeeded"
    app.runs.pin(kept, "kept by its pin")
    archive = app.modules.show(f"{name}@1")["selected"]["archive_digest"]
    _age(_blob_path(app, archive), 7200)  # old, but referenced: stays
    orphan = _plant(app, f"orphan {app.ns}".encode(), 7200)  # old and unreferenced: goes
    fresh = _plant(app, f"fresh {app.ns}".encode(), 0)  # unreferenced, within the grace period

    dry = conforms(app.storage.gc(dry_run=True), views.GcView)
    assert dry["dry_run"] and dry["removed"]["blobs"] == 1 and dry["recent"]["blobs"] >= 1
    assert dry["removed"]["bytes"] == orphan.stat().st_size and orphan.exists()
    done = app.storage.gc()
    assert (done["removed"]["blobs"], done["removed"]["unreferenced"]) == (1, 1)
    assert not orphan.exists() and fresh.exists() and _blob_path(app, archive).exists()
    assert app.runs.output(dropped, app.tmp / "d.parquet")["rows"] == base + 1  # still there

    # retention: outputs of finished, unpinned runs older than 0 days go (once no cache entry
    # holds them); the pinned run keeps its own
    app.cache.clear(workflow=f"{name}/")
    kept_out = app.runs.show(kept)["output_value"]["artifact"]
    dropped_out = app.runs.show(dropped)["output_value"]["artifact"]
    released = app.storage.gc(keep_runs_days=0, grace_hours=0)
    assert released["removed"]["expired_run_outputs"] >= 1 and released["expired_runs"] >= 1
    assert not _blob_path(app, dropped_out).exists() and _blob_path(app, kept_out).exists()
    assert _blob_path(app, archive).exists() and not fresh.exists()
    fails(
        lambda: app.runs.output(dropped, app.tmp / "gone.parquet"),
        NotFoundError,
        "no longer in the artifact store",
    )
    assert app.runs.output(kept, app.tmp / "k.parquet")["rows"] == base
    events = app.audit.list(action="gc.run", limit=10)
    assert [e["details"]["dry_run"] for e in events][:3] == [False, False, True]

    bob = user(app, "bob")
    app.users.add(bob)
    fails(lambda: app.as_user(bob).storage.gc(dry_run=True), PermissionDeniedError, "admin")
    assert any(e["decision"] == "deny" for e in app.audit.list(action="gc.run", limit=10))
    fails(lambda: app.storage.gc(keep_runs_days=-1), InvalidInputError, "negative")


# --- schedules and webhooks ----------------------------------------------------------------------
def test_schedules_add_pause_resume_remove(app):
    name = f"{app.ns}/mod"
    app.modules.push(module_dir(app, name))
    added = conforms(
        app.schedules.add(f"{name}/flow:latestAlpha", "0 6 * * 1-5", tz="Europe/Berlin"),
        views.ScheduleView,
    )
    assert added["state"] == "active" and added["timezone"] == "Europe/Berlin"
    assert added["id"] in {s["id"] for s in app.schedules.list(workflow=name)}
    assert app.schedules.pause(added["id"])["changed"] is True
    assert app.schedules.pause(added["id"])["changed"] is False
    assert app.schedules.show(added["id"])["state"] == "paused"
    assert app.schedules.resume(added["id"])["state"] == "active"
    assert app.schedules.remove(added["id"])["changed"] is True
    fails(lambda: app.schedules.show(added["id"]), NotFoundError, "")
    fails(
        lambda: app.schedules.add(f"{name}/flow:latestAlpha", "61 * * * *"),
        InvalidInputError,
        "61",
    )


def test_webhooks_add_list_remove(app):
    added = conforms(
        app.webhooks.add("http://127.0.0.1:9/hook", ["run.succeeded"]), views.WebhookView
    )
    assert added["secret"].startswith("whsec_")
    listed = {w["id"]: w for w in app.webhooks.list()}
    assert "secret" not in listed[added["id"]]
    assert sum(listed[added["id"]]["deliveries"].values()) == 0
    assert app.webhooks.deliveries(added["id"]) == []
    fails(lambda: app.webhooks.attempts(987654321), NotFoundError, "987654321")
    assert app.webhooks.remove(added["id"])["changed"] is True
    assert added["id"] not in {w["id"] for w in app.webhooks.list()}
    fails(lambda: app.webhooks.add("ftp://x", ["run.succeeded"]), InvalidInputError, "ftp")


def test_every_area_of_the_interface_is_implemented(app):
    """Both implementations have every method the protocol declares, with its parameters."""
    import inspect

    from mlstudio.app import interface

    areas = {n: p for n, p in vars(interface.Studio).items() if isinstance(p, property)}
    assert len(areas) == 21  # ... features, evaluation, flags, monitoring, deployments, genai
    for area_name, prop in areas.items():
        protocol = typing.get_type_hints(prop.fget)["return"]
        area = getattr(app.studio, area_name)
        for method, declared in inspect.getmembers(protocol, inspect.isfunction):
            if method.startswith("_"):
                continue
            implemented = getattr(area, method, None)
            assert implemented is not None, f"{app.kind}: {area_name}.{method} is missing"
            want = [p for p in inspect.signature(declared).parameters if p != "self"]
            have = list(inspect.signature(implemented).parameters)
            assert have[: len(want)] == want, f"{app.kind}: {area_name}.{method}{have} != {want}"


# --- evaluation ---------------------------------------------------------------------------------
def test_evaluation_compare_show_list_and_alias_gates(app):
    """Two score columns of one evaluation set compared with paired statistics; the report is
    stored (shown, listed) and its item-level scores are a dataset; gates on a model's alias."""
    import numpy as np

    rng = np.random.default_rng(3)
    n = 300
    y = (rng.random(n) < 0.4).astype(int)
    good = np.clip(0.5 * y + 0.25 + rng.normal(0, 0.15, n), 0.01, 0.99)
    bad = np.clip(0.5 + rng.normal(0, 0.15, n), 0.01, 0.99)
    segment = np.array(["a", "b", "c"])[rng.integers(0, 3, n)]
    csv = app.tmp / "holdout.csv"
    lines = ["id,y,good,bad,segment"] + [
        f"{i},{y[i]},{good[i]:.6f},{bad[i]:.6f},{segment[i]}" for i in range(n)
    ]
    csv.write_text("\n".join(lines) + "\n")
    name = f"{app.ns}/holdout"
    classify = [f"{c}=internal" for c in ("id", "y", "good", "bad", "segment")]
    app.datasets.import_file(csv, name, classify=classify)
    report = app.evaluation.compare(
        ["column:bad", "column:good"],
        on=name,
        label="y",
        metrics=["log_loss", "auc"],
        slices=["segment"],
        resamples=500,
    )
    assert report["dataset"] == f"{name}@1" and report["n_items"] == n
    by = {c["metric"]: c for c in report["comparisons"]}
    assert by["auc"]["verdict"] == "better" and by["auc"]["test"] == "delong"
    assert by["log_loss"]["verdict"] == "better" and by["log_loss"]["delta"] < 0
    assert {s["value"] for s in report["slices"]} == {"a", "b", "c"}
    assert report["scores"] == f"{name}-eval@1"
    assert app.datasets.show(f"{name}-eval")["rows"] == n
    shown = app.evaluation.show(report["id"])
    assert shown["comparisons"] == report["comparisons"]
    assert report["id"] in [e["id"] for e in app.evaluation.list(name)]
    fails(lambda: app.evaluation.show("ev_nope"), NotFoundError, "ev_nope")
    fails(
        lambda: app.evaluation.compare(["column:good"], on=name, label="y"),
        InvalidInputError,
        "at least two candidates",
    )
    model = f"m-{app.ns}"
    app.models.create(model, namespace=app.ns)
    gate = app.models.gate(model, "prod", on=name, metric="auc", margin=0.01)
    assert gate["gate"] == {"on": name, "metric": "auc", "margin": 0.01, "slices": []}
    assert app.models.show(model)["gates"] == {"prod": gate["gate"]}
    fails(lambda: app.models.gate(model, "prod", metric="auc"), InvalidInputError, "--on")
    assert app.models.gate(model, "prod", remove=True)["gate"] is None
    fails(lambda: app.models.gate(model, "prod", remove=True), NotFoundError, "no gate")
    lift = app.evaluation.lift(
        name, metric="good", variant_column="segment", unit_column="id", control="a"
    )
    assert lift["dataset"] == f"{name}@1"
    assert {r["treatment"] for r in lift["results"]} == {"b", "c"}
    assert sum(r["n_treatment"] for r in lift["results"]) + lift["results"][0]["n_control"] == n
    fails(
        lambda: app.evaluation.lift(name, metric="good", variant_column="segment", unit_column="y"),
        InvalidInputError,
        "more than one variant",
    )


def test_evaluation_judge_and_rank(app):
    """A rule judge in both orders with agreement against imported human labels, and a
    Bradley-Terry ranking from a preferences dataset."""
    qa = app.tmp / "qa.csv"
    rows = [(f"q{i}", "red fish", "red fish" if i % 3 else "blue", "red fish") for i in range(30)]
    qa.write_text("id,answer,a,b\n" + "".join(",".join(r) + "\n" for r in rows))
    prefs = app.tmp / "prefs.csv"
    prefs.write_text("id,preference\n" + "".join(f"q{i},{'tie' if i % 3 else 'b'}\n"
                                                   for i in range(30)))  # fmt: skip
    name, labels = f"{app.ns}/qa", f"{app.ns}/qa-prefs"
    app.datasets.import_file(
        qa, name, classify=[f"{c}=internal" for c in ("id", "answer", "a", "b")]
    )
    app.datasets.import_file(prefs, labels, classify=["id=internal", "preference=internal"])
    out = app.evaluation.judge(
        "a", "b", on=name, judge="metric:exact_match", label="answer", human=labels
    )
    assert (out["a_wins"], out["b_wins"], out["ties"], out["inconsistent"]) == (0, 10, 20, 0)
    assert out["human_n"] == 30 and out["human_agreement"] == 1.0 and out["cohen_kappa"] == 1.0
    assert app.evaluation.show(out["id"])["verdicts"] == out["verdicts"] == f"{name}-judge@1"
    from mlstudio.testing.chat import chat_standin

    with chat_standin() as llm:  # the judge runs where the studio runs: here, or the server
        asked = app.evaluation.judge(
            "a", "b", on=name, judge=f"llm:openai:{llm.url}", judge_model="judge-1",
            label="answer", save=f"{name}-llm",
        )  # fmt: skip
    assert (asked["a_wins"], asked["b_wins"], asked["ties"]) == (0, 10, 20)
    assert len(llm.requests) == 60 and asked["judge_usage"]["calls"] == 60
    assert asked["verdicts"] == f"{name}-llm@1"
    fails(
        lambda: app.evaluation.judge("a", "b", on=name, judge="oracle"),
        InvalidInputError,
        "unknown judge",
    )
    battles = app.tmp / "battles.csv"
    battles.write_text("a,b,winner\n" + "x,y,a\n" * 8 + "y,x,x\n" * 2 + "y,z,a\n" * 8
                       + "x,z,tie\n" * 2 + "z,x,b\n" * 6)  # fmt: skip
    pairs = f"{app.ns}/battles"
    app.datasets.import_file(
        battles, pairs, classify=["a=internal", "b=internal", "winner=internal"]
    )
    ranked = app.evaluation.rank(on=pairs, resamples=20)
    assert [e["name"] for e in ranked["ranking"]] == ["x", "y", "z"]
    assert ranked["n_comparisons"] == 26


# --- flags --------------------------------------------------------------------------------------
def test_flags_set_evaluate_and_remove(app):
    key = f"serve.{app.ns}.route"
    made = app.flags.set(key, split=["champion=90", "challenger=10"], namespace=app.ns)
    assert made["kind"] == "string" and made["split"][1] == {"variant": "challenger", "weight": 10}
    r = app.flags.evaluate(key, "x", subject="acc-1")
    assert r["reason"] == "SPLIT" and r["value"] in ("champion", "challenger")
    assert app.flags.evaluate(key, "x", subject="acc-1")["variant"] == r["variant"]
    targeted = app.flags.set(key, rules=["plan=enterprise->challenger"])
    assert targeted["revision"] == 2 and targeted["split"] == made["split"]
    hit = app.flags.evaluate(key, "x", subject="a", context={"plan": "enterprise"})
    assert hit["reason"] == "TARGETING_MATCH"
    assert app.flags.evaluate(key, False)["error_code"] == "TYPE_MISMATCH"
    assert app.flags.show(key)["rules"][0]["in"] == ["enterprise"]
    assert key in [f["key"] for f in app.flags.list(f"serve.{app.ns}.")]
    fails(lambda: app.flags.set("bad key"), InvalidInputError, "invalid flag key")
    bob = user(app, "bob")
    app.users.add(bob)
    fails(lambda: app.as_user(bob).flags.set(key, enabled=False), PermissionDeniedError, app.ns)
    assert app.flags.remove(key)["removed"] is True
    assert app.flags.evaluate(key, "safe")["error_code"] == "FLAG_NOT_FOUND"
    fails(lambda: app.flags.remove(key), NotFoundError, "no flag")


# --- monitoring ---------------------------------------------------------------------------------
def test_monitor_add_run_alert_feedback_and_remove(app):
    rows = ["ts,plan,orders"]
    for day in range(1, 29):
        for plan, base in (("free", 20), ("pro", 10)):
            count = base * (5 if day == 20 else 1) + (day % 3)
            rows.append(f"2026-01-{day:02d}T12:00:00,{plan},{count}")
    csv = app.tmp / "log.csv"
    csv.write_text("\n".join(rows) + "\n")
    source = f"{app.ns}/log"
    app.datasets.import_file(csv, source, domain="production",
                             classify=["ts=internal", "plan=internal", "orders=internal"])  # fmt: skip
    name = f"{app.ns}/orders"
    made = app.monitoring.add(name, source=source, time_column="ts",
                              dimensions=["plan"], metrics=["orders=sum:orders"])  # fmt: skip
    assert made["checks"] == ["data", "anomaly:orders"]
    first = app.monitoring.run(name, now="2026-01-29T00:00:00Z")
    assert first["computed"]["anomaly:orders"] == 3 * 28
    assert app.monitoring.run(name, now="2026-01-29T00:00:00Z")["computed"] == {}
    alerts = [a for a in app.monitoring.alerts(name) if a["slice"] == ""]
    assert [a["first_window"] for a in alerts if a["check"] == "anomaly:orders"] == ["2026-01-20"]
    fb = app.monitoring.feedback(alerts[0]["id"], "confirmed", comment="promo")
    assert fb["kind"] == "confirmed" and fb["applies_after"] == "2026-01-28"
    shown = app.monitoring.show(name)
    assert shown["quality"]["anomaly:orders"]["precision"] == 1.0
    tuned = app.monitoring.tune(name)["checks"]["anomaly:orders"]
    assert tuned["current_threshold"] == 4.0 and tuned["suggested"] is not None
    fails(lambda: app.monitoring.tune(name, apply=True), InvalidInputError, "needs a threshold")
    assert [m["name"] for m in app.monitoring.list(app.ns)] == [name]
    fails(lambda: app.monitoring.feedback(alerts[0]["id"], "nope"), InvalidInputError, "nope")
    fails(lambda: app.monitoring.add(f"{app.ns}/bad", source=source, time_column="ts"),
          InvalidInputError, "at least one check")  # fmt: skip
    assert app.monitoring.remove(name)["removed"] is True
    fails(lambda: app.monitoring.show(name), NotFoundError, "does not exist")


def test_monitor_ground_truth_and_retrain_options_answer_the_same_everywhere(app):
    """A ground-truth check (predictions joined to labels by request id) and the refusal of a
    retraining trigger naming no workflow that exists, through each implementation."""
    log, labels = ["request_id,ts,prediction"], ["request_id,label"]
    for day in range(1, 11):
        for i in range(40):
            y = (i + day) % 2
            right = i % 10 < (5 if day >= 8 else 9)  # accuracy 0.9, then 0.5 from Jan 8
            log.append(f"r{day}-{i},2026-01-{day:02d}T12:00:00,{0.8 if right == bool(y) else 0.2}")
            if day < 10:  # Jan 10's labels have not arrived
                labels.append(f"r{day}-{i},{y}")
    for name, rows in (("preds", log), ("labels", labels)):
        (app.tmp / f"{name}.csv").write_text("\n".join(rows) + "\n")
    for name, cols in (("preds", ("request_id", "ts", "prediction")),
                       ("labels", ("request_id", "label"))):  # fmt: skip
        app.datasets.import_file(app.tmp / f"{name}.csv", f"{app.ns}/{name}", domain="production",
                                 classify=[f"{c}=internal" for c in cols])  # fmt: skip
    name = f"{app.ns}/quality"
    truth = {"labels": f"{app.ns}/labels", "metric": "accuracy", "baseline": 0.9,
             "tolerance": 0.1, "min_labels": 20}  # fmt: skip
    made = app.monitoring.add(name, source=f"{app.ns}/preds", time_column="ts",
                              ground_truth=truth)  # fmt: skip
    assert made["checks"] == ["data", "model:accuracy"]
    out = app.monitoring.run(name, now="2026-01-11T00:00:00Z")
    assert out["computed"]["model:accuracy"] == 10
    [alert] = [a for a in app.monitoring.alerts(name) if a["check"] == "model:accuracy"]
    assert alert["first_window"] == "2026-01-08" and alert["evidence"]["value"] == 0.5
    series = app.monitoring.show(name)["series"]["model:accuracy"]
    assert series[-1]["value"] is None and series[-1]["status"] == "no_data"
    fails(lambda: app.monitoring.add(f"{app.ns}/q2", source=f"{app.ns}/preds", time_column="ts",
                                     ground_truth={**truth, "baseline": "x"}),
          InvalidInputError, "invalid --baseline")  # fmt: skip
    fails(lambda: app.monitoring.add(f"{app.ns}/q3", source=f"{app.ns}/preds", time_column="ts",
                                     ground_truth=truth,
                                     retrain={"workflow": f"{app.ns}/nope/train"}),
          NotFoundError, "nope")  # fmt: skip
    assert [m["name"] for m in app.monitoring.list(app.ns)] == [name]


# --- deployments and batch scoring --------------------------------------------------------------
def test_deployments_are_server_run_and_checked_before_recording(app):
    """A server records a deployment for its supervisor; the embedded studio refuses in one line
    naming the server; reads and removal answer the same everywhere."""
    name = f"{app.ns}-model"
    fails(lambda: app.deployments.show(name), NotFoundError, f"no deployment '{name}'")
    assert name not in [d["name"] for d in app.deployments.list()]
    if app.kind == "remote":
        fails(lambda: app.deployments.deploy(name, alias="live"), NotFoundError, "does not exist")
        fails(
            lambda: app.deployments.deploy(name, alias="live", fallback="magic"),
            InvalidInputError,
            "invalid fallback",
        )
    else:
        fails(
            lambda: app.deployments.deploy(name, alias="live"),
            ConfigurationError,
            "mlstudio server",
        )
    fails(lambda: app.deployments.remove(name), NotFoundError, "no deployment")
    fails(
        lambda: app.models.predict(f"{name}@live", input=f"{app.ns}/none", output=f"{app.ns}/out"),
        NotFoundError,
        f"{app.ns}/none",
    )
