"""A server under load answers every client: 202, or 503 with ``Retry-After`` that the typed
client retries; no submission is lost or recorded twice."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from mlstudio.client import Client
from mlstudio.errors import ServerBusyError

BURN = "import time\nwhile True:\n    pass\n"


def burners(n: int = 2) -> list[subprocess.Popen[bytes]]:
    """A CPU burner per core, for the duration of a test."""
    return [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(n)]


def refused_total(server: Any, token: str) -> int:
    with server.http(token) as http:
        text = http.get("/metrics").text
    [line] = [x for x in text.splitlines() if x.startswith("mlstudio_http_requests_refused_total")]
    return int(line.split()[-1])


@pytest.mark.postgres
@pytest.mark.slow
def test_500_clients_on_a_loaded_machine_each_get_their_run_once(server_factory, new_module):
    server = server_factory("postgres", "--no-workers", "--max-requests", "8")
    token = server.token()
    with Client(server.url, token) as admin:
        admin.namespaces.create("loadns")
        admin.modules.push(new_module("loadns/mod"), run_tests=False)
    count = 500
    barrier = threading.Barrier(count)
    ids: list[str | None] = [None] * count
    params: list[int] = [-1] * count
    errors: list[str] = []
    busy_answers = [0]
    lock = threading.Lock()

    def count_busy(response: httpx.Response) -> None:
        if response.status_code == 503 and response.headers.get("retry-after"):
            with lock:
                busy_answers[0] += 1

    def submit(i: int) -> None:
        client = Client(server.url, token)
        client.http.session.event_hooks["response"].insert(0, count_busy)
        try:
            barrier.wait(timeout=120)
            run = client.runs.start("loadns/mod/flow:latestAlpha", {"x": i})
            ids[i], params[i] = run["id"], run["params"]["x"]
        except Exception as exc:  # recorded: the assertion below names it
            with lock:
                errors.append(f"{i}: {type(exc).__name__}: {exc}")
        finally:
            client.close()

    load = burners()
    try:
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    finally:
        for proc in load:
            proc.kill()
            proc.wait()

    assert errors == [], errors[:5]
    assert len(set(ids)) == count and None not in ids  # every client got its own run
    assert sorted(params) == list(range(count))
    # the bound was hit and answered (not dropped): those requests were retried
    assert busy_answers[0] > 0
    assert refused_total(server, token) == busy_answers[0]
    with Client(server.url, token) as admin:
        listed = admin.runs.list(workflow="loadns/", limit=None)
    assert sorted(r["id"] for r in listed) == sorted(ids)  # none lost, none duplicated


def test_a_busy_answer_is_one_line_with_the_wait(server_factory, new_module, monkeypatch):
    """When retries run out, the busy error reaches the user as one line naming the bound."""
    import mlstudio.client.http as http_module

    server = server_factory("sqlite", "--no-workers", "--max-requests", "1")
    token = server.token()
    monkeypatch.setattr(http_module, "RETRY_BUDGET_S", 0.0)
    release = threading.Event()
    entered = threading.Event()

    # hold the only slot with a slow upload whose body never ends until released
    def body():
        entered.set()
        yield b"x"
        release.wait(30)
        yield b""

    holder = threading.Thread(
        target=lambda: httpx.post(
            f"{server.url}/api/v1/modules",
            content=body(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"},
            timeout=60,
        )
    )
    holder.start()
    try:
        entered.wait(10)
        with Client(server.url, token) as client:
            deadline_hit = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until the holder's request is in flight
                try:
                    client.users.whoami()
                except ServerBusyError as exc:
                    deadline_hit = exc
                    break
            assert deadline_hit is not None
            assert "the server is busy (1 requests in flight, at most 1)" in deadline_hit.one_line()
            assert deadline_hit.http_status == 503
    finally:
        release.set()
        holder.join(30)
