"""Materialization: the newest value per key of a view version, written to an online store
incrementally (only source rows known after the last watermark) in bounded batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from mlstudio.integrations.features.online import OnlineStore, encode_key
from mlstudio.integrations.features.pit import ViewInput, connection, prepare, q

DEFAULT_BATCH = 10_000


def _epoch_us(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000)


def latest_batches(
    view: ViewInput, since: datetime | None, batch_rows: int = DEFAULT_BATCH
) -> Iterator[tuple[list[Any], int]]:
    """(rows, max knowledge µs) per batch: the latest row per key among rows known after
    ``since``, as (key json, event µs, knowledge µs, values) for :meth:`OnlineStore.write`."""
    con = connection()
    try:
        src = prepare(con, view, knowledge=True)
        keys = [k for k, _ in view.join_keys]
        types = [t for _, t in view.join_keys]
        key_list = ", ".join(q(k) for k in keys)
        feats = [out for _, _, out in view.features]
        cols = ", ".join(q("f__" + f) for f in feats)
        where = "TRUE" if since is None else f"__kt > make_timestamp({_epoch_us(since)})"
        sql = (
            f"SELECT {key_list}, epoch_us(__et) AS et, epoch_us(__kt) AS kt, {cols} FROM "
            f"{q(src)} WHERE {where} QUALIFY row_number() OVER (PARTITION BY {key_list} "
            f"ORDER BY __et DESC, __kt DESC, __ord DESC) = 1"
        )
        relation = con.sql(sql)
        fetch = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
        reader = fetch(batch_rows)
        for batch in reader:
            data = batch.to_pydict()
            rows = []
            for i in range(batch.num_rows):
                key = encode_key([data[k][i] for k in keys], types)
                values = {f: _jsonable(data["f__" + f][i]) for f in feats}
                rows.append((key, data["et"][i], data["kt"][i], values))
            yield rows, max(data["kt"]) if rows else 0
    finally:
        con.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def materialize(
    store: OnlineStore,
    view_ref: str,
    view: ViewInput,
    since: datetime | None,
    batch_rows: int = DEFAULT_BATCH,
) -> dict[str, Any]:
    """Write what is new since ``since``; returns rows considered, keys written, watermark."""
    keys = written = 0
    watermark = _epoch_us(since) or 0
    for rows, newest in latest_batches(view, since, batch_rows):
        keys += len(rows)
        written += store.write(view_ref, rows)
        watermark = max(watermark, newest)
    mark = datetime.fromtimestamp(watermark / 1_000_000, UTC) if watermark else since
    return {"keys": keys, "written": written, "watermark": mark}
