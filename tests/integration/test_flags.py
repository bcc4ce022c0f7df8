"""Feature flags through the CLI on SQLite and Postgres: set/list/show/eval/remove, who may
change them, audit, bad input, the in-process cache (last known flags when the database is
gone) and the OpenFeature provider with the real OpenFeature SDK."""

from __future__ import annotations

import pytest


def test_set_show_list_eval_remove_and_audit(studio):
    kill = studio.ok("flag", "set", "serve.churn.kill", "--value", "false")
    assert (kill["kind"], kill["enabled"], kill["default_variant"]) == ("boolean", True, "off")
    assert studio.ok("flag", "eval", "serve.churn.kill", "--default", "true") | {} == {
        "key": "serve.churn.kill",
        "value": False,
        "variant": "off",
        "reason": "STATIC",
        "error_code": None,
        "error_message": None,
        "bucket": None,
    }
    on = studio.ok("flag", "set", "serve.churn.kill", "--value", "true")
    assert on["default_variant"] == "on" and on["revision"] == 2
    assert on["variants"] == {"off": False, "on": True}
    route = studio.ok("flag", "set", "serve.churn.route", "--split", "champion=90",
                      "--split", "challenger=10")  # fmt: skip
    assert route["variants"] == {"champion": "champion", "challenger": "challenger"}
    split = studio.ok("flag", "eval", "serve.churn.route", "--default", "x", "--subject", "acc-7")
    assert split["reason"] == "SPLIT" and split["variant"] in ("champion", "challenger")
    again = studio.ok("flag", "eval", "serve.churn.route", "--default", "x", "--subject", "acc-7")
    assert again["variant"] == split["variant"]  # sticky, across processes
    targeted = studio.ok(
        "flag", "set", "serve.churn.route", "--rule", "plan=enterprise->challenger"
    )
    assert targeted["split"] and targeted["rules"][0]["variant"] == "challenger"
    match = studio.ok(
        "flag", "eval", "serve.churn.route", "--subject", "a", "--attr", "plan=enterprise"
    )
    assert match["reason"] == "TARGETING_MATCH" and match["value"] == "challenger"
    off = studio.ok("flag", "set", "serve.churn.route", "--disable")
    assert off["enabled"] is False and off["split"] == route["split"]  # the rest is kept
    disabled = studio.ok("flag", "eval", "serve.churn.route", "--default", "safe")
    assert (disabled["value"], disabled["reason"]) == ("safe", "DISABLED")
    assert [f["key"] for f in studio.ok("flag", "list")] == [
        "serve.churn.kill",
        "serve.churn.route",
    ]
    assert [f["key"] for f in studio.ok("flag", "list", "--prefix", "serve.churn.k")] == [
        "serve.churn.kill"
    ]
    assert studio.ok("flag", "remove", "serve.churn.kill")["removed"] is True
    gone = studio.ok("flag", "eval", "serve.churn.kill", "--default", "false")
    assert (gone["value"], gone["error_code"]) == (False, "FLAG_NOT_FOUND")
    events = studio.ok("audit", "--action", "flag")
    actions = sorted(e["action"] for e in events if e["decision"] == "allow")
    assert actions == ["flag.remove"] + ["flag.set"] * 5
    first = next(e for e in events if e["action"] == "flag.set" and e["details"]["before"] is None
                 and e["resource"] == "flag:serve.churn.kill")  # fmt: skip
    assert first["details"]["after"]["variants"] == {"off": False}


def test_who_may_change_a_flag(studio):
    studio.ok("namespace", "create", "churn")
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "carol")
    studio.ok("namespace", "grant", "churn", "carol", "maintainer")
    denied = studio.fails("flag", "set", "global.x", "--value", "1", user="bob")
    assert "admin" in denied.stderr
    studio.ok("flag", "set", "serve.churn.kill", "--value", "false", "--namespace", "churn")
    assert "churn" in studio.fails("flag", "set", "serve.churn.kill", "--value", "true",
                                   user="bob").stderr  # fmt: skip
    assert (
        studio.ok("flag", "set", "serve.churn.kill", "--value", "true", user="carol")["revision"]
        == 2
    )
    assert studio.ok("flag", "show", "serve.churn.kill", user="bob")["default_variant"] == "on"
    denials = [e for e in studio.ok("audit", "--action", "flag.set") if e["decision"] == "deny"]
    assert sorted(e["actor"] for e in denials) == ["bob", "bob"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bad key!", "--value", "1"], "invalid flag key"),
        (["k", "--split", "a=x"], "invalid split"),
        (["k", "--split", "a=0", "--split", "b=0"], "add up to 0"),
        (["k", "--rule", "nonsense"], "invalid rule"),
        (["k"], "needs a value or variants"),
        (["k", "--variant", "on=true", "--default", "nope"], "default variant"),
        (["k", "--variant", "a=1", "--variant", "b=x"], "mixes value types"),
        (["k", "--value", "true", "--split", "champion=1"], "has no variant 'champion'"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(studio, args, needle):
    failed = studio.fails("flag", "set", *args)
    assert needle in failed.stderr
    assert studio.ok("flag", "list") == []


def test_a_flag_keeps_its_type_and_namespace(studio):
    studio.ok("flag", "set", "k", "--value", "true")
    assert "boolean" in studio.fails("flag", "set", "k", "--value", "text").stderr
    assert "namespace" in studio.fails("flag", "set", "k", "--namespace", "x").stderr
    assert "no flag" in studio.fails("flag", "remove", "other").stderr


def test_the_cache_sees_changes_on_refresh_and_keeps_the_last_flags_without_a_database(studio):
    from mlstudio.integrations.serving.flags import FlagCache

    with studio.opened() as p:
        cache = FlagCache(p.store)
        assert cache.evaluate("k", True).error_code == "PROVIDER_NOT_READY"
        cache.refresh()
        assert cache.evaluate("k", True).error_code == "FLAG_NOT_FOUND"
        studio.ok("flag", "set", "k", "--value", "false")
        cache.refresh()
        assert (cache.evaluate("k", True).value, cache.last_error) == (False, None)
        cache.store = _unreachable(p.store)
        cache.refresh()
        assert cache.last_error is not None
        assert cache.evaluate("k", True).value is False  # the last known flags still answer


def _unreachable(store):
    """A store of this installation's kind whose database cannot be reached."""
    from mlstudio.store.metadata.engine import make_engine
    from mlstudio.store.metadata.store import MetadataStore

    url = store.engine.url
    if url.get_backend_name() == "postgresql":
        bad = url.set(port=1)  # nothing listens there
    else:
        bad = url.set(database="/nonexistent-dir/studio.db")
    return MetadataStore(make_engine(bad.render_as_string(hide_password=False)))


def test_the_openfeature_sdk_reads_mlstudio_flags(studio, monkeypatch):
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    from mlstudio.integrations.serving.openfeature_provider import MlstudioProvider

    studio.ok("flag", "set", "serve.churn.kill", "--value", "true")
    studio.ok(
        "flag", "set", "serve.churn.route", "--split", "champion=50", "--split", "challenger=50"
    )
    for key, value in studio.env().items():
        monkeypatch.setenv(key, value)
    provider = MlstudioProvider.from_settings()
    api.set_provider_and_wait(provider)
    try:
        client = api.get_client()
        assert client.get_boolean_value("serve.churn.kill", False) is True
        details = client.get_boolean_details("missing", False)
        assert (details.value, details.error_code.value) == (False, "FLAG_NOT_FOUND")
        ctx = EvaluationContext(targeting_key="acc-7")
        routed = client.get_string_details("serve.churn.route", "x", ctx)
        cli = studio.ok("flag", "eval", "serve.churn.route", "--subject", "acc-7")
        assert (routed.value, routed.reason.value) == (cli["value"], "SPLIT")
        mistyped = client.get_string_details("serve.churn.kill", "x")
        assert mistyped.error_code.value == "TYPE_MISMATCH" and mistyped.value == "x"
    finally:
        api.shutdown()
