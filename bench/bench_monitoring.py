"""One monitor evaluation (issue 17): 1M prediction-log rows x 20 features x 10 slices.

    python bench/bench_monitoring.py [--rows 1000000] [--features 20] [--slices 10]
                                     [--days 7] [--reference 100000] [--repeats 3] [--json]
                                     [--ground-truth]

Builds a throwaway SQLite home, imports a reference (``--reference`` rows) and a prediction log
(``--rows`` rows over ``--days`` days, a ``plan`` column with ``--slices`` values; half of the
features drift a little in one slice), declares a drift monitor over all features sliced by
``plan`` plus a revenue anomaly check, and times ``MonitorService.run`` from scratch (governed
read of both datasets from the content store, DuckDB period indexing, numpy binning, every
test, BH per window, the windows/alerts/audit transaction). Each repeat first forgets the
computed windows (a backfill without the run), so every repeat computes the same
``days x (slices + 1)`` drift windows. Prints min/median of ``--repeats``, the target
(< 10 s), ``os.getloadavg()`` before and after and ``os.cpu_count()``.

``--ground-truth`` also times, on its own, a second monitor with only the ground-truth check:
the log's ``prediction`` joined by ``request_id`` to a labels dataset (80 % of the requests
labelled), accuracy per window and ``plan`` slice against a baseline (``gt_min_s`` /
``gt_median_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

TARGET_S = 10.0


def _table(rng: np.random.Generator, n: int, features: int, slices: int, day0: datetime,
           days: int, drift: bool) -> object:  # fmt: skip
    import pyarrow as pa

    plan = rng.integers(0, slices, n)
    cols: dict[str, object] = {
        "ts": pa.array(
            np.datetime64(day0.replace(tzinfo=None), "s")
            + rng.integers(0, days * 86400, n).astype("timedelta64[s]")
        ),
        "plan": pa.array(np.char.add("p", plan.astype(str))),
        "amount": rng.gamma(2.0, 5.0, n),
    }
    for f in range(features):
        x = rng.normal(size=n)
        if drift and f % 2 == 0:
            x = x + np.where(plan == 0, 0.3, 0.0)
        cols[f"f{f:02d}"] = x
    cols["request_id"] = pa.array(np.char.add("r", np.arange(n).astype(str)))
    cols["prediction"] = 1.0 / (1.0 + np.exp(-np.asarray(cols["f01"])))
    return pa.table(cols)


def _labels(table: object, rng: np.random.Generator) -> object:
    """80 % of the requests labelled: y ~ Bernoulli(prediction)."""
    import pyarrow as pa

    p = np.asarray(table.column("prediction"))  # type: ignore[attr-defined]
    keep = rng.random(len(p)) < 0.8
    ids = table.column("request_id").to_numpy(zero_copy_only=False)[keep]  # type: ignore[attr-defined]
    return pa.table({"request_id": ids, "label": (rng.random(keep.sum()) < p[keep]).astype(int)})


def main() -> None:
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ground-truth", action="store_true")
    args = parser.parse_args()

    from mlstudio.integrations.monitoring.service import MonitorService
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    day0 = datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        p = Platform.open(Settings(home=home, database_url=f"sqlite:///{home}/db.sqlite",
                                   user="alice"))  # fmt: skip
        p.modules.create_namespace("alice", "bench")
        from mlstudio.data.catalog import DatasetService

        ds = DatasetService(p.store, p.cas)
        names = [f"f{f:02d}" for f in range(args.features)]
        classify = [f"{c}=internal" for c in ["ts", "plan", "amount", "request_id", "prediction",
                                              *names]]  # fmt: skip
        for name, n, drift in (("train", args.reference, False), ("preds", args.rows, True)):
            path = Path(tmp) / f"{name}.parquet"
            start = day0 - timedelta(days=30) if name == "train" else day0
            table = _table(rng, n, args.features, args.slices, start, args.days, drift)
            pq.write_table(table, path)
            ds.import_file("alice", path, f"bench/{name}", classify=classify)
            if name == "preds" and args.ground_truth:
                pq.write_table(_labels(table, rng), Path(tmp) / "labels.parquet")
                ds.import_file("alice", Path(tmp) / "labels.parquet", "bench/labels",
                               classify=["request_id=internal", "label=internal"])  # fmt: skip
        svc = MonitorService(p.store, p.cas)
        svc.add("alice", "bench/mon", source="bench/preds", time_column="ts",
                dimensions=["plan"], features=names, reference="bench/train",
                metrics=["revenue=sum:amount"], max_slices=args.slices)  # fmt: skip
        now = (day0 + timedelta(days=args.days)).isoformat()
        times, result = [], {}
        for _ in range(args.repeats):
            with p.store.transaction() as uow:
                row = uow.monitoring.get("bench/mon")
                uow.monitoring.delete_windows(row["id"])
            t0 = time.perf_counter()
            result = svc.run("alice", "bench/mon", now=now, emit_events=False)
            times.append(time.perf_counter() - t0)
        gt_times: list[float] = []
        if args.ground_truth:
            svc.add("alice", "bench/gt", source="bench/preds", time_column="ts",
                    dimensions=["plan"], max_slices=args.slices,
                    ground_truth={"labels": "bench/labels", "metric": "accuracy",
                                  "baseline": 0.7, "min_labels": 100})  # fmt: skip
            for _ in range(args.repeats):
                with p.store.transaction() as uow:
                    uow.monitoring.delete_windows(uow.monitoring.get("bench/gt")["id"])
                t0 = time.perf_counter()
                gt = svc.run("alice", "bench/gt", now=now, emit_events=False)
                gt_times.append(time.perf_counter() - t0)
            result = {**result, "gt_computed": gt["computed"]}
        p.close()
    extra = {"gt_min_s": round(min(gt_times), 3),
             "gt_median_s": round(statistics.median(gt_times), 3)} if gt_times else {}  # fmt: skip
    out = {
        "rows": args.rows, "features": args.features, "slices": args.slices, "days": args.days,
        "reference_rows": args.reference, "computed": result.get("computed"),
        "min_s": round(min(times), 3), "median_s": round(statistics.median(times), 3), **extra,
        "gt_computed": result.get("gt_computed"),
        "target_s": TARGET_S, "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count(),
    }  # fmt: skip
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>16}: {v}")


if __name__ == "__main__":
    main()
