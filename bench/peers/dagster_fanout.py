"""The bench's fan-out + reduce on Dagster: ``make`` -> N x ``noop`` (dynamic map) -> ``join``.

Run by ``bench/bench_engine.py --peers`` with the side venv's interpreter (bench/peers/README.md);
prints one JSON line: {"peer": "dagster", "version": ..., "tasks": N, "seconds": [...]}.

    bench/peers/.venv/bin/python bench/peers/dagster_fanout.py --tasks 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time


def build(n: int):
    from dagster import DynamicOut, DynamicOutput, In, job, op

    @op(out=DynamicOut(int))
    def make():
        for i in range(n):
            yield DynamicOutput(i, mapping_key=str(i))

    @op
    def noop(x: int) -> int:
        return x

    @op(ins={"xs": In(list)})
    def join(xs: list) -> int:
        return len(xs)

    @job
    def fan():
        join(make().map(noop).collect())

    return fan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import dagster
    from dagster import DagsterInstance

    job_def = build(args.tasks)
    seconds = []
    with DagsterInstance.ephemeral() as instance:
        build(2).execute_in_process(instance=instance)  # warm: imports, first-run setup
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = job_def.execute_in_process(instance=instance)
            seconds.append(time.perf_counter() - t0)
            assert result.success and result.output_for_node("join") == args.tasks
    print(
        json.dumps(
            {
                "peer": "dagster",
                "version": dagster.__version__,
                "tasks": args.tasks + 2,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
