"""Who may start, control and view runs in which domain, on SQLite and on Postgres.

Runs are submitted through ``Platform.runs.submit`` (the service every edge calls), which plans
and records a queued run; nothing here needs to execute one. A refusal must leave no run behind.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlstudio.errors import NotFoundError, PermissionDeniedError, PolicyViolationError
from mlstudio.governance.domains import check_view
from mlstudio.testing.flows import working_copy
from mlstudio.workflows.options import RunOptions

DOMAINS = ["experimentation", "production", "adhoc"]
ROLES = ["none", "viewer", "runner", "admin"]

APP_MANIFEST = '[module]\nname = "team/{name}"\ndescription = "an app"\nowners = ["alice"]\n'
APP_TASKS = """
from mlstudio import task, use, workflow

VERSION = {version}

@task
def hello(name: str = "world") -> str:
    return f"hello {{name}} v{{VERSION}}"

@workflow
def main(name: str = "world") -> str:
    return hello(name)
{extra}
"""
APP_TEST = """
from tasks import hello

def test_hello():
    assert hello("x").startswith("hello x")
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def write_app(folder: Path, version: int, *, name: str = "app", extra: str = "") -> Path:
    write(folder, "module.toml", APP_MANIFEST.format(name=name))
    write(folder, "tasks.py", APP_TASKS.format(version=version, extra=extra))
    write(folder / "tests", "test_tasks.py", APP_TEST)
    return folder


def push_promoted_app(studio, tmp_path: Path) -> str:
    """team/app@1, pushed with its (passing) tests and promoted to latest."""
    studio.ok("namespace", "create", "team")
    pushed = studio.ok("module", "push", write_app(tmp_path / "app", 1))
    assert pushed["version"] == 1 and pushed["tests"]["ok"] is True
    studio.ok("module", "promote", "team/app", "1")
    return "team/app/main"


def submit(studio, actor: str, workflow: str, domain: str):
    with studio.opened(actor) as platform:
        return platform.runs.submit(actor, workflow, {}, RunOptions(domain=domain))


def refused(studio, actor: str, workflow: str, domain: str) -> PermissionDeniedError:
    with pytest.raises(PermissionDeniedError) as caught:
        submit(studio, actor, workflow, domain)
    return caught.value


def user_with(studio, role: str, domain: str) -> str:
    if role == "admin":
        studio.ok("user", "add", "carol", "--role", "admin")
        return "carol"
    studio.ok("user", "add", "bob")
    if role != "none":
        studio.ok("user", "grant", "bob", role, "--domain", domain)
    return "bob"


# --- the role matrix ------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_starting_a_run_needs_runner_on_its_domain(studio, tmp_path, domain, role):
    # production runs only promoted code, so there the workflow is a promoted module
    target = push_promoted_app(studio, tmp_path) if domain == "production" else None
    target = target or working_copy(tmp_path)
    user = user_with(studio, role, domain)

    if role in ("runner", "admin"):
        run = submit(studio, user, target, domain)
        assert run.state == "queued" and run.domain == domain and run.created_by == user
        assert [r["id"] for r in studio.ok("runs", "list")] == [run.id]
    else:
        error = refused(studio, user, target, domain)
        assert not isinstance(error, PolicyViolationError)  # the role, not the code, refuses
        assert user in error.message and domain in error.message and "runner" in error.message
        assert f"mlstudio user grant {user} runner --domain {domain}" in error.one_line()
        assert studio.ok("runs", "list") == []


@pytest.mark.parametrize("role", ROLES)
def test_viewing_runs_needs_viewer_or_runner_on_the_domain(studio, role):
    user = user_with(studio, role, "production")
    with studio.opened() as platform, platform.store.read() as uow:
        if role == "none":
            with pytest.raises(PermissionDeniedError, match="viewer"):
                check_view(uow, user, "production")
        else:
            check_view(uow, user, "production")
        # a grant on one domain says nothing about another
        if role in ("viewer", "runner"):
            with pytest.raises(PermissionDeniedError):
                check_view(uow, user, "adhoc")
        with pytest.raises(NotFoundError, match="nowhere"):
            check_view(uow, user, "nowhere")


# --- grants, scopes and identity ----------------------------------------------------------------
def test_a_registered_user_needs_a_runner_grant_and_it_is_scoped_to_its_domain(studio, tmp_path):
    flow = working_copy(tmp_path)
    studio.ok("user", "add", "bob")
    error = refused(studio, "bob", flow, "experimentation")
    assert "bob" in error.message and "experimentation" in error.message
    assert studio.ok("runs", "list") == []

    studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
    run = submit(studio, "bob", flow, "experimentation")
    assert run.created_by == "bob"
    refused(studio, "bob", flow, "adhoc")  # runner on experimentation only
    assert [r["id"] for r in studio.ok("runs", "list")] == [run.id]

    # through the CLI the refusal is one line with exit code 4
    denied = studio.fails("run", flow, "--domain", "adhoc", user="bob", code=4)
    assert "mlstudio user grant bob runner --domain adhoc" in denied.stderr


def test_unregistered_users_and_unknown_domains_are_refused(studio, tmp_path):
    flow = working_copy(tmp_path)
    studio.ok("user", "list")  # alice bootstraps the home
    error = refused(studio, "mallory", flow, "experimentation")
    assert "not a registered user" in error.message
    with pytest.raises(NotFoundError) as caught:
        submit(studio, "alice", flow, "nowhere")
    assert "experimentation" in caught.value.message  # it lists the known domains
    assert studio.ok("runs", "list") == []


def test_a_disabled_user_may_not_start_or_control_runs(studio, tmp_path):
    flow = working_copy(tmp_path)
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
    run = submit(studio, "bob", flow, "experimentation")
    studio.ok("user", "disable", "bob")

    error = refused(studio, "bob", flow, "experimentation")
    assert "disabled" in error.message and "mlstudio user enable bob" in error.one_line()
    assert "disabled" in studio.fails("runs", "cancel", run.id, user="bob", code=4).stderr
    studio.ok("user", "enable", "bob")
    assert studio.ok("runs", "cancel", run.id, user="bob")["state"] == "cancelled"


def test_cancelling_a_run_needs_runner_on_its_domain(studio, tmp_path):
    flow = working_copy(tmp_path)
    studio.ok("user", "add", "bob")
    run = submit(studio, "alice", flow, "adhoc")
    denied = studio.fails("runs", "cancel", run.id, user="bob", code=4)
    assert "adhoc" in denied.stderr
    studio.ok("user", "grant", "bob", "viewer", "--domain", "adhoc")
    studio.fails("runs", "cancel", run.id, user="bob", code=4)  # viewing is not running
    studio.ok("user", "grant", "bob", "runner", "--domain", "adhoc")
    assert studio.ok("runs", "cancel", run.id, user="bob")["state"] == "cancelled"


def test_a_domain_created_by_an_admin_gets_its_own_runners(studio, tmp_path):
    flow = working_copy(tmp_path)
    studio.ok("domain", "create", "scratch", "--clearance", "internal", "--no-promoted-only")
    studio.ok("user", "add", "bob")
    refused(studio, "bob", flow, "scratch")
    studio.ok("user", "grant", "bob", "runner", "--domain", "scratch")
    assert submit(studio, "bob", flow, "scratch").domain == "scratch"
    # a new domain runs only promoted code until an admin opens it
    studio.ok("domain", "create", "closed")
    studio.ok("user", "grant", "bob", "runner", "--domain", "closed")
    assert isinstance(refused(studio, "bob", flow, "closed"), PolicyViolationError)


# --- promoted-only domains ----------------------------------------------------------------------
def test_production_runs_only_promoted_versions_even_for_admins(studio, tmp_path):
    flow = working_copy(tmp_path)
    # a working copy: fine in experimentation, refused in production, admin or not
    assert submit(studio, "alice", flow, "experimentation").state == "queued"
    error = refused(studio, "alice", flow, "production")
    assert isinstance(error, PolicyViolationError)
    assert "working copy" in error.message and "production.promoted_only" in error.message
    assert "mlstudio module promote" in error.one_line()

    app = push_promoted_app(studio, tmp_path)  # team/app@1 is latest
    assert submit(studio, "alice", app, "production").state == "queued"
    assert submit(studio, "alice", f"{app}@1", "production").state == "queued"

    # @2 is pushed with passing tests but not promoted: latestAlpha, not latest
    assert studio.ok("module", "push", write_app(tmp_path / "app", 2))["version"] == 2
    for ref in (f"{app}@2", f"{app}:latestAlpha"):
        error = refused(studio, "alice", ref, "production")
        assert isinstance(error, PolicyViolationError)
        assert "team/app@2" in error.message and "not promoted" in error.message
        assert "mlstudio module promote team/app 2" in error.one_line()
        assert submit(studio, "alice", ref, "experimentation").state == "queued"

    # @3 is pushed without tests: it cannot become latest, so it never runs in production
    assert studio.ok("module", "push", write_app(tmp_path / "app", 3), "--no-tests")["version"] == 3
    studio.fails("module", "tag", "team/app", "latest", "3", code=5)
    error = refused(studio, "alice", f"{app}@3", "production")
    assert isinstance(error, PolicyViolationError) and "team/app@3" in error.message

    # promoting @2 makes it the one production runs
    studio.ok("module", "promote", "team/app", "2")
    assert submit(studio, "alice", f"{app}@2", "production").state == "queued"
    assert isinstance(refused(studio, "alice", f"{app}@1", "production"), PolicyViolationError)

    production_runs = studio.ok("runs", "list", "--domain", "production")
    assert len(production_runs) == 3  # @1, @1 and then @2: every refusal left nothing behind


def test_every_module_a_production_run_uses_must_be_promoted(studio, tmp_path):
    studio.ok("namespace", "create", "team")
    # team/lib@1 pushed without tests: latestAlpha only
    lib = write_app(tmp_path / "lib", 1, name="lib")
    studio.ok("module", "push", lib, "--no-tests")
    uses_lib = """
@workflow
def composed(name: str = "world") -> str:
    lib = use("team/lib:latestAlpha")
    return lib.hello(name)
"""
    studio.ok("module", "push", write_app(tmp_path / "app", 1, extra=uses_lib))
    studio.ok("module", "promote", "team/app", "1")

    assert submit(studio, "alice", "team/app/main", "production").state == "queued"
    error = refused(studio, "alice", "team/app/composed", "production")
    assert isinstance(error, PolicyViolationError)
    assert "team/lib@1" in error.message and "team/app" not in error.message
    assert "mlstudio module promote team/lib 1" in error.one_line()
    assert submit(studio, "alice", "team/app/composed", "experimentation").state == "queued"


def test_record_denial_audits_a_refusal_outside_the_refused_transaction(studio, tmp_path):
    from mlstudio.governance.rbac import record_denial

    flow = working_copy(tmp_path)
    studio.ok("user", "add", "bob")
    with studio.opened() as platform:
        with pytest.raises(PermissionDeniedError) as caught:
            platform.runs.submit("bob", flow, {}, RunOptions(domain="adhoc"))
        # submit audited it (run.start); recording the same refusal again adds nothing
        record_denial(platform.store, "bob", "run.denied", "domain:adhoc", caught.value)
        assert studio.ok("audit", "--action", "run.denied") == []
        [started] = studio.ok("audit", "--action", "run.start")
        assert (started["actor"], started["decision"]) == ("bob", "deny")
        fresh = PermissionDeniedError(caught.value.message, hint=caught.value.hint)
        record_denial(platform.store, "bob", "run.denied", "domain:adhoc", fresh)
    [event] = studio.ok("audit", "--action", "run.denied")
    assert event["actor"] == "bob" and event["decision"] == "deny"
    assert event["details"]["code"] == "permission_denied"
    assert "runner" in event["details"]["message"]
