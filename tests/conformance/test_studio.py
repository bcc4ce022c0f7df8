"""The same cases against every implementation of the application interface.

A case passes only if the local studio (SQLite, Postgres) and the HTTP client (a real server)
give the same results and the same errors, so a use case written once in ``app/local`` behaves
the same at every edge. Results are also checked against the views they are declared as.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest

from mlstudio.app import views
from mlstudio.errors import (
    ConflictError,
    InvalidInputError,
    MlstudioError,
    NotFoundError,
    PermissionDeniedError,
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
    assert app.runs.show(started["id"][:10])["id"] == started["id"]  # a unique prefix works

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


def test_bad_runs_are_refused_before_anything_runs(app):
    name = f"{app.ns}/mod"
    app.modules.push(module_dir(app, name))
    fails(lambda: app.runs.start(f"{name}/nosuch:latestAlpha", {}), MlstudioError, "nosuch")
    fails(lambda: app.runs.start(f"{name}/flow:latestAlpha", {"y": 1}), MlstudioError, "y")
    fails(lambda: app.runs.show("run_nosuchrun"), NotFoundError, "run_nosuchrun")
    assert app.runs.list(workflow=name) == []


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
    assert len(areas) == 12
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
