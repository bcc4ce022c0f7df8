"""Queue and worker benchmarks (issue 5). Prints the figures quoted in the issue notes.

    python bench/bench_queue.py [--tasks 1000] [--workers 4] [--latency-runs 20] [--json]

Everything runs on a fresh Postgres database (MLSTUDIO_TEST_POSTGRES_URL or the local one):

- claims/s: ``--workers`` processes claim no-op rows from the queue and complete them
  (``QueueRepository.claim`` + ``complete``, one row per claim, then eight per claim): the
  queue's own throughput, without running anything.
- submit-to-start latency of a one-task run: from ``RunService.submit`` returning (the run is
  recorded) to the task's first line running on a worker. Warm: a driver and a worker of the
  pool already up, the module's code already imported. Cold: the worker process of the pool is
  started when the run is submitted.
- the fan-out: one task makes N items, N no-op tasks map over them, one joins them, through a
  driver and ``--workers`` real ``mlstudio worker`` processes (one slot each).
- the same fan-out through a real ``mlstudio server``: the workflow is pushed as a module, the
  run is started with ``POST /api/v1/workflows/{ref}/runs`` and followed with
  ``GET /api/v1/runs/{id}``; the server's run driver drives it on the same workers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from mlstudio.workflows.options import RunOptions

WORKFLOWS = textwrap.dedent(
    """
    import time

    from mlstudio import task, workflow

    @task
    def make(n: int) -> list[int]:
        return list(range(n))

    @task
    def noop(x: int) -> int:
        return x

    @task
    def join(xs: list[int]) -> int:
        return len(xs)

    @task
    def stamp(i: int) -> float:
        return time.time()

    @workflow
    def fan(n: int = 1000) -> int:
        return join(noop.map(x=make(n)))

    @workflow
    def one(i: int = 0) -> float:
        return stamp(i)
    """
)
MLSTUDIO = str(Path(sys.executable).with_name("mlstudio"))


def platform_for(home: Path, url: str):
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    return Platform.open(Settings(home=home, database_url=url, user="bench"))


# --- claims per second ------------------------------------------------------------------------
def _claimer(url: str, name: str, batch: int, ready, go, out) -> None:
    from mlstudio.store.metadata.engine import make_engine
    from mlstudio.store.metadata.store import MetadataStore

    store = MetadataStore(make_engine(url))
    ready.set()
    go.wait()
    claimed = 0
    while True:
        with store.transaction() as uow:
            rows = uow.queue.claim("bench", name, batch, 30)
            if rows:
                uow.queue.complete(name, {r.id: {"status": "ok"} for r in rows})
        if not rows:
            break
        claimed += len(rows)
    out.put(claimed)
    store.engine.dispose()


def bench_claims(url: str, workers: int, rows: int, batch: int, p) -> dict:
    namespaces = ["a", "b", "c", "d"]
    with p.store.transaction() as uow:
        uow.queue.enqueue(
            [
                {
                    "run_id": "bench",
                    "task_run_id": 10_000_000 * batch + i,
                    "attempt": 1,
                    "pool": "bench",
                    "namespace": namespaces[i % len(namespaces)],
                    "priority": 0,
                    "dispatch": {"noop": i},
                }
                for i in range(rows)
            ]
        )
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    readies = [ctx.Event() for _ in range(workers)]
    procs = [
        ctx.Process(target=_claimer, args=(url, f"c{i}", batch, readies[i], go, out))
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    for ready in readies:
        ready.wait(60)
    t0 = time.perf_counter()
    go.set()
    counts = [out.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    assert sum(counts) == rows, (counts, rows)
    return {
        "batch": batch,
        "rows": rows,
        "seconds": round(elapsed, 3),
        "claims_per_s": round(rows / elapsed, 1),
        "per_worker": counts,
    }


# --- processes --------------------------------------------------------------------------------
class Procs:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.procs = env, logs, []

    def spawn(self, name: str, *args: str, command: str = "worker") -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - closed at exit
        proc = subprocess.Popen(
            [MLSTUDIO, command, *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append((proc, log))
        return proc

    def close(self) -> None:
        for proc, _log in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, log in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def wait_live(p, pool: str, count: int, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        with p.store.read() as uow:
            if len(uow.queue.live_workers(30, pool)) >= count:
                return
        assert time.monotonic() < deadline, f"workers of pool {pool} did not come up"
        time.sleep(0.05)


def wait_run(p, run_id: str, deadline_s: float = 600) -> dict:
    deadline = time.monotonic() + deadline_s
    while True:
        run = p.runs.get(run_id)
        if run.state in ("succeeded", "failed", "cancelled"):
            shown = p.runs.show(run_id, actor="bench")
            assert shown["state"] == "succeeded", shown.get("error")
            return shown
        assert time.monotonic() < deadline, f"run {run_id} still {run.state}"
        time.sleep(0.005)


def latency(p, flow: Path, pool: str, i: int, start_worker=None) -> float:
    record = p.runs.submit(
        "bench", f"{flow}:one", {"i": str(i)}, RunOptions(pool=pool, no_cache=True)
    )
    submitted = time.time()
    if start_worker is not None:
        start_worker()
    shown = wait_run(p, record.id)
    return shown["output_value"] - submitted


def fan_through_server(p, procs: Procs, tmp: Path, tasks: int) -> dict:
    """The fan-out pushed as module bench/flows, started and followed over the REST API of a
    real ``mlstudio server`` whose run driver drives it on the ``fan`` pool's workers."""
    import httpx

    module = tmp / "module"
    module.mkdir()
    (module / "module.toml").write_text('[module]\nname = "bench/flows"\nrequirements = []\n')
    (module / "flows.py").write_text(WORKFLOWS)
    for args in (["namespace", "create", "bench"], ["module", "push", str(module), "--no-tests"]):
        subprocess.run([MLSTUDIO, *args, "--json"], env=procs.env, check=True, capture_output=True)
    _record, token = p.tokens.create("bench", "bench", ttl_days=1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs.spawn("server", "--port", str(port), command="server")
    http = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if http.get("/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not answer /health"
        time.sleep(0.05)
    t0 = time.perf_counter()
    answer = http.post(
        "/api/v1/workflows/bench/flows/fan:latestAlpha/runs",
        json={"params": {"n": tasks}, "pool": "fan", "no_cache": True},
    )
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["id"]
    while True:
        shown = http.get(f"/api/v1/runs/{run_id}").json()
        if shown["state"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.01)
    seconds = time.perf_counter() - t0
    http.close()
    assert shown["state"] == "succeeded", shown.get("error")
    total = sum(1 for t in shown["tasks"] if t["kind"] == "task")
    return {
        "tasks": total,
        "seconds": round(seconds, 3),
        "tasks_per_s": round(total / seconds, 1),
        "ms_per_task": round(seconds / total * 1000, 2),
    }


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- the whole bench --------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--claims", type=int, default=4000)
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from mlstudio.testing.databases import fresh_postgres_database

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres_database() as url:
        home = Path(tmp) / "home"
        flow = Path(tmp) / "flows" / "bench_flows.py"
        flow.parent.mkdir()
        flow.write_text(WORKFLOWS)
        logs = Path(tmp) / "logs"
        logs.mkdir()
        p = platform_for(home, url)
        env = {
            **os.environ,
            "MLSTUDIO_HOME": str(home),
            "MLSTUDIO_DATABASE_URL": url,
            "MLSTUDIO_USER": "bench",
        }
        procs = Procs(env, logs)
        try:
            results["claims"] = [
                bench_claims(url, args.workers, args.claims, 1, p),
                bench_claims(url, args.workers, args.claims, 8, p),
            ]
            driver = procs.spawn("driver", "--drive", "--concurrency", "0")
            procs.spawn("warm", "--pool", "warm", "--concurrency", "1")
            wait_live(p, "warm", 1)
            latency(p, flow, "warm", -1)  # imports the module's code in the pool's process
            warm = [latency(p, flow, "warm", i) for i in range(args.latency_runs)]
            cold = []
            for i in range(args.cold_runs):
                pool = f"cold{i}"
                cold.append(
                    latency(
                        p,
                        flow,
                        pool,
                        1000 + i,
                        lambda pool=pool: procs.spawn(pool, "--pool", pool, "--concurrency", "1"),
                    )
                )
            results["latency_ms"] = {
                "warm_p50": round(statistics.median(warm) * 1000, 1),
                "warm_p95": round(pct(warm, 0.95) * 1000, 1),
                "warm_runs": len(warm),
                "cold_p50": round(statistics.median(cold) * 1000, 1),
                "cold_runs": len(cold),
            }
            for i in range(args.workers):
                procs.spawn(f"fan{i}", "--pool", "fan", "--concurrency", "1")
            wait_live(p, "fan", args.workers)
            t0 = time.perf_counter()
            record = p.runs.submit(
                "bench", f"{flow}:fan", {"n": str(args.tasks)}, RunOptions(pool="fan")
            )
            shown = wait_run(p, record.id)
            fan_s = time.perf_counter() - t0
            total = sum(1 for t in shown["tasks"] if t["kind"] == "task")
            with p.store.read() as uow:
                rows = uow.queue.rows_of_run(record.id)
            per_worker: dict[str, int] = {}
            for r in rows:
                per_worker[r.worker_id] = per_worker.get(r.worker_id, 0) + 1
            results["fanout"] = {
                "tasks": total,
                "workers": args.workers,
                "seconds": round(fan_s, 3),
                "tasks_per_s": round(total / fan_s, 1),
                "ms_per_task": round(fan_s / total * 1000, 2),
                "per_worker": sorted(per_worker.values()),
            }
            os.killpg(driver.pid, signal.SIGTERM)  # from here on the server's driver drives
            driver.wait(timeout=60)
            results["fanout_server"] = fan_through_server(p, procs, Path(tmp), args.tasks)
        finally:
            procs.close()
            p.close()
    results["load_average"] = [round(x, 2) for x in os.getloadavg()]
    results["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"machine: {results['cpus']} CPUs, load average {results['load_average']}")
    print(f"Postgres, {args.workers} claimers, no-op rows (claim + complete per transaction):")
    for c in results["claims"]:
        print(
            f"  {c['batch']} per claim: {c['claims_per_s']:>8.1f} claims/s"
            f"  ({c['rows']} rows in {c['seconds']:.2f} s; per claimer {c['per_worker']})"
        )
    lat = results["latency_ms"]
    print(
        f"submit-to-start, one-task run: warm pool p50 {lat['warm_p50']} ms, p95 {lat['warm_p95']} ms"
        f" ({lat['warm_runs']} runs; target < 100 ms); cold start (new worker) p50"
        f" {lat['cold_p50']} ms ({lat['cold_runs']} runs)"
    )
    fan = results["fanout"]
    print(
        f"fan-out of {fan['tasks']} tasks through a driver and {fan['workers']} workers:"
        f" {fan['seconds']:.2f} s, {fan['tasks_per_s']} tasks/s, {fan['ms_per_task']} ms/task"
        f" (tasks per worker {fan['per_worker']})"
    )
    api = results["fanout_server"]
    print(
        f"the same fan-out through `mlstudio server` (POST a run, GET it until done):"
        f" {api['seconds']:.2f} s, {api['tasks_per_s']} tasks/s, {api['ms_per_task']} ms/task"
    )


if __name__ == "__main__":
    main()
