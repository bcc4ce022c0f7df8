"""The REST API of a real ``mlstudio server`` process: auth, errors, uploads, paging, load."""

from __future__ import annotations

import io
import os
import re
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlstudio.governance.tokens import parse_token
from mlstudio.modules.archive import build_module

API = "/api/v1"
PATH_VALUES = {
    "namespace": "churn",
    "name": "x",
    "ref": "churn/x/flow",
    "run_id": "run_0123456789",
    "tag": "stable",
    "token_id": "tok_0123456789abcdef012345",
    "declassifier_id": "dcl_0123",
    "role": "reader",
    "webhook_id": "whk_0123456789",
    "schedule_id": "sch_0123456789",
    "delivery_id": "1",
    "alias": "champion",
    "version": "1",
    "view": "v",
    "key": "serve.x.kill",
}


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error body, checked for the one shape every error has."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert set(error) <= {"code", "message", "hint", "details"}, error
    assert error["message"] and "\n" not in error["message"], error
    return error


def setup_namespace(server: Any, token: str, ns: str, *modules: Path) -> None:
    with server.http(token) as http:
        assert http.post(f"{API}/namespaces", json={"name": ns}).status_code == 201
        for root in modules:
            pushed = http.post(
                f"{API}/modules",
                params={"run_tests": False},
                content=build_module(root).archive,
                headers={"Content-Type": "application/gzip"},
            )
            assert pushed.status_code == 201, pushed.text


def start_run(http: httpx.Client, workflow: str, **body: Any) -> httpx.Response:
    return http.post(f"{API}/workflows/{workflow}/runs", json=body)


# --- open and closed routes ---------------------------------------------------------------------
def test_health_is_the_only_open_route(api_server):
    response = httpx.get(f"{api_server.url}/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    error = error_of(httpx.get(f"{api_server.url}{API}/openapi.json"), 401, "unauthenticated")
    assert error["message"].startswith("missing API token")
    # nothing answers without a token, not even an unknown route
    error_of(httpx.get(f"{api_server.url}{API}/no/such/route"), 401, "unauthenticated")
    error_of(httpx.get(f"{api_server.url}/docs"), 401, "unauthenticated")
    error_of(httpx.get(f"{api_server.url}/metrics"), 401, "unauthenticated")
    with api_server.http(api_server.token()) as http:
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "mlstudio_runs{" in metrics.text
        error_of(http.get("/docs"), 404, "not_found")


def test_every_route_refuses_missing_bad_revoked_and_expired_tokens(api_server):
    good = api_server.token()
    revoked = api_server.token()
    api_server.platform().tokens.revoke("alice", parse_token(revoked))
    expired = api_server.token(ttl_days=1e-5)  # a second
    api_server.add_user("carol")
    disabled = api_server.token("carol")
    api_server.platform().identity.disable("alice", "carol")
    time.sleep(1.2)
    with api_server.http(good) as http:
        doc = http.get(f"{API}/openapi.json").json()

    variants = {
        "missing": ({}, "missing API token"),
        "not bearer": ({"Authorization": f"Basic {good}"}, "malformed Authorization header"),
        "malformed": ({"Authorization": "Bearer nonsense"}, "malformed API token"),
        "unknown": (
            {"Authorization": f"Bearer {good[:-4]}AAAA"},
            "unknown API token",
        ),
        "revoked": ({"Authorization": f"Bearer {revoked}"}, "was revoked"),
        "expired": ({"Authorization": f"Bearer {expired}"}, "expired at"),
        "disabled user": ({"Authorization": f"Bearer {disabled}"}, "user carol is disabled"),
    }
    checked = 0
    with httpx.Client(base_url=api_server.url, timeout=60) as http:
        for path, operations in doc["paths"].items():
            if path == "/health":
                continue
            url = path.format(**PATH_VALUES)
            for method in operations:
                for headers, words in variants.values():
                    response = http.request(method.upper(), url, headers=headers, json={})
                    error = error_of(response, 401, "unauthenticated")
                    assert words in error["message"], (method, url, error)
                    assert response.headers["www-authenticate"] == "Bearer"
                    checked += 1
    assert checked >= 40 * len(variants)


def test_a_token_without_the_role_is_forbidden(api_server, new_module):
    admin = api_server.token()
    setup_namespace(api_server, admin, "rolens", new_module("rolens/base"))
    api_server.add_user("bob")
    bob = api_server.token("bob")
    with api_server.http(bob) as http:
        pushed = http.post(
            f"{API}/modules",
            content=build_module(new_module("rolens/bobs")).archive,
            headers={"Content-Type": "application/gzip"},
        )
        error = error_of(pushed, 403, "permission_denied")
        assert "bob may not push modules" in error["message"]
        assert error_of(http.get(f"{API}/modules/rolens/bobs"), 404, "not_found")

        refused = start_run(http, "rolens/base/flow:latestAlpha", params={"x": 2})
        assert "bob" in error_of(refused, 403, "permission_denied")["message"]
        error_of(http.post(f"{API}/namespaces", json={"name": "bobs"}), 403, "permission_denied")
        error_of(http.get(f"{API}/tokens", params={"user": "alice"}), 403, "permission_denied")

    # the API only authenticates: a grant through the service is all bob needs
    with api_server.http(admin) as http:
        granted = http.post(
            f"{API}/users/bob/grants", json={"role": "runner", "domain": "experimentation"}
        )
        assert granted.json()["added"] is True
    with api_server.http(bob) as http:
        started = start_run(http, "rolens/base/flow:latestAlpha", params={"x": 2})
        assert started.status_code == 202, started.text
        assert started.json()["created_by"] == "bob"
        assert http.get(f"{API}/whoami").json()["user"] == "bob"


# --- bad input ------------------------------------------------------------------------------------
def test_malformed_json_and_invalid_requests_are_400(api_server):
    token = api_server.token()
    with api_server.http(token) as http:
        malformed = http.post(
            f"{API}/workflows/a/b/c/runs",
            content=b'{"params": {',
            headers={"Content-Type": "application/json"},
        )
        assert error_of(malformed, 400, "invalid_input")["message"].startswith(
            "malformed JSON body"
        )
        wrong_type = start_run(http, "a/b/c", params=[1, 2])
        assert "body field params" in error_of(wrong_type, 400, "invalid_input")["message"]
        typo = start_run(http, "a/b/c", parms={})
        assert "parms" in error_of(typo, 400, "invalid_input")["message"]
        missing = http.post(f"{API}/namespaces")
        assert "missing JSON body" in error_of(missing, 400, "invalid_input")["message"]
        for query in ("limit=0", "limit=1001", "offset=-1", "limit=ten"):
            error_of(http.get(f"{API}/runs?{query}"), 400, "invalid_input")
        # the service's own validation comes back the same way
        bad_ref = start_run(http, "not-a-workflow")
        assert "invalid workflow" in error_of(bad_ref, 400, "invalid_input")["message"]
        working_copy = start_run(http, "/tmp/flows.py:main")
        assert "working copy" in error_of(working_copy, 400, "invalid_input")["message"]
        unknown = http.get(f"{API}/no/such/route")
        assert error_of(unknown, 404, "not_found")["message"] == f"no route GET {API}/no/such/route"
        error_of(http.delete(f"{API}/runs"), 405, "method_not_allowed")


def test_an_oversized_upload_is_413_and_publishes_nothing(api_server, new_module):
    token = api_server.token()
    setup_namespace(api_server, token, "bigns")
    root = new_module("bigns/big")
    (root / "blob.bin").write_bytes(os.urandom(200 * 1024))  # incompressible
    archive = build_module(root).archive
    limit = 64 * 1024
    assert len(archive) > limit
    with api_server.http(token) as http:
        declared = http.post(
            f"{API}/modules", content=archive, headers={"Content-Type": "application/gzip"}
        )
        error = error_of(declared, 413, "payload_too_large")
        assert "65536 bytes" in error["message"]

        def chunks():  # no Content-Length: the limit holds while streaming
            for start in range(0, len(archive), 8192):
                yield archive[start : start + 8192]

        streamed = http.post(
            f"{API}/modules", content=chunks(), headers={"Content-Type": "application/gzip"}
        )
        assert "content-length" not in streamed.request.headers
        error_of(streamed, 413, "payload_too_large")
        error_of(http.get(f"{API}/modules/bigns/big"), 404, "not_found")
        # a dataset upload has the same limit
        csv = b"a,b\n" + b"1,2\n" * 40_000
        too_big = http.post(
            f"{API}/datasets", params={"name": "bigns/data", "filename": "d.csv"}, content=csv
        )
        error_of(too_big, 413, "payload_too_large")


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_archives_escaping_their_root_are_400_and_write_nothing(api_server, new_module):
    token = api_server.token()
    setup_namespace(api_server, token, "tarns")
    root = new_module("tarns/evil")
    good = [_file(p.name, p.read_bytes()) for p in sorted(root.iterdir()) if p.is_file()]
    marker = uuid.uuid4().hex
    tmp = Path(tempfile.gettempdir())
    escapes = {
        "dotdot": f"../../evil-{marker}.txt",
        "deep": f"{'../' * 12}tmp/evil2-{marker}.txt",
        "absolute": f"/tmp/evil3-{marker}.txt",
    }
    link = tarfile.TarInfo("link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with api_server.http(token) as http:
        for label, name in escapes.items():
            body = _tar([*good, _file(name, b"pwned")])
            response = http.post(
                f"{API}/modules", content=body, headers={"Content-Type": "application/gzip"}
            )
            error = error_of(response, 400, "unsafe_archive")
            assert name in error["message"] or label == "absolute", error
        linked = _tar([*good, (link, None)])
        error_of(
            http.post(
                f"{API}/modules", content=linked, headers={"Content-Type": "application/gzip"}
            ),
            400,
            "unsafe_archive",
        )
        not_a_tar = http.post(
            f"{API}/modules", content=b"plain text", headers={"Content-Type": "application/gzip"}
        )
        error_of(not_a_tar, 400, "unsafe_archive")
        error_of(http.get(f"{API}/modules/tarns/evil"), 404, "not_found")
    for path in (
        tmp / f"evil-{marker}.txt",
        tmp / f"evil2-{marker}.txt",
        tmp / f"evil3-{marker}.txt",
    ):
        assert not path.exists()
    assert not list(api_server.home.parent.rglob(f"*{marker}*"))


def test_push_as_raw_gzip_or_multipart(api_server, new_module):
    token = api_server.token()
    setup_namespace(api_server, token, "pushns")
    archive = build_module(new_module("pushns/mod")).archive
    with api_server.http(token) as http:
        raw = http.post(
            f"{API}/modules",
            params={"message": "first", "run_tests": False},
            content=archive,
            headers={"Content-Type": "application/gzip"},
        )
        assert raw.status_code == 201, raw.text
        assert (raw.json()["ref"], raw.json()["unchanged"]) == ("pushns/mod@1", False)
        form = http.post(
            f"{API}/modules",
            params={"run_tests": False},
            files={"file": ("mod.tar.gz", archive, "application/gzip")},
        )
        assert form.status_code == 200, form.text
        assert (form.json()["ref"], form.json()["unchanged"]) == ("pushns/mod@1", True)
        shown = http.get(f"{API}/modules/pushns/mod@1").json()
        assert shown["selected"]["pushed_by"] == "alice"
        assert {t["name"] for t in shown["selected"]["tasks"]} == {"double", "flow"}
        moved = http.put(f"{API}/modules/pushns/mod/tags/stable", json={"version": 1}).json()
        assert (moved["tag"], moved["to"], moved["moved"]) == ("stable", 1, True)


# --- lists ----------------------------------------------------------------------------------------
def test_runs_pagination_and_filters(api_server, new_module):
    token = api_server.token()
    setup_namespace(api_server, token, "pagens", new_module("pagens/mod"))
    ids = []
    with api_server.http(token) as http:
        for i in range(7):
            domain = "adhoc" if i % 3 == 0 else "experimentation"
            started = start_run(http, "pagens/mod/flow:latestAlpha", params={"x": i}, domain=domain)
            assert started.status_code == 202, started.text
            run = started.json()
            assert (run["state"], run["trigger"], run["domain"]) == ("queued", "api", domain)
            ids.append(run["id"])

        def page(**params: Any) -> dict[str, Any]:
            response = http.get(f"{API}/runs", params={"workflow": "pagens/", **params})
            assert response.status_code == 200, response.text
            return response.json()

        everything = page(limit=50)
        assert (everything["limit"], everything["offset"]) == (50, 0)
        newest_first = [r["id"] for r in everything["items"]]
        assert sorted(newest_first) == sorted(ids) and len(newest_first) == 7
        pages = [page(limit=3, offset=o)["items"] for o in (0, 3, 6, 9)]
        assert [len(p) for p in pages] == [3, 3, 1, 0]
        assert [r["id"] for p in pages for r in p] == newest_first
        assert all(r["tasks"] == {"pending": 1} for r in everything["items"])

        assert len(page(domain="adhoc")["items"]) == 3
        assert len(page(domain="experimentation", state="queued")["items"]) == 4
        assert page(state="succeeded")["items"] == []
        assert len(page(user="alice")["items"]) == 7
        assert page(user="nobody")["items"] == []
        assert len(page(namespace="pagens")["items"]) == 7
        assert page(since="2999-01-01T00:00:00Z")["items"] == []
        assert page(workflow="pagens/mod/flow", limit=2)["items"][0]["id"] == newest_first[0]

        cancelled = http.post(f"{API}/runs/{ids[0]}/cancel").json()
        assert cancelled["state"] in ("cancelled", "cancelling")
        shown = http.get(f"{API}/runs/{ids[1]}").json()
        assert shown["params"] == {"x": 1} and shown["lock"]
        cloned = http.post(f"{API}/runs/{ids[1]}/clone", json={"params": {"x": 10}})
        assert cloned.status_code == 202
        assert (cloned.json()["parent_run_id"], cloned.json()["params"]) == (ids[1], {"x": 10})
        logs = http.get(f"{API}/runs/{ids[1]}/logs").json()
        assert logs == {"items": [], "limit": 50, "offset": 0}


def test_other_lists_page_the_same_way(api_server):
    token = api_server.token()
    with api_server.http(token) as http:
        for path in (
            "/modules",
            "/namespaces",
            "/users",
            "/tokens",
            "/domains",
            "/audit",
            "/datasets",
        ):
            first = http.get(f"{API}{path}", params={"limit": 1}).json()
            assert set(first) == {"items", "limit", "offset"} and len(first["items"]) <= 1
        domains = http.get(f"{API}/domains", params={"limit": 2, "offset": 1}).json()["items"]
        all_domains = http.get(f"{API}/domains").json()["items"]
        assert domains == all_domains[1:3]
        audit = http.get(f"{API}/audit", params={"action": "token.", "limit": 5}).json()["items"]
        assert audit and all(e["action"].startswith("token.") for e in audit)


def test_openapi_lists_the_routes(api_server):
    with api_server.http(api_server.token()) as http:
        doc = http.get(f"{API}/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/health",
        f"{API}/modules",
        f"{API}/modules/{{namespace}}/{{name}}",
        f"{API}/workflows/{{ref}}/runs",
        f"{API}/runs",
        f"{API}/runs/{{run_id}}/logs",
        f"{API}/cache/stats",
        f"{API}/datasets",
        f"{API}/domains/{{name}}",
        f"{API}/users",
        f"{API}/tokens",
        f"{API}/audit",
    ):
        assert path in paths, path
    operations = [op for item in paths.values() for op in item.values()]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for op in operations:
        assert re.fullmatch(rf"{op['tags'][0]}-[a-z_]+", op["operationId"]), op["operationId"]
    assert "HTTPBearer" in doc["components"]["securitySchemes"]
    assert paths[f"{API}/runs"]["get"]["responses"]["401"]


# --- load -----------------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.slow
def test_200_concurrent_submissions_are_all_accepted_once(server_factory, new_module):
    # a bound above the burst: every request is worked on (test_server_load covers the 503s)
    server = server_factory("postgres", "--no-workers", "--max-requests", "512")
    token = server.token()
    setup_namespace(server, token, "loadns", new_module("loadns/mod"))
    count = 200
    barrier = threading.Barrier(count)
    results: list[tuple[int, str | None, int]] = [(0, None, -1)] * count
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)

    with server.http(token, limits=limits) as http:

        def submit(i: int) -> None:
            barrier.wait()
            response = start_run(http, "loadns/mod/flow:latestAlpha", params={"x": i})
            body = response.json()
            results[i] = (response.status_code, body.get("id"), body.get("params", {}).get("x"))

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)

        assert [status for status, _, _ in results] == [202] * count
        ids = [run_id for _, run_id, _ in results]
        assert len(set(ids)) == count
        assert sorted(x for _, _, x in results) == list(range(count))

        listed = http.get(f"{API}/runs", params={"workflow": "loadns/", "limit": 1000}).json()
        listed_ids = [r["id"] for r in listed["items"]]
        assert len(listed_ids) == count  # none lost, none duplicated
        assert set(listed_ids) == set(ids)
        paged = [
            r["id"]
            for offset in range(0, count, 64)
            for r in http.get(
                f"{API}/runs", params={"workflow": "loadns/", "limit": 64, "offset": offset}
            ).json()["items"]
        ]
        assert paged == listed_ids
    starts = server.platform().store
    with starts.read() as uow:
        events = uow.audit.list(action="run.start", limit=1000)
    assert len([e for e in events if e.details.get("trigger") == "api"]) == count
