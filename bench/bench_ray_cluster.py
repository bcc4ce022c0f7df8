"""Ray cluster benchmark (issue 20, item 3): a real two-node Ray cluster on this machine
(``ray start --head`` + a worker node, one CPU each), the same workflows on it and locally.

    python bench/bench_ray_cluster.py [--tasks 200] [--repeats 3] [--json]

- first task: ``mlstudio run`` of a one-task workflow, from the run's start to its task's
  start (stored task-run timestamps), on the cluster with a warm actor pool (the pool's
  actors already up from an earlier run), on a cold one (plain Ray tasks: new worker
  processes for the run), and on the local executor; then runs driven by one process that
  stays connected to the cluster (as ``mlstudio server`` would), on the warm pool;
- fan-out: ``--tasks`` no-op tasks plus make and reduce, wall time per task, on the warm pool
  and on the local executor.

Each figure: min / median of ``--repeats``, with the 1-minute load average and the cores.
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
from datetime import datetime
from pathlib import Path

FLOW = textwrap.dedent(
    """
    from mlstudio import task, workflow

    @task
    def one() -> int:
        return 1

    @task
    def make(n: int) -> list[int]:
        return list(range(n))

    @task
    def noop(x: int) -> int:
        return x

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    @workflow
    def single() -> int:
        return one()

    @workflow
    def fan(n: int = 200) -> int:
        return total(noop.map(x=make(n)))
    """
)


def run(env: dict[str, str], flow: Path, name: str, *args: str) -> dict:
    command = [str(Path(sys.executable).with_name("mlstudio")), "run", f"{flow}:{name}",
               "--no-cache", "--json", *args]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def first_task_s(shown: dict) -> float:
    task = next(t for t in shown["tasks"] if t["node"] == "one")
    started = datetime.fromisoformat(shown["started_at"])
    return (datetime.fromisoformat(task["started_at"]) - started).total_seconds()


def in_process(env: dict[str, str], flow: Path, repeats: int) -> list[float]:
    """First-task start of runs driven by this process, already connected to the cluster (what
    a long-lived driver such as ``mlstudio server`` sees): the first run connects, the next
    ``repeats`` are measured."""
    os.environ.update(env)
    from mlstudio.app.embedded import embedded_studio
    from mlstudio.workflows.options import RunOptions

    out = []
    with embedded_studio() as studio:
        for i in range(repeats + 1):
            record = studio.runs.start(
                f"{flow}:single", {}, RunOptions(executor="ray", no_cache=True)
            )
            shown = studio.runs.wait(record["id"])
            if i:
                out.append(first_task_s(shown))
    return out


def line(name: str, values: list[float], unit: str, loads: list[float]) -> dict:
    print(
        f"{name}: min {min(values):.4g} {unit}, median {statistics.median(values):.4g} {unit}"
        f"  (load {min(loads):.2f}-{max(loads):.2f}, {os.cpu_count()} cores)"
    )
    return {"figure": name, "unit": unit, "min": min(values), "median": statistics.median(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from mlstudio.testing.ray_cluster import ray_cluster

    work = Path(tempfile.mkdtemp(prefix="mlstudio-bench-ray-"))
    flow = work / "flow.py"
    flow.write_text(FLOW)
    base = {**os.environ, "MLSTUDIO_HOME": str(work / "home"), "RAY_AUTH_MODE": "disabled"}
    base.pop("MLSTUDIO_DATABASE_URL", None)
    subprocess.run([str(Path(sys.executable).with_name("mlstudio")), "init"], env=base,
                   check=True, capture_output=True)  # fmt: skip
    figures: list[dict] = []
    with ray_cluster(base, workers=1, cpus=1) as cluster:
        on_cluster = {**base, "MLSTUDIO_RAY_ADDRESS": cluster.address}
        warm = {**on_cluster, "MLSTUDIO_RAY_POOL": "bench"}
        run(warm, flow, "single", "--executor", "ray")  # the pool's actors come up here
        timings: dict[str, list[float]] = {"warm": [], "cold": [], "local": []}
        loads = [os.getloadavg()[0]]
        for _ in range(args.repeats):
            timings["warm"].append(first_task_s(run(warm, flow, "single", "--executor", "ray")))
            timings["cold"].append(
                first_task_s(run(on_cluster, flow, "single", "--executor", "ray"))
            )
            timings["local"].append(first_task_s(run(base, flow, "single")))
            loads.append(os.getloadavg()[0])
        timings["driver"] = in_process(warm, flow, args.repeats)
        for name, label in (("warm", "warm pool"), ("cold", "cold (plain Ray tasks)"),
                            ("local", "local executor"),
                            ("driver", "warm pool, driver connected (as a server)")):  # fmt: skip
            figures.append(line(f"first task start, {label}", timings[name], "s", loads))
        fan: dict[str, list[float]] = {"warm": [], "local": []}
        loads = [os.getloadavg()[0]]
        n = str(args.tasks)
        for _ in range(args.repeats):
            for name, env, extra in (("warm", warm, ["--executor", "ray"]), ("local", base, [])):
                started = time.perf_counter()
                run(env, flow, "fan", "-p", f"n={n}", *extra)
                fan[name].append((time.perf_counter() - started) / (args.tasks + 2) * 1000)
            loads.append(os.getloadavg()[0])
        a = line(f"fan-out {n}, warm pool, per task", fan["warm"], "ms", loads)
        b = line(f"fan-out {n}, local executor, per task", fan["local"], "ms", loads)
        print(f"  warm pool / local: {a['median'] / b['median']:.2f}x")
        figures += [a, b]
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
