"""REST API benchmark (issue 5): latency of ``GET /api/v1/runs`` with 100,000 runs on Postgres.

    python bench/bench_api.py [--runs 100000] [--active 100] [--requests 300]
                              [--scenario TEXT]... [--json]

The active case (the waiting reasons of queue runs, computed on every page):

    python bench/bench_api.py --active 10000 --scenario newest --scenario queued

Creates a throwaway Postgres database (MLSTUDIO_TEST_POSTGRES_URL, default the local server),
inserts the runs (and two task runs each) in bulk straight through SQL, starts a real
``mlstudio server --no-workers`` process, and times sequential requests from one keep-alive
client — token authentication, the query, task counts and JSON included. Prints p50/p95/p99 per
scenario; the target is p95 < 50 ms for the default page.

The active runs (``--active``) are queue runs spread over priorities 0-2, half queued and half
running, in 50 namespaces of which every fifth has a stored quota of 5 running runs: each page
says why its queued runs wait (quota, higher priority, no worker).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

FINISHED = ["succeeded"] * 18 + ["failed", "cancelled"]
DOMAINS = ["experimentation"] * 7 + ["production"] * 2 + ["adhoc"]
NAMESPACES = 50
TARGET_P95_MS = 50.0


def fill(database_url: str, home: Path, count: int, active: int) -> float:
    """Insert ``count`` runs (the newest ``active`` of them queued or running, the rest finished)
    and 2 task runs each; returns the seconds it took."""
    from sqlalchemy import insert, text

    from mlstudio.platform import Platform
    from mlstudio.settings import Settings
    from mlstudio.store.metadata.tables import namespaces, runs, task_runs

    platform = Platform.open(Settings(home=home, database_url=database_url, user="alice"))
    platform.identity.add_user("alice", "vera")
    platform.identity.grant("alice", "vera", "viewer", "domain", "experimentation")
    rng = random.Random(5)
    start = time.perf_counter()
    now = datetime.now(UTC)
    with platform.store.transaction() as uow:  # every fifth team has a run quota
        uow.conn.execute(
            insert(namespaces),
            [
                {
                    "name": f"team{n}",
                    "description": "",
                    "created_by": "alice",
                    "created_at": now,
                    "max_running_runs": 5 if n % 5 == 0 else None,
                    "max_running_tasks": None,
                }
                for n in range(NAMESPACES)
            ],
        )
    batch = 5000
    for first in range(0, count, batch):
        run_rows, task_rows = [], []
        for i in range(first, min(first + batch, count)):
            ns = f"team{i % NAMESPACES}"
            is_active = i >= count - active
            if is_active:
                state = "queued" if (i // NAMESPACES) % 2 else "running"
            else:
                state = rng.choice(FINISHED)
            created = now - timedelta(seconds=(count - i) * 60)
            run_id = f"run_bench{i:016d}"
            run_rows.append(
                {
                    "id": run_id,
                    "workflow": f"{ns}/features/pipeline",
                    "namespace": ns,
                    "state": state,
                    "params": {"factor": i % 7},
                    "plan": {},
                    "lock": {},
                    "domain": rng.choice(DOMAINS),
                    "trigger": "api",
                    "executor": "queue",
                    "no_cache": False,
                    "fail_fast": False,
                    "created_by": f"user{i % 20}",
                    "created_at": created,
                    "started_at": created if state != "queued" else None,
                    "finished_at": created + timedelta(seconds=3) if state in FINISHED else None,
                    "error": "boom" if state == "failed" else None,
                    "output": None,
                    "cancel_requested": False,
                    "engine_id": None,
                    "heartbeat_at": None,
                    "parent_run_id": None,
                    "priority": (i // 7) % 3 if is_active else 0,
                }
            )
            for node in ("scale", "total"):
                task_rows.append(
                    {
                        "run_id": run_id,
                        "node_id": node,
                        "task": node,
                        "module": f"{ns}/features",
                        "state": "succeeded" if state == "succeeded" else "pending",
                        "attempt": 1,
                        "max_attempts": 1,
                        "cache_hit": False,
                    }
                )
        with platform.store.transaction() as uow:
            uow.conn.execute(insert(runs), run_rows)
            uow.conn.execute(insert(task_runs), task_rows)
    with platform.store.engine.connect() as conn:
        conn.execute(text("ANALYZE runs"))
        conn.execute(text("ANALYZE task_runs"))
        conn.commit()
    elapsed = time.perf_counter() - start
    platform.close()
    return elapsed


def tokens(database_url: str, home: Path) -> dict[str, str]:
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    platform = Platform.open(Settings(home=home, database_url=database_url, user="alice"))
    out = {user: platform.tokens.create("alice", user)[1] for user in ("alice", "vera")}
    platform.close()
    return out


def start_server(database_url: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTUDIO_")}
    env.update(MLSTUDIO_HOME=str(home), MLSTUDIO_DATABASE_URL=database_url, MLSTUDIO_USER="alice")
    exe = Path(sys.executable).with_name("mlstudio")
    proc = subprocess.Popen(
        [str(exe), "server", "--no-workers", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not answer /health within 60 s")


def measure(http: httpx.Client, params: dict[str, object], requests: int) -> dict[str, float]:
    for _ in range(20):  # warm-up: connections, caches, query plans
        http.get("/api/v1/runs", params=params).raise_for_status()
    times = []
    items = 0
    for _ in range(requests):
        start = time.perf_counter()
        response = http.get("/api/v1/runs", params=params)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        items = len(response.json()["items"])
    times.sort()
    return {
        "items": items,
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--active", type=int, default=100, help="How many of the runs are queued or running"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="TEXT",
        help="Run only the scenarios whose label contains TEXT (repeatable; default: all)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from mlstudio.testing.databases import fresh_postgres_database

    results: dict[str, object] = {
        "runs": args.runs,
        "active": args.active,
        "requests": args.requests,
    }
    with fresh_postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        results["insert_s"] = round(fill(url, home, args.runs, args.active), 2)
        secrets = tokens(url, home)
        proc, base = start_server(url, home)
        try:
            scenarios = {
                "admin, newest 50": ("alice", {}),
                "admin, state=failed": ("alice", {"state": "failed"}),
                "admin, state=queued": ("alice", {"state": "queued"}),
                "admin, workflow prefix team7/": ("alice", {"workflow": "team7/"}),
                "admin, user=user3 domain=production": (
                    "alice",
                    {"user": "user3", "domain": "production"},
                ),
                "viewer of one domain, newest 50": ("vera", {}),
                "admin, offset 50,000": ("alice", {"offset": 50_000}),
                "admin, limit 1000": ("alice", {"limit": 1000}),
            }
            if args.scenario:
                scenarios = {
                    label: spec
                    for label, spec in scenarios.items()
                    if any(text in label for text in args.scenario)
                }
            figures = {}
            for label, (user, params) in scenarios.items():
                headers = {"Authorization": f"Bearer {secrets[user]}"}
                with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                    figures[label] = measure(http, params, args.requests)
            results["scenarios"] = figures
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"GET /api/v1/runs on Postgres, {args.runs:,} runs ({args.active:,} queued or running; "
        f"{2 * args.runs:,} task runs, inserted in {results['insert_s']} s), "
        f"{args.requests} sequential requests each"
    )
    print(f"  {'scenario':<40} {'items':>5} {'p50':>8} {'p95':>8} {'p99':>8} {'mean':>8}")
    for label, f in results["scenarios"].items():  # type: ignore[union-attr]
        print(
            f"  {label:<40} {f['items']:>5} {f['p50_ms']:>6.1f}ms {f['p95_ms']:>6.1f}ms "
            f"{f['p99_ms']:>6.1f}ms {f['mean_ms']:>6.1f}ms"
        )
    default = results["scenarios"].get("admin, newest 50")  # type: ignore[union-attr]
    if default is not None:
        p95 = default["p95_ms"]
        verdict = "meets" if p95 < TARGET_P95_MS else "MISSES"
        print(f"  default page p95 {p95:.1f} ms {verdict} the {TARGET_P95_MS:.0f} ms target")


if __name__ == "__main__":
    main()
