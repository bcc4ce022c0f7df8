"""The portal's HTTP edge in process (FastAPI's TestClient on a SQLite home): sessions, CSRF,
redirects, and the API still needing its bearer token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mlstudio.api.portal.pages import may_write_namespace


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    from mlstudio.api.app import create_app
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    home = tmp_path / "home"
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'studio.db'}", user="alice")
    platform = Platform.open(settings)
    try:
        _record, token = platform.tokens.create("alice")
        with TestClient(create_app(platform), follow_redirects=False) as client:
            yield client, token
    finally:
        platform.close()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]*)"', html)[1]


def sign_in(client: TestClient, token: str, next: str = "") -> Any:
    form = client.get("/ui/signin")
    return client.post(
        "/ui/signin", data={"token": token, "csrf": csrf_of(form.text), "next": next}
    )


def test_pages_redirect_to_sign_in_and_back(app):
    client, token = app
    first = client.get("/ui/audit?actor=alice")
    assert first.status_code == 303
    assert first.headers["location"] == "/ui/signin?next=%2Fui%2Faudit%3Factor%3Dalice"
    answer = sign_in(client, token, "/ui/audit?actor=alice")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/audit?actor=alice"
    page = client.get("/ui/audit?actor=alice")
    assert page.status_code == 200 and 'value="alice"' in page.text
    assert "no-store" in page.headers["cache-control"]
    assert page.headers["x-frame-options"] == "DENY"


def test_sign_in_refuses_a_bad_token_a_missing_form_token_and_open_redirects(app):
    client, token = app
    bad = sign_in(client, "mls_tok_nope")
    assert bad.status_code == 401 and "sign-in refused" in bad.text
    assert "mlstudio_session" not in bad.headers.get("set-cookie", "")
    no_csrf = client.post("/ui/signin", data={"token": token})
    assert no_csrf.status_code == 403
    evil = sign_in(client, token, "https://evil.example/")
    assert evil.headers["location"] == "/ui/runs"
    evil = sign_in(client, token, "//evil.example/ui/")
    assert evil.headers["location"] == "/ui/runs"


def test_posts_need_the_session_csrf_token(app):
    client, token = app
    sign_in(client, token)
    page = client.get("/ui/runs")
    csrf = csrf_of(page.text)
    assert client.post("/ui/signout", data={}).status_code == 403
    assert client.post("/ui/signout", data={"csrf": csrf + "x"}).status_code == 403
    assert client.get("/ui/runs").status_code == 200  # still signed in
    out = client.post("/ui/signout", data={"csrf": csrf})
    assert out.status_code == 303
    assert client.get("/ui/runs").status_code == 303  # signed out: back to sign-in


def test_a_tampered_cookie_is_no_session_and_the_api_still_wants_a_token(app):
    client, token = app
    sign_in(client, token)
    cookie = client.cookies["mlstudio_session"]
    client.cookies.clear()
    client.cookies.set("mlstudio_session", cookie.replace("v1.", "v1.x"))
    assert client.get("/ui/runs").status_code == 303
    client.cookies.set("mlstudio_session", cookie)
    assert client.get("/ui/runs").status_code == 200
    assert client.get("/api/v1/runs").status_code == 401  # the cookie opens pages only
    assert client.get("/api/v1/runs", headers={"Authorization": f"Bearer {token}"}).is_success
    assert client.get("/").headers["location"] == "/ui/runs"


def test_catalog_pages_render_for_an_empty_home(app):
    client, token = app
    sign_in(client, token)
    pages = ("modules", "datasets", "models", "evaluations", "flags", "audit", "whoami")
    for path in (*pages, "monitors", "deployments"):
        answer = client.get(f"/ui/{path}")
        assert answer.status_code == 200, (path, answer.text[:300])
    missing = client.get("/ui/runs/run_nope")
    assert missing.status_code == 404 and 'id="error"' in missing.text


def test_promote_buttons_follow_namespace_grants():
    def grants(*rows: tuple[str, str, str]) -> dict[str, Any]:
        return {"grants": [{"role": r, "scope_kind": k, "scope": s} for r, k, s in rows]}

    assert may_write_namespace(grants(("admin", "platform", "")), "team")
    assert may_write_namespace(grants(("maintainer", "namespace", "team")), "team")
    assert not may_write_namespace(grants(("maintainer", "namespace", "other")), "team")
    assert not may_write_namespace(grants(("reader", "namespace", "team")), "team")
    assert not may_write_namespace({"grants": []}, "team")


def test_revoking_the_token_ends_the_session(app):
    client, token = app
    sign_in(client, token)
    assert client.get("/ui/runs").status_code == 200
    platform = client.app.state.platform
    token_id = next(t.id for t in platform.tokens.list("alice", "alice") if not t.revoked_at)
    platform.tokens.revoke("alice", token_id)
    ended = client.get("/ui/runs")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/ui/signin")
    assert client.get("/ui/runs/x/state").status_code == 303


def test_the_session_ends_with_a_short_lived_token(app):
    client, _token = app
    platform = client.app.state.platform
    _record, short = platform.tokens.create("alice", ttl_days=1 / 24)
    answer = sign_in(client, short)
    max_age = int(
        re.search(r"mlstudio_session=[^;]+;.*?Max-Age=(\d+)", answer.headers["set-cookie"])[1]
    )
    assert 3500 <= max_age <= 3600  # the token's hour, not the session's 8 hours
