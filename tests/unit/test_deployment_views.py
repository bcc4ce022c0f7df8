"""The deployment view's status (removing, a stale supervisor) and the supervisor's reading of
a serving process's one-line error (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.serving.deployments import _check_fallback, deployment_view
from mlstudio.integrations.serving.supervisor import last_error

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def row(**over):
    base = {
        "name": "churn", "model": "churn", "alias": "champion", "also": [], "fallback": None,
        "domain": "production", "port": None, "desired": "running", "revision": 1,
        "status": "running", "reason": None, "url": "http://127.0.0.1:9001", "pid": 42,
        "restarts": 0, "running_revision": 1, "created_by": "alice", "created_at": NOW,
        "updated_by": "alice", "updated_at": NOW, "supervisor": "sup-1", "heartbeat_at": NOW,
        "status_at": NOW,
    }  # fmt: skip
    return {**base, **over}


def test_a_fresh_heartbeat_keeps_the_observed_status():
    view = deployment_view(row(), now=NOW + timedelta(seconds=3))
    assert (view["status"], view["reason"], view["pid"]) == ("running", None, 42)


def test_a_stale_heartbeat_is_unknown_with_the_time_of_the_last_one():
    view = deployment_view(row(), now=NOW + timedelta(seconds=60))
    assert view["status"] == "unknown" and "no supervisor heartbeat since" in view["reason"]
    released = deployment_view(row(supervisor=None, heartbeat_at=None, status="pending"), NOW)
    assert released["status"] == "pending"


def test_a_removed_deployment_is_removing():
    assert deployment_view(row(desired="removed"), now=NOW)["status"] == "removing"


def test_fallback_chains_are_checked():
    assert _check_fallback(" previous,constant:0.5 ") == "previous,constant:0.5"
    assert _check_fallback("") is None
    for task in ("shop/rules/rule", "shop/rules@2/rule", "shop/rules@stable/rule"):
        assert _check_fallback(f"previous,{task}") == f"previous,{task}"
    with pytest.raises(InvalidInputError, match="invalid module version"):
        _check_fallback("previous,shop/rules@0/rule")
    try:
        _check_fallback("previous,magic")
    except Exception as exc:
        assert "invalid fallback 'magic'" in str(exc)
    else:
        raise AssertionError("magic was accepted")


def test_last_error_is_the_last_error_line_of_the_log(tmp_path: Path):
    log = tmp_path / "churn.log"
    assert last_error(log) is None  # no log yet
    log.write_text("--- starting\nerror: first\nsome warning\nerror: alice may not read pii\n")
    assert last_error(log) == "alice may not read pii"
    log.write_text("--- starting\nINFO fine\n")
    assert last_error(log) is None
