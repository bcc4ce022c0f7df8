"""Experiment tracking benchmark (issue 13).

    python bench/bench_tracking.py [--points 100000] [--runs 100000] [--queries 50]

1. Logging overhead: one workflow whose task logs ``--points`` metric points through
   ``current().log_metric`` against the same task logging none, on SQLite (embedded engine,
   local executor), wall time of ``platform.runs.execute`` each; target < 2 s overhead.
2. ``runs search`` with a metric filter over ``--runs`` tracked runs on a fresh Postgres
   database (rows inserted in bulk through the repository): p50/p95 of
   ``metrics.auc > 0.8 and params.kind = 'gbm'`` ordered by ``metrics.auc``, 100 a page;
   target p95 < 100 ms.
3. The service's ``log_batch`` of 1,000 metrics on Postgres, p50/p95 per call (the MLflow
   API's ``runs/log-batch`` calls it; HTTP not included).
Prints the figures and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

FLOW = """
from mlstudio import task, workflow, current

@task
def train(points: int = 0) -> int:
    c = current()
    for i in range(points):
        c.log_metric("train/loss", 1.0 / (i + 1), step=i)
    return points

@workflow
def pipe(points: int = 0) -> int:
    return train(points)
"""


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_logging(points: int) -> None:
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings
    from mlstudio.testing.flows import working_copy
    from mlstudio.workflows.options import RunOptions

    with tempfile.TemporaryDirectory() as tmp:
        flow = working_copy(Path(tmp), FLOW, "pipe")
        platform = Platform.open(Settings(home=Path(tmp) / "home", user="bench"))
        times = {}
        for n in (0, points, 0, points):  # warm once, measure the second pair
            record = platform.runs.submit(
                "bench", flow, {"points": str(n)}, RunOptions(no_cache=True)
            )
            start = time.perf_counter()
            assert platform.runs.execute(record.id).state == "succeeded"
            times[n] = time.perf_counter() - start
        tracked = platform.tracking.resolve(record.id)[0]
        stored = len(platform.tracking.history(tracked, "train/loss"))
        platform.close()
    print(
        f"logging: task with 0 points {times[0]:.3f} s, with {points} points "
        f"{times[points]:.3f} s -> overhead {times[points] - times[0]:.3f} s "
        f"({stored} points stored) [target < 2 s]"
    )


def bench_search(runs: int, queries: int) -> None:
    from mlstudio.integrations.tracking.service import TrackingService
    from mlstudio.store.metadata import schema
    from mlstudio.store.metadata.engine import make_engine
    from mlstudio.store.metadata.store import MetadataStore
    from mlstudio.testing.databases import fresh_postgres_database

    with fresh_postgres_database() as url:
        engine = make_engine(url)
        schema.upgrade(engine)
        store = MetadataStore(engine)
        rng = random.Random(7)
        with store.transaction() as uow:
            exp = uow.tracking.create_experiment("bench", "bench")
        start = time.perf_counter()
        now = int(time.time() * 1000)
        for base in range(0, runs, 5000):
            rows, metrics, params = [], [], []
            for i in range(base, min(runs, base + 5000)):
                rid = f"{i:032x}"
                rows.append(
                    {
                        "id": rid,
                        "experiment_id": exp,
                        "name": f"r{i}",
                        "user": "bench",
                        "status": "FINISHED",
                        "start_time": now - i,
                        "end_time": now,
                        "lifecycle_stage": "active",
                        "source": "mlflow",
                        "cache_hit": False,
                    }
                )
                for key in ("auc", "loss"):
                    metrics.append(
                        {
                            "run_id": rid,
                            "key": key,
                            "value": rng.random(),
                            "is_nan": False,
                            "step": 0,
                            "timestamp": now,
                        }
                    )
                params.append({"run_id": rid, "key": "kind", "value": rng.choice(["gbm", "lr"])})
                params.append({"run_id": rid, "key": "depth", "value": str(rng.randint(1, 9))})
            with store.transaction() as uow:
                from sqlalchemy import insert

                from mlstudio.store.metadata.tables import (
                    tracking_latest_metrics,
                    tracking_params,
                    tracking_runs,
                )

                uow.conn.execute(insert(tracking_runs), rows)
                uow.conn.execute(insert(tracking_latest_metrics), metrics)
                uow.conn.execute(insert(tracking_params), params)
        with engine.begin() as conn:
            from sqlalchemy import text

            conn.execute(text("ANALYZE"))
        print(f"search: inserted {runs} tracked runs in {time.perf_counter() - start:.1f} s")
        service = TrackingService(store, None)  # type: ignore[arg-type]
        for label, flt in (
            ("metric+param filter", "metrics.auc > 0.8 and params.kind = 'gbm'"),
            ("selective metric filter", "metrics.auc > 0.999"),
        ):
            took = []
            for _ in range(queries):
                t = time.perf_counter()
                found, _ = service.search(filter=flt, order_by=["metrics.auc DESC"], limit=100)
                took.append((time.perf_counter() - t) * 1000)
            print(
                f"search [{label}] over {runs} runs (page of {len(found)}): "
                f"p50 {statistics.median(took):.1f} ms, p95 {_p(took, 0.95):.1f} ms "
                "[target p95 < 100 ms]"
            )
        run = service.create_run("bench", exp)
        took = []
        for n in range(20):
            batch = [(f"m{k}", rng.random(), n, None) for k in range(1000)]
            t = time.perf_counter()
            service.log_batch("bench", run["id"], metrics=batch)
            took.append((time.perf_counter() - t) * 1000)
        print(
            f"log_batch of 1000 metrics (service, Postgres): p50 {statistics.median(took):.1f} "
            f"ms, p95 {_p(took, 0.95):.1f} ms [target < 100 ms per call]"
        )
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    bench_logging(args.points)
    bench_search(args.runs, args.queries)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
