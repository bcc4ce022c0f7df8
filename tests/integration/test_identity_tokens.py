"""Users and API tokens, on SQLite and on Postgres: create, list, revoke, authenticate, disable.

The CLI is driven for what a user types; ``TokenService.authenticate`` (what a server calls for
every request) is called through ``studio.platform()``.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mlstudio.core.clock import utcnow
from mlstudio.errors import AuthenticationError, PermissionDeniedError
from mlstudio.governance.domains import check_run
from mlstudio.governance.tokens import parse_token
from mlstudio.store.metadata.tables import api_tokens


def denials(studio) -> list[dict]:
    return [e for e in studio.ok("audit", "--action", "auth.denied") if e["decision"] == "deny"]


# --- create / list / revoke through the CLI ----------------------------------------------------
def test_token_create_list_and_revoke_through_the_cli(studio):
    created = studio.ok("token", "create", "--description", "laptop", "--ttl-days", "30")
    secret = created["token"]
    assert secret.startswith(f"mls_{created['id']}_")
    assert created["user"] == "alice" and created["created_by"] == "alice"
    assert created["description"] == "laptop"
    assert created["revoked_at"] is None and created["expires_at"] is not None
    assert "not shown again" in created["warning"]

    listed = studio.ok("token", "list")
    assert [t["id"] for t in listed] == [created["id"]]
    assert listed[0]["state"] == "active"
    # the secret and its hash are never listed
    assert all(key not in listed[0] for key in ("token", "token_hash", "hash"))
    assert secret not in studio.cli("token", "list", "--json").stdout

    revoked = studio.ok("token", "revoke", created["id"])
    assert revoked["state"] == "revoked" and revoked["revoked_at"] is not None
    assert studio.ok("token", "list")[0]["state"] == "revoked"
    # revoking again changes nothing
    assert studio.ok("token", "revoke", created["id"])["revoked_at"] == revoked["revoked_at"]

    actions = [(e["action"], e["resource"]) for e in studio.ok("audit", "--action", "token")]
    assert actions == [
        ("token.revoke", f"token:{created['id']}"),
        ("token.create", f"token:{created['id']}"),
    ]
    # the audit log never holds the secret either
    assert secret not in studio.cli("audit", "--json").stdout


def test_token_create_prints_the_secret_once_with_a_warning(studio):
    result = studio.cli("token", "create")
    assert result.code == 0, result.stderr
    assert "mls_tok_" in result.stdout
    assert "not shown again" in result.stdout


def test_bad_token_arguments_are_refused(studio):
    studio.fails("token", "create", "--ttl-days", "0", code=2)
    studio.fails("token", "create", "--ttl-days", "100000", code=2)
    studio.fails("token", "revoke", "not-a-token-id", code=2)
    studio.fails("token", "revoke", "tok_0123456789abcdef012345", code=3)
    studio.fails("token", "create", "--user", "nobody", code=3)
    assert studio.ok("token", "list") == []


def test_only_admins_create_list_or_revoke_tokens_of_other_users(studio):
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "carol")
    refused = studio.fails("token", "create", "--user", "carol", user="bob", code=4)
    assert "bob" in refused.stderr and "admin" in refused.stderr

    own = studio.ok("token", "create", user="bob")
    assert own["user"] == "bob" and own["created_by"] == "bob"
    for_carol = studio.ok("token", "create", "--user", "carol")  # alice is admin
    assert for_carol["user"] == "carol" and for_carol["created_by"] == "alice"
    mine = studio.ok("token", "create")

    # bob sees his own tokens only; alice (admin) sees everyone's, or one user's
    assert [t["id"] for t in studio.ok("token", "list", user="bob")] == [own["id"]]
    studio.fails("token", "list", "--user", "carol", user="bob", code=4)
    assert {t["id"] for t in studio.ok("token", "list")} == {own["id"], for_carol["id"], mine["id"]}
    assert [t["id"] for t in studio.ok("token", "list", "--user", "carol")] == [for_carol["id"]]

    studio.fails("token", "revoke", mine["id"], user="bob", code=4)
    assert studio.ok("token", "revoke", own["id"], user="bob")["state"] == "revoked"
    assert studio.ok("token", "revoke", for_carol["id"])["state"] == "revoked"  # admin
    assert {t["id"]: t["state"] for t in studio.ok("token", "list")}[mine["id"]] == "active"


def test_unregistered_users_get_no_tokens(studio):
    studio.ok("user", "list")  # alice bootstraps the home
    refused = studio.fails("token", "create", user="mallory", code=4)
    assert "not a registered user" in refused.stderr


# --- storage ------------------------------------------------------------------------------------
def test_only_the_sha256_of_a_token_is_stored(studio):
    created = studio.ok("token", "create", "--description", "ci")
    secret = created["token"]
    with studio.opened() as platform, platform.store.read() as uow:
        rows = [dict(r._mapping) for r in uow.conn.execute(select(api_tokens))]
    assert len(rows) == 1
    row = rows[0]
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    # the random part follows "mls_<token id>_" (it may itself contain "_")
    secret_part = secret.removeprefix(f"mls_{parse_token(secret)}_")
    assert len(secret_part) >= 40
    for value in row.values():
        assert secret not in str(value)
        assert secret_part not in str(value)


# --- authentication -------------------------------------------------------------------------------
def test_a_valid_token_authenticates_its_user_and_records_its_use(studio):
    studio.ok("user", "add", "bob")
    created = studio.ok("token", "create", "--user", "bob")
    with studio.opened() as platform:
        assert platform.tokens.authenticate(created["token"]) == "bob"
        assert platform.tokens.authenticate(f"  {created['token']}\n") == "bob"
    listed = studio.ok("token", "list", "--user", "bob")[0]
    assert listed["last_used_at"] is not None
    assert denials(studio) == []


def test_revoked_expired_unknown_and_malformed_tokens_are_refused_each_with_its_reason(studio):
    studio.ok("user", "add", "bob")
    revoked = studio.ok("token", "create", "--user", "bob")
    studio.ok("token", "revoke", revoked["id"])
    expired = studio.ok("token", "create", "--user", "bob")
    valid = studio.ok("token", "create", "--user", "bob")
    wrong_secret = valid["token"][:-4] + ("AAAA" if not valid["token"].endswith("AAAA") else "BBBB")
    unknown = "mls_tok_0123456789abcdef012345_" + "x" * 43

    with studio.opened() as platform:
        with platform.store.transaction() as uow:  # expire it without waiting
            uow.conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == expired["id"])
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        messages = {}
        for name, token in [
            ("revoked", revoked["token"]),
            ("expired", expired["token"]),
            ("unknown", unknown),
            ("wrong secret", wrong_secret),
            ("malformed", "not-a-token"),
            ("empty", ""),
        ]:
            with pytest.raises(AuthenticationError) as caught:
                platform.tokens.authenticate(token)
            error = caught.value
            assert error.exit_code == 4 and error.http_status == 401
            assert "\n" not in error.one_line()
            messages[name] = error.message
        assert platform.tokens.authenticate(valid["token"]) == "bob"  # the good one still works

    assert "revoked" in messages["revoked"] and revoked["id"] in messages["revoked"]
    assert "expired" in messages["expired"] and expired["id"] in messages["expired"]
    assert "unknown" in messages["unknown"]
    assert messages["wrong secret"].startswith("unknown API token")
    assert "malformed" in messages["malformed"] and "malformed" in messages["empty"]
    assert len({messages[k] for k in ("revoked", "expired", "unknown", "malformed")}) == 4

    reasons = sorted(e["details"]["reason"] for e in denials(studio))
    assert reasons == ["expired", "malformed", "malformed", "revoked", "unknown", "unknown"]
    by_reason = {e["details"]["reason"]: e for e in denials(studio)}
    assert by_reason["revoked"]["actor"] == "bob"
    assert by_reason["revoked"]["resource"] == f"token:{revoked['id']}"
    assert by_reason["malformed"]["actor"] == "anonymous"


def test_a_token_with_a_tiny_lifetime_expires(studio):
    with studio.opened() as platform:
        record, secret = platform.tokens.create("alice", ttl_days=0.00001)  # under a second
        assert record.expires_at is not None
        assert record.expires_at - record.created_at < timedelta(seconds=2)
        with platform.store.transaction() as uow:
            uow.conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == record.id)
                .values(expires_at=utcnow() - timedelta(microseconds=1))
            )
        with pytest.raises(AuthenticationError, match="expired"):
            platform.tokens.authenticate(secret)


# --- disabling users ------------------------------------------------------------------------------
def test_disabled_users_cannot_authenticate_or_act_until_enabled(studio):
    studio.ok("user", "add", "bob")
    studio.ok("namespace", "create", "team", "--owner", "bob")
    created = studio.ok("token", "create", "--user", "bob")

    studio.fails("user", "disable", "bob", user="bob", code=4)  # not an admin
    disabled = studio.ok("user", "disable", "bob")
    assert disabled["disabled"] is True
    assert {u["name"]: u["disabled"] for u in studio.ok("user", "list")}["bob"] is True
    assert studio.ok("whoami", user="bob")["disabled"] is True

    with studio.opened() as platform, pytest.raises(AuthenticationError) as caught:
        platform.tokens.authenticate(created["token"])
    assert "bob is disabled" in caught.value.message
    assert "mlstudio user enable bob" in caught.value.one_line()

    # bob keeps his grants but may not use them
    refused = studio.fails("token", "create", user="bob", code=4)
    assert "disabled" in refused.stderr
    refused = studio.fails("namespace", "grant", "team", "alice", "reader", user="bob", code=4)
    assert "disabled" in refused.stderr
    studio.fails("token", "create", "--user", "bob", code=4)  # nor get tokens from an admin

    studio.ok("user", "enable", "bob")
    with studio.opened() as platform:
        assert platform.tokens.authenticate(created["token"]) == "bob"
    studio.ok("namespace", "grant", "team", "alice", "reader", user="bob")

    actions = [e["action"] for e in studio.ok("audit", "--action", "user.")]
    assert actions[:2] == ["user.enable", "user.disable"]
    assert "disabled" in [e["details"]["reason"] for e in denials(studio)]


def test_disable_edge_cases(studio):
    studio.ok("user", "add", "bob")
    studio.fails("user", "disable", "nobody", code=3)
    studio.fails("user", "disable", "alice", code=5)  # never lock yourself out
    studio.ok("user", "disable", "bob")
    studio.ok("user", "disable", "bob")  # idempotent, audited once
    assert [e["action"] for e in studio.ok("audit", "--action", "user.disable")] == ["user.disable"]


def test_a_disabled_admin_loses_every_right(studio):
    studio.ok("user", "add", "bob", "--role", "admin")
    studio.ok("user", "disable", "bob")
    refused = studio.fails("user", "add", "carol", user="bob", code=4)
    assert "disabled" in refused.stderr
    studio.fails("domain", "set", "adhoc", "--clearance", "public", user="bob", code=4)
    with (
        studio.opened("bob") as platform,
        platform.store.read() as uow,
        pytest.raises(PermissionDeniedError, match="disabled"),
    ):
        check_run(uow, "bob", "experimentation", None)


def test_grants_can_be_revoked(studio):
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "adhoc")
    assert studio.ok("user", "revoke", "bob", "runner", "--domain", "adhoc")["removed"] is True
    assert studio.ok("user", "revoke", "bob", "runner", "--domain", "adhoc")["removed"] is False
    studio.fails("user", "revoke", "alice", "admin", code=5)  # the last admin stays
    grants = {u["name"]: u["grants"] for u in studio.ok("user", "list")}
    assert grants["bob"] == []
    assert [e["action"] for e in studio.ok("audit", "--action", "grant.revoke")] == ["grant.revoke"]
