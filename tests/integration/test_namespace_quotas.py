"""``mlstudio namespace quota``: per-namespace quotas stored in the database (admins set them;
everyone may read them), on SQLite and Postgres."""

from __future__ import annotations

import logging
from typing import Any

import pytest

UNLIMITED = {"max_running_runs": None, "max_running_tasks": None}


def quota_of(studio, name: str = "team") -> dict[str, Any]:
    shown = studio.ok("namespace", "quota", name)
    return {key: shown[key] for key in UNLIMITED}


def listed(studio, name: str = "team") -> dict[str, Any]:
    [row] = [r for r in studio.ok("namespace", "list") if r["name"] == name]
    return {key: row[key] for key in UNLIMITED}


def quota_events(studio) -> list[dict[str, Any]]:
    return studio.ok("audit", "--action", "namespace.quota")


def test_an_admin_sets_shows_and_clears_quotas_and_list_shows_them(studio):
    studio.ok("namespace", "create", "team")
    studio.ok("namespace", "create", "other")
    shown = studio.ok("namespace", "quota", "team")
    assert shown == {"namespace": "team", **UNLIMITED, "running_runs": 0, "running_tasks": 0}
    assert quota_events(studio) == []  # showing changes nothing

    set_both = studio.ok("namespace", "quota", "team", "--runs", "2", "--tasks", "8")
    assert set_both == {
        "namespace": "team",
        "max_running_runs": 2,
        "max_running_tasks": 8,
        "running_runs": 0,
        "running_tasks": 0,
    }
    assert listed(studio) == {"max_running_runs": 2, "max_running_tasks": 8}
    assert listed(studio, "other") == UNLIMITED

    only_tasks = studio.ok("namespace", "quota", "team", "--tasks", "0")  # 0: the team pauses
    assert (only_tasks["max_running_runs"], only_tasks["max_running_tasks"]) == (2, 0)
    cleared = studio.ok("namespace", "quota", "team", "--runs", "none")
    assert (cleared["max_running_runs"], cleared["max_running_tasks"]) == (None, 0)
    assert quota_of(studio) == listed(studio) == {"max_running_runs": None, "max_running_tasks": 0}

    human = studio.cli("namespace", "quota", "team")
    assert human.code == 0
    assert "namespace team: runs 0/unlimited running, tasks 0/0 claimed" in human.stdout
    table = studio.cli("namespace", "list")
    assert table.code == 0 and "max runs" in table.stdout and "unlimited" in table.stdout

    events = quota_events(studio)  # newest first
    assert [(e["actor"], e["resource"], e["decision"]) for e in events] == [
        ("alice", "namespace:team", "allow")
    ] * 3
    assert events[0]["details"] == {
        "before": {"max_running_runs": 2, "max_running_tasks": 0},
        "after": {"max_running_runs": None, "max_running_tasks": 0},
    }
    assert events[2]["details"]["before"] == UNLIMITED


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("nope", "--runs", "1"), 3, "error: namespace nope does not exist"),
        (("nope",), 3, "error: namespace nope does not exist"),
        (("team", "--runs", "-1", "--tasks", "3"), 2, "error: invalid max_running_runs -1"),
        (("team", "--tasks", "-5"), 2, "error: invalid max_running_tasks -5"),
        (("team", "--runs", "two"), 2, "error: --runs takes a whole number or none, got 'two'"),
        (("team", "--tasks", "1.5"), 2, "error: --tasks takes a whole number or none"),
    ],
)
def test_bad_input_fails_with_one_line_and_changes_nothing(studio, args, code, message):
    studio.ok("namespace", "create", "team")
    studio.ok("namespace", "quota", "team", "--runs", "4", "--tasks", "9")
    before = quota_events(studio)
    failed = studio.fails("namespace", "quota", *args, code=code)
    assert failed.stderr.startswith(message), failed.stderr
    human = studio.cli("namespace", "quota", *args)  # the same line without --json
    assert (human.code, human.stderr) == (code, failed.stderr)
    assert quota_of(studio) == {"max_running_runs": 4, "max_running_tasks": 9}
    assert quota_events(studio) == before


def test_only_admins_set_quotas_and_a_refusal_is_audited(studio):
    studio.ok("namespace", "create", "team")
    studio.ok("user", "add", "bob")
    studio.ok("namespace", "grant", "team", "bob", "owner")  # owning a namespace is not enough
    failed = studio.fails("namespace", "quota", "team", "--runs", "9", user="bob", code=4)
    assert failed.stderr.startswith(
        "error: bob may not set the quotas of namespace team: it needs the platform admin role"
    )
    assert quota_of(studio) == UNLIMITED
    [denied] = quota_events(studio)
    assert (denied["actor"], denied["resource"], denied["decision"]) == (
        "bob",
        "namespace:team",
        "deny",
    )
    assert denied["details"]["code"] == "permission_denied"
    shown = studio.ok("namespace", "quota", "team", user="bob")  # reading is open, like list
    assert shown["max_running_runs"] is None


def test_the_retired_quota_variables_are_ignored_with_a_warning(monkeypatch, caplog):
    from mlstudio.scheduling.queue import warn_retired_quota_variables

    monkeypatch.setenv("MLSTUDIO_RUN_QUOTAS", "team=2")
    monkeypatch.delenv("MLSTUDIO_TASK_QUOTAS", raising=False)
    with caplog.at_level(logging.WARNING, logger="mlstudio.test"):
        found = warn_retired_quota_variables(logging.getLogger("mlstudio.test"))
    assert found == ["MLSTUDIO_RUN_QUOTAS"]
    assert "MLSTUDIO_RUN_QUOTAS is no longer read and has no effect" in caplog.text
