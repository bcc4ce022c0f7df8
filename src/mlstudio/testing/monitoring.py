"""A small monitored dataset for portal tests and screenshots: daily sales with a spike on the
last day, so a ``revenue=sum:amount`` monitor evaluated at :data:`NOW` has an open alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = "2026-01-31T06:00:00Z"  # 30 complete days: Jan 1 .. Jan 30
SPIKE = "2026-01-30"
CLASSIFY = ["--classify", "ts=internal", "--classify", "amount=internal"]
MONITOR = ["--time-column", "ts", "--metric", "revenue=sum:amount"]


def write_sales(path: Path, days: int = 30, per_day: int = 40, seed: int = 3) -> Path:
    """``ts``, ``amount``: ``per_day`` sales a day; the last day sells at three times the
    amount (its anomaly alert stays open: no later window resolves it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    ts: list[datetime] = []
    amount: list[float] = []
    for d in range(days):
        ts += [DAY0 + timedelta(days=d, seconds=int(s)) for s in rng.integers(0, 86400, per_day)]
        factor = 3.0 if d == days - 1 else 1.0
        amount += (rng.gamma(2.0, 5.0, size=per_day) * factor).tolist()
    pq.write_table(pa.table({"ts": ts, "amount": amount}), path)
    return path


def add_monitor(server: Any, root: Path, namespace: str) -> str:
    """On ``server``'s home (embedded CLI, as alice): import NAMESPACE/sales, add the monitor
    NAMESPACE/revenue over it and evaluate it at :data:`NOW`; returns the monitor's name."""
    sales = write_sales(root / f"{namespace}-sales.parquet")
    name = f"{namespace}/revenue"
    for args in (
        ("data", "import", str(sales), "--name", f"{namespace}/sales", *CLASSIFY),
        ("monitor", "add", name, "--source", f"{namespace}/sales", *MONITOR),
        ("monitor", "run", name, "--now", NOW),
    ):
        done = server.cli(*args)
        assert done.code == 0, done.stderr
    return name
