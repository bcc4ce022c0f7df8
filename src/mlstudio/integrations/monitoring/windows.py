"""Turning a source table into periods, slices and per-window counts (DuckDB/Arrow, numpy).

Periods are integer indexes of fixed-size buckets since the Unix epoch (``hour``, ``day``,
``week``); a window is one period. Only complete periods (before the one ``now`` falls in) are
evaluated — the current one waits for its data; rows stamped after ``now`` (clock skew) are
counted, reported and left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlstudio.errors import InvalidInputError

PERIODS = {"hour": 3600, "day": 86400, "week": 7 * 86400}
SEASONS = {"hour": 24, "day": 7, "week": 1}


def check_period(period: str) -> int:
    if period not in PERIODS:
        raise InvalidInputError(
            f"unknown period {period!r}", hint=f"use one of {', '.join(PERIODS)}"
        )
    return PERIODS[period]


def window_key(p: int, period: str) -> str:
    """The ISO start of period ``p`` (``2026-01-05`` for days and weeks, ``...T13:00`` hours)."""
    start = datetime.fromtimestamp(p * PERIODS[period], UTC)
    return start.strftime("%Y-%m-%dT%H:00") if period == "hour" else start.strftime("%Y-%m-%d")


def parse_window(text: str, period: str) -> int:
    """The period index of an ISO date/time (the inverse of :func:`window_key`)."""
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(
            f"{text!r} is not a date or time", hint="use ISO form, e.g. 2026-01-05"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() // PERIODS[period])


@dataclass
class Frame:
    """The source's rows with a period index, restricted to complete periods."""

    columns: dict[str, Any]  # name -> numpy array
    period: Any  # numpy int64 period index per row
    now_period: int
    future_rows: int
    latest_period: int | None
    rows: int


def frame(
    table: Any, time_column: str, period: str, columns: Sequence[str], now: datetime
) -> Frame:
    """Period-index the rows with DuckDB; keep the complete periods' rows of ``columns``."""
    import duckdb
    import numpy as np

    size = check_period(period)
    now_period = int(now.timestamp() // size)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("src", table)
        cols = ", ".join(f'"{c}"' for c in dict.fromkeys(columns))
        sel = f", {cols}" if cols else ""
        q = (
            f'SELECT CAST(floor(epoch(CAST("{time_column}" AS TIMESTAMPTZ)) / {size}) AS BIGINT)'
            f" AS __p{sel} FROM src"
        )
        try:
            rel = con.sql(q)
            # duckdb >= 1.4 names it to_arrow_table; older versions only have arrow()
            result = (getattr(rel, "to_arrow_table", None) or rel.arrow)()
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"cannot read {time_column!r} as a time: {str(exc).splitlines()[0]}",
                hint="the time column must hold timestamps or ISO dates",
            ) from None
    finally:
        con.close()
    if hasattr(result, "read_all"):
        result = result.read_all()
    p = result.column("__p").to_numpy(zero_copy_only=False)
    p = np.where(np.isnan(p.astype(float)), -1, p).astype(np.int64) if p.dtype == object else p
    future = int((p > now_period).sum())
    latest = int(p[p <= now_period].max()) if (p <= now_period).any() else None
    keep = p < now_period
    out = {}
    for c in dict.fromkeys(columns):
        arr = result.column(c).to_numpy(zero_copy_only=False)
        out[c] = arr[keep]
    return Frame(out, p[keep], now_period, future, latest, len(p))


def codes(values: Any, cap: int) -> tuple[Any, list[str], int]:
    """Integer codes of a slice column's values: the ``cap`` most frequent keep their own code,
    the rest share ``-1``; returns (codes, labels, how many distinct values were capped)."""
    import numpy as np

    labels, inverse, counts = np.unique(
        np.asarray(values).astype(str), return_inverse=True, return_counts=True
    )
    order = np.argsort(-counts, kind="stable")
    kept = order[:cap]
    remap = np.full(len(labels), -1, dtype=np.int64)
    remap[kept] = np.arange(len(kept))
    return remap[inverse], [str(labels[i]) for i in kept], max(len(labels) - cap, 0)


def grouped_counts(bins: Any, groups: Any, n_groups: int, n_bins: int) -> Any:
    """``counts[g, b]``: rows of group ``g`` in bin ``b`` (rows with a negative group dropped)."""
    import numpy as np

    ok = groups >= 0
    flat = groups[ok] * n_bins + bins[ok]
    return np.bincount(flat, minlength=n_groups * n_bins).reshape(n_groups, n_bins)
