"""The point-in-time join, in DuckDB, over Arrow tables (no governance here: see offline.py).

For each entity row (join keys, label time ``t``) and each feature view, the value joined is
the latest row of the view with the same keys (compared column by column, typed: a composite
key is a tuple, never a concatenated string) and

* ``event_time < t`` (``inclusive=True``: ``<=``),
* ``t - event_time <= max_age`` (when the view has one),
* ``knowledge_time <= t`` (when the view has a knowledge-time column and ``known_by=True``,
  the default): a value written later (a backfill, a correction) is not used for labels
  before it was known. A missing knowledge time counts as known at the event time.

Ties on the event time go to the latest knowledge time, then to the later row of the source.
Without a knowledge filter the join is a DuckDB ``ASOF LEFT JOIN`` over the source deduplicated
per (keys, event time); with one it is an equi-join on the keys filtered by both times and
ranked by a window (an ASOF join has one inequality). Entity rows are joined in batches, so the
output streams (:func:`join_batches`), in the entity table's order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.features.definitions import TYPES

ROW = "__mlstudio_row"
LABEL = "__mlstudio_label_time"
DEFAULT_BATCH_ROWS = 250_000


@dataclass(frozen=True)
class ViewInput:
    """One view's source table and what to take from it."""

    alias: str  # a SQL-safe name, unique in the join
    table: Any  # Arrow table with the view's source columns
    join_keys: Sequence[Sequence[str]]  # [(name, type)]
    event_time: str
    knowledge_time: str | None
    max_age_s: int | None
    features: Sequence[tuple[str, str, str]]  # (source column, type, output name)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connection() -> Any:
    """A sandboxed in-memory DuckDB (no files, URLs or extensions), times in UTC."""
    from mlstudio.data.sql import sandboxed_connection

    return sandboxed_connection({})


def _check_columns(table: Any, wanted: Sequence[str], label: str) -> None:
    names = list(table.column_names)
    missing = [c for c in wanted if c not in names]
    if missing:
        raise InvalidInputError(
            f"{label} has no column {missing[0]} (its columns: {', '.join(names)})",
            hint="fix the feature view's definition or the dataset",
        )


def naive_utc(table: Any) -> Any:
    """``table`` with every zoned timestamp column as a naive UTC one (DuckDB then compares
    instants, whatever its session time zone)."""
    import pyarrow as pa

    for index, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type) and field.type.tz is not None:
            column = table.column(index).cast(pa.timestamp(field.type.unit))
            table = table.set_column(index, pa.field(field.name, column.type), column)
    return table


def prepare(con: Any, view: ViewInput, knowledge: bool) -> str:
    """Load ``view``'s source into a typed DuckDB table ready to join; returns its name."""
    keys = [k for k, _ in view.join_keys]
    wanted = [*keys, view.event_time, *([view.knowledge_time] if view.knowledge_time else [])]
    wanted += [f for f, _, _ in view.features]
    _check_columns(view.table, wanted, f"the source of {view.alias}")
    raw = f"{view.alias}__raw"
    con.register(raw, naive_utc(view.table.select(list(dict.fromkeys(wanted)))))
    cols = [f"CAST({q(k)} AS {TYPES[t]}) AS {q(k)}" for k, t in view.join_keys]
    cols.append(f"CAST({q(view.event_time)} AS TIMESTAMP) AS __et")
    kt = f"CAST({q(view.knowledge_time)} AS TIMESTAMP)" if view.knowledge_time else "NULL"
    cols.append(f"COALESCE({kt}, CAST({q(view.event_time)} AS TIMESTAMP)) AS __kt")
    cols += [f"CAST({q(f)} AS {TYPES[t]}) AS {q('f__' + out)}" for f, t, out in view.features]
    cols.append("row_number() OVER () AS __ord")
    typed = f"SELECT {', '.join(cols)} FROM {q(raw)} WHERE {q(view.event_time)} IS NOT NULL"
    name = f"{view.alias}__src"
    key_list = ", ".join(q(k) for k in keys)
    try:
        if knowledge:
            con.execute(f"CREATE TABLE {q(name)} AS {typed}")
        else:  # one row per (keys, event time): the latest known, then the last written
            con.execute(
                f"CREATE TABLE {q(name)} AS SELECT * EXCLUDE (__rn) FROM (SELECT *, "
                f"row_number() OVER (PARTITION BY {key_list}, __et ORDER BY __kt DESC, "
                f"__ord DESC) AS __rn FROM ({typed})) WHERE __rn = 1"
            )
    except Exception as exc:  # a cast that fails: the data does not have the declared type
        raise InvalidInputError(
            f"the source of {view.alias} does not fit its declared types: "
            f"{str(exc).strip().splitlines()[0]}",
            hint="fix the declared types of the feature view, or the data",
        ) from exc
    con.unregister(raw)
    return name


def view_query(view: ViewInput, src: str, inclusive: bool, knowledge: bool) -> str:
    """The matched rows of one view for the entity batch ``e``: (ROW, features...)."""
    on = [f"e.{q('k__' + view.alias + '__' + k)} = s.{q(k)}" for k, _ in view.join_keys]
    before = "<=" if inclusive else "<"
    age = (
        f" AND s.__et >= e.{LABEL} - to_seconds({int(view.max_age_s)})"
        if view.max_age_s is not None
        else ""
    )
    feats = ", ".join(f"s.{q('f__' + out)}" for _, _, out in view.features)
    if knowledge:
        return (
            f"SELECT {ROW}, {feats.replace('s.', '')} FROM (SELECT e.{ROW}, {feats}, "
            f"row_number() OVER (PARTITION BY e.{ROW} ORDER BY s.__et DESC, s.__kt DESC, "
            f"s.__ord DESC) AS __rn FROM e JOIN {q(src)} s ON {' AND '.join(on)} "
            f"AND s.__et {before} e.{LABEL} AND s.__kt <= e.{LABEL}{age}) WHERE __rn = 1"
        )
    # ASOF: the closest earlier row per entity row; too old -> no match
    cond = (
        f"s.__et >= e.{LABEL} - to_seconds({int(view.max_age_s)})"
        if view.max_age_s is not None
        else "TRUE"
    )
    asof = ">=" if inclusive else ">"
    picked = ", ".join(
        f"CASE WHEN {cond} THEN s.{q('f__' + out)} END AS {q('f__' + out)}"
        for _, _, out in view.features
    )
    return (
        f"SELECT e.{ROW}, {picked} FROM e ASOF LEFT JOIN {q(src)} s ON {' AND '.join(on)} "
        f"AND e.{LABEL} {asof} s.__et"
    )


def join_batches(
    entities: Any,
    views: Sequence[ViewInput],
    label_time: str,
    *,
    inclusive: bool = False,
    known_by: bool = True,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[Any]:
    """The training set as Arrow record batches: every entity column, then each view's
    features (as named by their output names), in the entity rows' order."""
    import pyarrow as pa

    if batch_rows < 1:
        raise InvalidInputError("batch_rows must be at least 1", hint="use e.g. 100000")
    entity_keys = {k for v in views for k, _ in v.join_keys}
    _check_columns(entities, [*sorted(entity_keys), label_time], "the entity dataset")
    outs = [out for v in views for _, _, out in v.features]
    taken = set(entities.column_names)
    dup = [o for o in outs if outs.count(o) > 1 or o in taken]
    if dup:
        raise InvalidInputError(
            f"the training set would have two columns named {dup[0]}",
            hint="select that feature from one view only, or rename the entity column",
        )
    con = connection()
    try:
        plans = []
        for view in views:
            knowledge = known_by and view.knowledge_time is not None
            plans.append((view, prepare(con, view, knowledge), knowledge))
        key_cols = ", ".join(
            f"CAST({q(k)} AS {TYPES[t]}) AS {q('k__' + v.alias + '__' + k)}"
            for v in views
            for k, t in v.join_keys
        )
        select = ", ".join(q(c) for c in entities.column_names)
        features = ", ".join(
            f"v{i}.{q('f__' + out)} AS {q(out)}"
            for i, (v, _, _) in enumerate(plans)
            for _, _, out in v.features
        )
        joins = " ".join(f"LEFT JOIN v{i} USING ({ROW})" for i in range(len(plans)))
        ctes = ", ".join(
            f"v{i} AS ({view_query(v, src, inclusive, k)})" for i, (v, src, k) in enumerate(plans)
        )
        offset = 0
        for batch in entities.to_batches(max_chunksize=batch_rows):
            if batch.num_rows == 0:
                continue
            table = naive_utc(pa.Table.from_batches([batch])).append_column(
                ROW, pa.array(range(offset, offset + batch.num_rows), pa.int64())
            )
            offset += batch.num_rows
            con.register("e_raw", table)
            sql = (
                f"WITH e AS (SELECT *, {key_cols}, CAST({q(label_time)} AS TIMESTAMP) AS {LABEL} "
                f"FROM e_raw), {ctes} SELECT {select}{', ' if features else ''}{features} "
                f"FROM e {joins} ORDER BY e.{ROW}"
            )
            try:
                relation = con.sql(sql)
                fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
                result = fetch()
            except Exception as exc:
                raise InvalidInputError(
                    f"the point-in-time join failed: {str(exc).strip().splitlines()[0]}",
                    hint="check the entity dataset's key and label-time columns",
                ) from exc
            con.unregister("e_raw")
            yield from result.to_batches()
    finally:
        con.close()


def join(entities: Any, views: Sequence[ViewInput], label_time: str, **options: Any) -> Any:
    """:func:`join_batches` as one Arrow table."""
    import pyarrow as pa

    batches = list(join_batches(entities, views, label_time, **options))
    if not batches:
        return _empty(entities, views)
    return pa.Table.from_batches(batches)


def _empty(entities: Any, views: Sequence[ViewInput]) -> Any:
    import pyarrow as pa

    arrow = {
        "int64": pa.int64(),
        "int32": pa.int32(),
        "float64": pa.float64(),
        "float32": pa.float32(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us"),
    }
    fields = list(entities.schema)
    fields += [pa.field(out, arrow[t]) for v in views for _, t, out in v.features]
    return pa.schema(fields).empty_table()
