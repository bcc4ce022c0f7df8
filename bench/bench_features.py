"""Feature store benchmarks: point-in-time training set, materialization to Redis, online reads.

Run with ``PYTHONPATH=src python bench/bench_features.py [--labels N] [--keys N] [--json]``
(``--quick`` for a small run: 50k labels, 20k keys). Full size: a training set of 1M label rows
x 20 features from 4 views (time, peak RSS), materializing 1M keys to Redis (rows/s, peak RSS),
and online reads of 1 key x 20 features and of 100 keys (p50/p99) from Redis on 127.0.0.1.

It measures the feature store's own code paths (``pit.join``, ``materialize``, the Redis store
and ``OnlineReader``) on generated data; the governed wrappers add one metadata read each.
Peak RSS is the process's high-water mark after each phase (it only grows). Benchmarks print,
tests never assert times.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from datetime import datetime, timedelta
from typing import Any

VIEWS = 4
FEATURES_PER_VIEW = 5


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _view_table(view: int, keys: int, rows_per_key: int, seed: int) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    n = keys * rows_per_key
    base = np.datetime64("2024-01-01T00:00:00", "us")
    event = base + rng.integers(0, 180 * 86400, n).astype("timedelta64[s]")
    known = event + rng.integers(0, 3 * 86400, n).astype("timedelta64[s]")
    columns: dict[str, Any] = {
        "customer_id": pa.array(np.arange(n) % keys, pa.int64()),
        "event_time": pa.array(event),
        "known_at": pa.array(known),
    }
    for f in range(FEATURES_PER_VIEW):
        columns[f"v{view}_f{f}"] = pa.array(rng.random(n))
    return pa.table(columns)


def _views(keys: int, rows_per_key: int) -> list[Any]:
    from mlstudio.integrations.features.pit import ViewInput

    out = []
    for v in range(VIEWS):
        table = _view_table(v, keys, rows_per_key, seed=v)
        out.append(
            ViewInput(
                alias=f"fv{v}",
                table=table,
                join_keys=[("customer_id", "int64")],
                event_time="event_time",
                knowledge_time="known_at" if v % 2 == 0 else None,
                max_age_s=90 * 86400,
                features=[
                    (f"v{v}_f{f}", "float64", f"v{v}_f{f}") for f in range(FEATURES_PER_VIEW)
                ],
            )
        )
    return out


def bench_training_set(labels: int, keys: int) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa

    from mlstudio.integrations.features.pit import join

    views = _views(keys, rows_per_key=3)
    rng = np.random.default_rng(99)
    base = np.datetime64("2024-02-01T00:00:00", "us")
    entities = pa.table(
        {
            "customer_id": pa.array(rng.integers(0, keys, labels), pa.int64()),
            "label_time": pa.array(
                base + rng.integers(0, 150 * 86400, labels).astype("timedelta64[s]")
            ),
            "label": pa.array(rng.integers(0, 2, labels), pa.int8()),
        }
    )
    start = time.perf_counter()
    table = join(entities, views, "label_time")
    seconds = time.perf_counter() - start
    features = table.num_columns - entities.num_columns
    filled = sum(table.column(c).null_count for c in table.column_names[3:])
    return {
        "labels": labels,
        "features": features,
        "views": VIEWS,
        "seconds": round(seconds, 2),
        "null_fraction": round(filled / (labels * features), 3),
        "peak_rss_mib": round(_rss_mib()),
    }


def bench_redis(keys: int, reads: int) -> dict[str, Any]:
    from mlstudio.integrations.features.materialize import materialize
    from mlstudio.integrations.features.online import RedisOnlineStore
    from mlstudio.integrations.features.pit import ViewInput
    from mlstudio.integrations.features.service import OnlineReader

    url = os.environ.get("MLSTUDIO_REDIS_URL", "redis://127.0.0.1:6379/15")
    store = RedisOnlineStore(url)
    table = _view_table(0, keys, rows_per_key=1, seed=7)
    # 20 features on one view: the 1-key x 20-feature read
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(3)
    for f in range(FEATURES_PER_VIEW, 20):
        table = table.append_column(f"v0_f{f}", pa.array(rng.random(table.num_rows)))
    names = [f"v0_f{f}" for f in range(20)]
    view = ViewInput(
        "bench",
        table,
        [("customer_id", "int64")],
        "event_time",
        "known_at",
        None,
        [(n, "float64", n) for n in names],
    )
    ref = f"bench{os.getpid()}/features@1"  # concurrent runs never share keys
    store.delete_view(ref)
    start = time.perf_counter()
    result = materialize(store, ref, view, None, batch_rows=10_000)
    seconds = time.perf_counter() - start
    rss = _rss_mib()

    class _Sel:
        spec = {"entity": {"join_keys": [["customer_id", "int64"]]}, "max_age_s": None}

    _Sel.ref = ref  # type: ignore[attr-defined]
    reader = OnlineReader(store, _Sel(), names)
    rng = np.random.default_rng(5)
    one, hundred = [], []
    for _ in range(reads):
        key = int(rng.integers(0, keys))
        t0 = time.perf_counter()
        got = reader.read([[key]])
        one.append(time.perf_counter() - t0)
        assert got[0]["status"] == "present"
    for _ in range(max(reads // 10, 20)):
        batch = [[int(k)] for k in rng.integers(0, keys, 100)]
        t0 = time.perf_counter()
        reader.read(batch)
        hundred.append(time.perf_counter() - t0)
    store.delete_view(ref)
    store.close()

    def pct(values: list[float], q: float) -> float:
        return round(statistics.quantiles(values, n=100)[int(q) - 1] * 1000, 3)

    return {
        "keys": keys,
        "written": result["written"],
        "materialize_seconds": round(seconds, 2),
        "rows_per_s": round(keys / seconds),
        "peak_rss_mib": round(rss),
        "read_1x20_p50_ms": pct(one, 50),
        "read_1x20_p99_ms": pct(one, 99),
        "read_100x20_p50_ms": pct(hundred, 50),
        "read_100x20_p99_ms": pct(hundred, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="50k labels, 20k keys")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.labels, args.keys, args.reads = 50_000, 20_000, 500
    load = os.getloadavg()
    figures = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_before": [round(x, 2) for x in load],
        "training_set": bench_training_set(args.labels, max(args.labels // 5, 1000)),
        "redis": bench_redis(args.keys, args.reads),
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    ts, rd = figures["training_set"], figures["redis"]
    print(f"cores {figures['cores']}  load before {figures['load_before']}")
    print(
        f"training set: {ts['labels']:,} labels x {ts['features']} features from {ts['views']} "
        f"views in {ts['seconds']} s, peak RSS {ts['peak_rss_mib']} MiB "
        f"(null fraction {ts['null_fraction']})"
    )
    print(
        f"materialize to Redis: {rd['keys']:,} keys in {rd['materialize_seconds']} s = "
        f"{rd['rows_per_s']:,} rows/s, peak RSS {rd['peak_rss_mib']} MiB"
    )
    print(
        f"online read 1 key x 20 features: p50 {rd['read_1x20_p50_ms']} ms, "
        f"p99 {rd['read_1x20_p99_ms']} ms"
    )
    print(
        f"online read 100 keys x 20 features: p50 {rd['read_100x20_p50_ms']} ms, "
        f"p99 {rd['read_100x20_p99_ms']} ms"
    )
    print(f"load after {figures['load_after']}")
    _ = timedelta


if __name__ == "__main__":
    main()
