"""Execution domains through the CLI, on SQLite and on Postgres: list, show, set, grants."""

from __future__ import annotations

from mlstudio.governance.policy import DEFAULT_DOMAINS


def test_the_built_in_domains_are_listed_with_their_policies(studio):
    domains = {d["name"]: d for d in studio.ok("domain", "list")}
    assert sorted(domains) == ["adhoc", "experimentation", "production"]
    assert domains == {name: policy.to_dict() for name, policy in DEFAULT_DOMAINS.items()}
    experimentation = domains["experimentation"]
    assert experimentation["clearance"] == "confidential"
    assert experimentation["denied_labels"] == ["pii"]
    production = domains["production"]
    assert production["promoted_only"] is True and production["readable_labels"] is None
    adhoc = domains["adhoc"]
    assert adhoc["clearance"] == "internal" and adhoc["readable_labels"] == []
    assert adhoc["may_persist"] is False
    # the human table renders too
    table = studio.cli("domain", "list")
    assert table.code == 0 and "production" in table.stdout


def test_show_gives_the_policy_and_members_and_names_known_domains_when_unknown(studio):
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "viewer", "--domain", "production")
    shown = studio.ok("domain", "show", "production")
    assert shown["clearance"] == "restricted" and shown["promoted_only"] is True
    assert shown["members"] == [{"user": "bob", "role": "viewer", "granted_by": "alice"}]
    human = studio.cli("domain", "show", "production")
    assert human.code == 0 and "bob (viewer)" in human.stdout

    missing = studio.fails("domain", "show", "staging", code=3)
    for name in ("staging", "adhoc", "experimentation", "production"):
        assert name in missing.stderr
    studio.fails("domain", "show", "Not A Domain", code=2)


def test_only_admins_change_domains(studio):
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "sue", "--role", "steward")
    before = studio.ok("domain", "show", "adhoc")
    for user in ("bob", "sue"):
        refused = studio.fails("domain", "set", "adhoc", "--clearance", "restricted", user=user)
        assert refused.code == 4 and user in refused.stderr and "admin" in refused.stderr
    studio.fails("domain", "set", "staging", "--clearance", "internal", user="bob", code=4)
    studio.fails("domain", "create", "staging", "--clearance", "internal", user="bob", code=4)
    assert studio.ok("domain", "show", "adhoc") == before
    assert [d["name"] for d in studio.ok("domain", "list")] == [
        "adhoc",
        "experimentation",
        "production",
    ]
    refusals = studio.ok("audit", "--action", "domain.set")  # every refusal audited, newest first
    assert [(e["actor"], e["resource"], e["decision"]) for e in refusals] == [
        ("bob", "domain:staging", "deny"),  # the create
        ("bob", "domain:staging", "deny"),  # the set of a domain that is not there
        ("sue", "domain:adhoc", "deny"),
        ("bob", "domain:adhoc", "deny"),
    ]


def test_set_changes_a_policy_and_audits_before_and_after(studio):
    changed = studio.ok(
        "domain",
        "set",
        "experimentation",
        "--clearance",
        "internal",
        "--readable-labels",
        "ugc,financial",
        "--denied-labels",
        "none",
        "--readable-domains",
        "experimentation",
        "--no-persist",
        "--description",
        "tighter",
    )
    assert changed["clearance"] == "internal"
    assert changed["readable_labels"] == ["financial", "ugc"]
    assert changed["denied_labels"] == []
    assert changed["readable_domains"] == ["experimentation"]
    assert changed["may_persist"] is False
    assert changed["promoted_only"] is False  # untouched
    assert changed["pseudonymous_readable"] is True  # untouched
    assert changed["description"] == "tighter"
    assert studio.ok("domain", "show", "experimentation")["clearance"] == "internal"

    [event] = studio.ok("audit", "--action", "domain.set")
    assert event["actor"] == "alice" and event["resource"] == "domain:experimentation"
    details = event["details"]
    assert details["created"] is False
    assert details["before"] == DEFAULT_DOMAINS["experimentation"].to_dict()
    assert details["after"] == {k: v for k, v in changed.items()}
    assert details["changed"] == [
        "clearance",
        "denied_labels",
        "description",
        "may_persist",
        "readable_domains",
        "readable_labels",
    ]

    # "all" opens a list again; a set that changes nothing is not audited
    opened = studio.ok("domain", "set", "experimentation", "--readable-labels", "all")
    assert opened["readable_labels"] is None
    studio.ok("domain", "set", "experimentation", "--readable-labels", "all")
    assert len(studio.ok("audit", "--action", "domain.set")) == 2

    # production may stop running only promoted code, and back
    assert studio.ok("domain", "set", "production", "--no-promoted-only")["promoted_only"] is False
    assert studio.ok("domain", "set", "production", "--promoted-only")["promoted_only"] is True


def test_create_makes_a_new_domain_closed_by_default(studio):
    created = studio.ok("domain", "create", "staging")
    assert created == {
        "name": "staging",
        "clearance": "public",
        "readable_labels": [],
        "denied_labels": [],
        "pseudonymous_readable": False,
        "readable_domains": [],
        "may_persist": False,
        "promoted_only": True,
        "description": "",
    }
    opened = studio.ok(
        "domain",
        "create",
        "scratch",
        "--clearance",
        "confidential",
        "--readable-domains",
        "staging,experimentation",
        "--persist",
        "--no-promoted-only",
        "--hashed-labels",
    )
    assert opened["readable_domains"] == ["experimentation", "staging"]
    assert opened["may_persist"] is True and opened["promoted_only"] is False
    assert opened["pseudonymous_readable"] is True
    names = [d["name"] for d in studio.ok("domain", "list")]
    assert names == ["adhoc", "experimentation", "production", "scratch", "staging"]
    [event, _] = studio.ok("audit", "--action", "domain.set")
    assert event["details"]["created"] is True and event["details"]["before"] is None

    # roles can be granted on the new domain, but not on one that does not exist
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "staging")
    missing = studio.fails("user", "grant", "bob", "runner", "--domain", "nowhere", code=3)
    assert "nowhere" in missing.stderr and "staging" in missing.stderr
    studio.fails("user", "grant", "bob", "owner", "--domain", "staging", code=2)
    studio.fails("user", "grant", "bob", "runner", "--domain", "Bad Name", code=2)


def test_set_never_creates_a_domain_and_names_the_closest_one(studio):
    before = studio.ok("domain", "list")
    typo = studio.fails("domain", "set", "experimentaton", "--clearance", "internal", code=3)
    assert "domain experimentaton does not exist" in typo.stderr
    assert "did you mean experimentation?" in typo.stderr
    assert "mlstudio domain create experimentaton" in typo.stderr
    assert studio.ok("domain", "list") == before
    assert studio.ok("audit", "--action", "domain.set") == []
    # create refuses a domain that exists, and changes nothing
    again = studio.fails("domain", "create", "adhoc", "--clearance", "restricted", code=5)
    assert "domain adhoc already exists" in again.stderr and "domain set adhoc" in again.stderr
    assert studio.ok("domain", "list") == before
    human = studio.cli("domain", "create", "staging", "-d", "pre-production")
    assert human.code == 0 and "domain staging created" in human.stdout


def test_set_validates_levels_labels_and_domain_names(studio):
    before = studio.ok("domain", "list")
    assert (
        "secret" in studio.fails("domain", "set", "adhoc", "--clearance", "secret", code=2).stderr
    )
    studio.fails("domain", "set", "adhoc", "--readable-labels", "PII!", code=2)
    studio.fails("domain", "set", "adhoc", "--denied-labels", "all", code=2)
    studio.fails("domain", "set", "adhoc", "--readable-labels", "all,pii", code=2)
    studio.fails("domain", "set", "adhoc", "--readable-domains", "Bad Name", code=2)
    unknown = studio.fails("domain", "set", "adhoc", "--readable-domains", "nowhere", code=3)
    assert "nowhere" in unknown.stderr
    studio.fails("domain", "set", "9bad", code=2)
    assert studio.ok("domain", "list") == before
    assert studio.ok("audit", "--action", "domain.set") == []
