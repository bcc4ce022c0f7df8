"""The bench's fan-out + reduce on Prefect 3: ``make`` -> N x ``noop`` (``.map``) -> ``join``.

Run by ``bench/bench_engine.py --peers`` with its side venv's interpreter (bench/peers/README.md);
prints one JSON line: {"peer": "prefect", "version": ..., "tasks": N + 2, "seconds": [...]}.

    bench/peers/.venv-prefect/bin/python bench/peers/prefect_fanout.py --tasks 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import prefect
    from prefect import flow, task

    @task
    def make(n: int) -> list[int]:
        return list(range(n))

    @task
    def noop(x: int) -> int:
        return x

    @task
    def join(xs: list[int]) -> int:
        return len(xs)

    @flow
    def fan(n: int) -> int:
        items = make(n)
        results = [f.result() for f in noop.map(items)]
        return join(results)

    fan(2)  # the first flow run starts Prefect's local API: not part of the figure
    seconds = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        assert fan(args.tasks) == args.tasks
        seconds.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "peer": "prefect",
                "version": prefect.__version__,
                "tasks": args.tasks + 2,
                "seconds": seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
