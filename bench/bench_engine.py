"""Engine benchmarks (issue 3). Prints the figures quoted in the issue notes.

    python bench/bench_engine.py [--tasks 1000] [--chain 100] [--postgres] [--json]

- fan-out: one task makes a list of N items, N no-op tasks map over it, one task joins them;
  every state change is committed to the metadata DB. Reports wall time, tasks/s and
  engine overhead per task (wall time / tasks).
- cached re-run of the same workflow (every task a cache hit).
- linear chain of M no-op tasks: per-task latency (dispatch of one to start of the next).
- `mlstudio run` of a one-task workflow, command to exit (subprocess).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

WORKFLOWS = textwrap.dedent(
    """
    from mlstudio import task, workflow

    @task
    def make(n: int) -> list[int]:
        return list(range(n))

    @task
    def noop(x: int) -> int:
        return x

    @task
    def inc(x: int) -> int:
        return x + 1

    @task
    def join(xs: list[int]) -> int:
        return len(xs)

    @workflow
    def fan(n: int = 1000) -> int:
        return join(noop.map(x=make(n)))

    @workflow
    def chain(m: int = 100) -> int:
        v = 0
        for _ in range(m):
            v = inc(v)
        return v

    @workflow
    def one() -> int:
        return noop(1)
    """
)


def platform_for(home: Path, database_url: str | None):
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    return Platform.open(Settings(home=home, database_url=database_url, user="bench"))


def timed_run(p, workflow: str, params: dict) -> tuple[float, dict]:
    t0 = time.perf_counter()
    record = p.runs.submit("bench", workflow, params)
    p.runs.execute(record.id, executor=EXECUTOR)
    elapsed = time.perf_counter() - t0
    show = p.runs.show(record.id, actor="bench")
    assert show["state"] == "succeeded", show.get("error")
    return elapsed, show


def bench_backend(name: str, database_url: str | None, tasks: int, chain: int) -> dict:
    global EXECUTOR
    from mlstudio.workflows.executors.local import LocalExecutor

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        flow = Path(tmp) / "flows" / "bench_flows.py"
        flow.parent.mkdir()
        flow.write_text(WORKFLOWS)
        p = platform_for(home, database_url)
        EXECUTOR = LocalExecutor(p.settings.max_workers)
        EXECUTOR.start()
        try:
            timed_run(p, f"{flow}:one", {})  # warm the workers and the code cache
            fan_s, show = timed_run(p, f"{flow}:fan", {"n": str(tasks)})
            total = sum(1 for t in show["tasks"] if t["kind"] == "task")
            cached_s, show2 = timed_run(p, f"{flow}:fan", {"n": str(tasks)})
            hits = sum(1 for t in show2["tasks"] if t["state"] == "cached")
            chain_s, show3 = timed_run(p, f"{flow}:chain", {"m": str(chain)})
            fresh_chain = sum(
                1 for t in show3["tasks"] if t["state"] == "succeeded" and t["kind"] == "task"
            )
            assert fresh_chain == chain, f"{fresh_chain} of {chain} chain tasks ran"
        finally:
            EXECUTOR.shutdown()
            p.close()
    return {
        "backend": name,
        "fanout_tasks": total,
        "fanout_s": round(fan_s, 3),
        "fanout_tasks_per_s": round(total / fan_s, 1),
        "overhead_ms_per_task": round(fan_s / total * 1000, 3),
        "cached_rerun_s": round(cached_s, 3),
        "cached_hits": hits,
        "chain_tasks": chain,
        "chain_s": round(chain_s, 3),
        "chain_ms_per_task": round(chain_s / max(fresh_chain, 1) * 1000, 2),
    }


def bench_cli_one(repeats: int = 5) -> float:
    exe = Path(sys.executable).with_name("mlstudio")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        flow = Path(tmp) / "flows" / "bench_flows.py"
        flow.parent.mkdir()
        flow.write_text(WORKFLOWS)
        env = {**os.environ, "MLSTUDIO_HOME": str(Path(tmp) / "home"), "MLSTUDIO_USER": "bench"}
        env.pop("MLSTUDIO_DATABASE_URL", None)
        subprocess.run([str(exe), "init"], env=env, capture_output=True, check=True)
        for i in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(
                [str(exe), "run", f"{flow}:one", "--no-cache", "--json"],
                env=env,
                capture_output=True,
                check=True,
            )
            times.append(time.perf_counter() - t0)
            del i
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=100)
    parser.add_argument("--postgres", action="store_true", help="also run on Postgres")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [bench_backend("sqlite", None, args.tasks, args.chain)]
    if args.postgres:
        from mlstudio.testing.databases import fresh_postgres_database

        with fresh_postgres_database() as url:
            results.append(bench_backend("postgres", url, args.tasks, args.chain))
    cli_s = bench_cli_one()
    if args.json:
        print(json.dumps({"backends": results, "cli_one_task_run_s": round(cli_s, 3)}, indent=2))
        return
    print(
        f"{'backend':10} {'fan-out':>10} {'tasks/s':>9} {'ms/task':>8} {'cached':>8} {'chain ms/task':>14}"
    )
    for r in results:
        print(
            f"{r['backend']:10} {r['fanout_s']:>9.3f}s {r['fanout_tasks_per_s']:>9.1f} {r['overhead_ms_per_task']:>8.3f}"
            f" {r['cached_rerun_s']:>7.3f}s {r['chain_ms_per_task']:>14.2f}"
        )
    print(f"targets: < 1 ms/task on the {args.tasks}-task fan-out; cached re-run < 0.5 s")
    print(f"`mlstudio run` of a one-task workflow, command to exit: {cli_s:.3f} s (target < 1 s)")


EXECUTOR = None

if __name__ == "__main__":
    main()
