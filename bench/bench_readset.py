"""The cost of the task sandbox and read tracking (issue 10.1). Prints the figures quoted.

    python bench/bench_readset.py [--tasks 1000] [--files 1000] [--repeats 3] [--json]

- fan-out of N no-op tasks (the engine bench's workflow) with the sandbox on (the default) and
  off (this bench only: the engine is given no sandbox policy), alternating (on/off, then
  off/on), median of ``--repeats``; the overhead is on / off - 1. Then the same with every task reading one 1 KB
  file (what read tracking records and hashes).
- a cache hit of one task whose read set holds ``--files`` files: the hit with the files
  unchanged (stat only), and after touching every file with the same content (each is hashed).
- the worker-side cost alone, in this process (no engine, no database): the sandbox switched
  on around a no-op and around a task that reads one 1 KB file, with the read set built; and
  ``Runtime.execute`` of a real no-op dispatch (captured from the fan-out) with and without
  its sandbox policy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from mlstudio.workflows.options import RunOptions

WORKFLOWS = textwrap.dedent(
    """
    from mlstudio import task, workflow

    DATA = @DATA@

    @task
    def make(n: int) -> list[int]:
        return list(range(n))

    @task
    def noop(x: int) -> int:
        return x

    @task
    def reads_one(x: int) -> int:
        with open(f"{DATA}/one/{x % 100}.txt") as handle:
            return len(handle.read()) + x

    @task
    def join(xs: list[int]) -> int:
        return len(xs)

    @task
    def reads_many(n: int) -> int:
        total = 0
        for i in range(n):
            with open(f"{DATA}/many/{i}.txt") as handle:
                total += len(handle.read())
        return total

    @workflow
    def fan(n: int = 1000) -> int:
        return join(noop.map(x=make(n)))

    @workflow
    def fan_reading(n: int = 1000) -> int:
        return join(reads_one.map(x=make(n)))

    @workflow
    def many(n: int = 1000) -> int:
        return reads_many(n)
    """
)


def run(p: Any, executor: Any, workflow: str, params: dict, no_cache: bool) -> tuple[float, dict]:
    t0 = time.perf_counter()
    record = p.runs.submit("bench", workflow, params, RunOptions(no_cache=no_cache))
    p.runs.execute(record.id, executor=executor)
    elapsed = time.perf_counter() - t0
    shown = p.runs.show(record.id, actor="bench")
    assert shown["state"] == "succeeded", shown.get("error")
    return elapsed, shown


def sandbox_switch(on: bool) -> None:
    """The engine's sandbox policy: the real one, or none (this bench's "off")."""
    from mlstudio.workflows import sandbox, service

    service.sandbox_policy_for = sandbox.policy_for if on else (lambda settings: None)


def worker_side(folder: Path, n: int = 2000) -> dict[str, float]:
    """Microseconds per task of confine + scratch + read set, on vs off, in this process."""
    from mlstudio.settings import Settings
    from mlstudio.workflows import sandbox, scratch
    from mlstudio.workflows.cache import readset

    policy = sandbox.policy_for(Settings(home=folder / "home"))
    one = folder / "one" / "0.txt"

    def noop() -> int:
        return 1

    def read_one() -> int:
        with open(one) as handle:
            return len(handle.read())

    def per_task(fn: Any, on: bool) -> float:
        t0 = time.perf_counter()
        for i in range(n):
            place = scratch.Scratch(policy["scratch"], "run_bench", "t", i)
            with (
                scratch.as_tmpdir(place),
                sandbox.confine(
                    policy if on else None,
                    code_roots=(str(folder / "code"),),
                    scratch=place.path,
                    on_scratch=place.ensure,
                ) as scope,
            ):
                fn()
            readset.finish(scope)
            place.remove()
        return (time.perf_counter() - t0) / n * 1e6

    out: dict[str, float] = {}
    for name, fn in (("noop", noop), ("read_one", read_one)):
        on = statistics.median(per_task(fn, True) for _ in range(3))
        off = statistics.median(per_task(fn, False) for _ in range(3))
        out[f"{name}_on_us"], out[f"{name}_off_us"] = round(on, 1), round(off, 1)
    return out


def runtime_execute(dispatch: Any, n: int = 1000) -> dict[str, float]:
    """Microseconds per ``Runtime.execute`` of one dispatch, with and without its policy."""
    import copy

    from mlstudio.workflows import sandbox
    from mlstudio.workflows.runtime import Runtime

    sandbox.install()
    runtime = Runtime()
    off = copy.deepcopy(dispatch)
    off.sandbox = None
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(3):
        for on, d in ((True, dispatch), (False, off)):
            runtime.execute(d)
            t0 = time.perf_counter()
            for _ in range(n):
                assert runtime.execute(d).ok
            times[on].append((time.perf_counter() - t0) / n * 1e6)
    return {
        "execute_on_us": round(statistics.median(times[True]), 1),
        "execute_off_us": round(statistics.median(times[False]), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from mlstudio.platform import Platform
    from mlstudio.settings import Settings
    from mlstudio.workflows.executors.local import LocalExecutor

    out: dict[str, Any] = {"tasks": args.tasks, "files": args.files}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        (data / "one").mkdir(parents=True)
        (data / "many").mkdir()
        for i in range(100):
            (data / "one" / f"{i}.txt").write_text("x" * 1024)
        for i in range(args.files):
            (data / "many" / f"{i}.txt").write_text(f"file {i}\n" * 8)
        flow = root / "flows" / "bench_readset.py"
        flow.parent.mkdir()
        flow.write_text(WORKFLOWS.replace("@DATA@", repr(str(data))))
        p = Platform.open(Settings(home=root / "home", user="bench"))
        executor = LocalExecutor(p.settings.max_workers)
        executor.start()
        captured: list[Any] = []
        submit = executor.submit

        def capture(dispatch: Any) -> None:
            if dispatch.task == "noop" and not captured:
                import copy

                captured.append(copy.deepcopy(dispatch))
            submit(dispatch)

        executor.submit = capture  # type: ignore[method-assign]
        try:
            run(p, executor, f"{flow}:fan", {"n": "10"}, True)  # warm workers and code
            for name in ("fan", "fan_reading"):
                times: dict[bool, list[float]] = {True: [], False: []}
                for repeat in range(args.repeats):
                    for on in (True, False) if repeat % 2 == 0 else (False, True):
                        sandbox_switch(on)
                        took, _ = run(p, executor, f"{flow}:{name}", {"n": str(args.tasks)}, True)
                        times[on].append(took)
                sandbox_switch(True)
                on_s, off_s = statistics.median(times[True]), statistics.median(times[False])
                out[name] = {
                    "sandbox_on_s": round(on_s, 3),
                    "sandbox_off_s": round(off_s, 3),
                    "overhead_pct": round((on_s / off_s - 1) * 100, 1),
                    "on_runs_s": [round(t, 3) for t in times[True]],
                    "off_runs_s": [round(t, 3) for t in times[False]],
                }
            miss_s, shown = run(p, executor, f"{flow}:many", {"n": str(args.files)}, False)
            [task] = [t for t in shown["tasks"] if t["node"] == "reads_many"]
            assert task["reads"]["files"] == args.files, task
            hit_s, shown = run(p, executor, f"{flow}:many", {"n": str(args.files)}, False)
            assert {t["state"] for t in shown["tasks"]} == {"cached"}
            for i in range(args.files):  # same content, new times: each file is hashed
                (data / "many" / f"{i}.txt").write_text(f"file {i}\n" * 8)
            touched_s, shown = run(p, executor, f"{flow}:many", {"n": str(args.files)}, False)
            assert {t["state"] for t in shown["tasks"]} == {"cached"}
            from mlstudio.workflows.cache import readset

            with p.store.read() as uow:
                [entry] = uow.runs.cache_lookup([task["cache_key"]]).values()
            t0 = time.perf_counter()
            assert readset.validate(entry.read_set) == []
            validate_s = time.perf_counter() - t0
            out["worker_side"] = worker_side(data)
            out["worker_side"].update(runtime_execute(captured[0]))
            out["read_set_hit"] = {
                "miss_s": round(miss_s, 3),
                "hit_s": round(hit_s, 3),
                "hit_after_touch_s": round(touched_s, 3),
                "validate_unchanged_ms": round(validate_s * 1000, 2),
            }
        finally:
            executor.shutdown()
            p.close()
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for name, label in (("fan", "no-op"), ("fan_reading", "each reads a 1 KB file")):
        r = out[name]
        print(
            f"{args.tasks}-task fan-out ({label}): sandbox on {r['sandbox_on_s']:.3f} s, "
            f"off {r['sandbox_off_s']:.3f} s -> overhead {r['overhead_pct']:+.1f}% "
            f"(median of {args.repeats}; target < 5%)"
        )
    w = out["worker_side"]
    print(
        f"worker side per task (in process): no-op {w['noop_on_us']:.0f} µs on vs "
        f"{w['noop_off_us']:.0f} µs off; reading one 1 KB file {w['read_one_on_us']:.0f} µs on "
        f"vs {w['read_one_off_us']:.0f} µs off (the difference: recording, stat, sha256); "
        f"Runtime.execute of a no-op dispatch {w['execute_on_us']:.0f} µs on vs "
        f"{w['execute_off_us']:.0f} µs off"
    )
    h = out["read_set_hit"]
    print(
        f"cache hit with a {args.files}-file read set: run {h['hit_s']:.3f} s "
        f"(validation alone {h['validate_unchanged_ms']:.1f} ms, stat only); "
        f"after touching every file {h['hit_after_touch_s']:.3f} s (each hashed); "
        f"the miss that recorded it {h['miss_s']:.3f} s"
    )


if __name__ == "__main__":
    main()
