"""Property: SQL lineage never loses the pii label of a value, whatever the query.

Tables ``a`` and ``b`` have pii columns whose every value contains a marker; no other value
does. Hypothesis generates queries from a grammar of the constructs where output columns are
matched by name or by position (set operations with and without ``BY NAME``, ``* EXCLUDE /
REPLACE / RENAME``, ``COLUMNS(...)``, positional ``#n``, ``USING`` / ``NATURAL`` / lateral
joins, CTEs, subqueries, ``QUALIFY``, ``DISTINCT ON``, ``GROUP BY ALL``, window functions,
structs and ``unnest``, ``PIVOT`` / ``UNPIVOT``), aliases that reuse other columns' names
included. Each query runs on DuckDB (the sandboxed ``run_sql``); every output column whose
values contain the marker must carry the pii label.
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from mlstudio.data.sql import run_sql
from mlstudio.errors import MlstudioError
from mlstudio.governance.classification import Classification
from mlstudio.governance.propagation import propagate_sql

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

MARK = "PII#"
TABLES = {
    "a": pa.table(
        {
            "id": [1, 2, 3],
            "email": [f"{MARK}ann@x", f"{MARK}bob@x", f"{MARK}cy@x"],
            "amount": [10.0, 20.0, 30.0],
            "note": ["n1", "n2", "n3"],
        }
    ),
    "b": pa.table(
        {
            "id": [2, 3, 4],
            "phone": [f"{MARK}555-1", f"{MARK}555-2", f"{MARK}555-3"],
            "email": [f"{MARK}bob@y", f"{MARK}cy@y", f"{MARK}dee@y"],
            "note": ["m2", "m3", "m4"],
        }
    ),
}
PII = {"email", "phone"}
INPUTS = {
    table: {
        column: Classification.parse("confidential+pii" if column in PII else "internal")
        for column in data.column_names
    }
    for table, data in TABLES.items()
}
NAMES = ["id", "email", "amount", "note", "phone", "x", "y"]


@st.composite
def expression(draw, table: str) -> str:
    """A scalar expression over ``table``'s columns."""
    cols = TABLES[table].column_names
    c1, c2 = draw(st.sampled_from(cols)), draw(st.sampled_from(cols))
    return draw(
        st.sampled_from(
            [
                c1,
                f"{table}.{c1}",
                f"upper(CAST({c1} AS VARCHAR))",
                f"CAST({c1} AS VARCHAR) || 'z'",
                f"concat({c1}, {c2})",
                f"CASE WHEN id > 1 THEN CAST({c1} AS VARCHAR) ELSE CAST({c2} AS VARCHAR) END",
                f"coalesce(CAST({c1} AS VARCHAR), 'q')",
                f"first_value({c1}) OVER (ORDER BY id)",
                f"lag({c1}) OVER (PARTITION BY id ORDER BY id)",
                f"{{'k': {c1}}}.k",
                f"[{c1}, {c2}][1]",
                f"sha256(CAST({c1} AS VARCHAR))",
                f"(SELECT max(CAST({c1} AS VARCHAR)) FROM {table})",
                "42",
                "'lit'",
                "row_number() OVER ()",
            ]
        )
    )


@st.composite
def projection_list(draw, table: str) -> str:
    cols = TABLES[table].column_names
    kind = draw(st.sampled_from(["exprs", "star", "exclude", "replace", "rename", "columns", "#"]))
    if kind == "star":
        return "*"
    if kind == "exclude":
        gone = draw(st.lists(st.sampled_from(cols), min_size=1, max_size=2, unique=True))
        return f"* EXCLUDE ({', '.join(gone)})"
    if kind == "replace":
        c1, c2 = draw(st.sampled_from(cols)), draw(st.sampled_from(cols))
        return f"* REPLACE (CAST({c2} AS VARCHAR) AS {c1})"
    if kind == "rename":
        c1, new = draw(st.sampled_from(cols)), draw(st.sampled_from(["x", "y", "z"]))
        return f"* RENAME ({c1} AS {new})"
    if kind == "columns":
        pattern = draw(st.sampled_from(["e", "^(id|note)$", "a", ".*", "o"]))
        wrap = draw(st.sampled_from(["COLUMNS('{p}')", "upper(CAST(COLUMNS('{p}') AS VARCHAR))"]))
        return wrap.format(p=pattern)
    if kind == "#":
        positions = draw(st.lists(st.integers(1, len(cols)), min_size=1, max_size=3))
        return ", ".join(f"#{p}" for p in positions)
    items = draw(st.lists(expression(table), min_size=1, max_size=4))
    out = []
    for index, item in enumerate(items):
        alias = draw(st.sampled_from([*NAMES, None]))
        out.append(f"{item} AS {alias}" if alias else f"{item} AS c{index}")
    return ", ".join(out)


@st.composite
def simple_select(draw) -> str:
    table = draw(st.sampled_from(list(TABLES)))
    projections = draw(projection_list(table))
    distinct = draw(st.sampled_from(["", "DISTINCT ", "DISTINCT ON (id) "]))
    where = draw(st.sampled_from(["", " WHERE id > 1", f" WHERE email LIKE '{MARK}%'"]))
    qualify = draw(st.sampled_from(["", " QUALIFY row_number() OVER (ORDER BY id) < 3"]))
    return f"SELECT {distinct}{projections} FROM {table}{where}{qualify}"


@st.composite
def aggregate_select(draw) -> str:
    table = draw(st.sampled_from(list(TABLES)))
    cols = TABLES[table].column_names
    key = draw(st.sampled_from(cols))
    value = draw(st.sampled_from(cols))
    agg = draw(
        st.sampled_from([f"max({value})", f"string_agg(CAST({value} AS VARCHAR), ',')", "count(*)"])
    )
    alias = draw(st.sampled_from(NAMES))
    return f"SELECT {key}, {agg} AS {alias} FROM {table} GROUP BY ALL"


@st.composite
def joined_select(draw) -> str:
    kind = draw(st.sampled_from(["using", "natural", "lateral", "on"]))
    if kind == "using":
        return f"SELECT {draw(st.sampled_from(['*', 'a.*', 'b.*', 'email', 'a.email, b.note']))} FROM a JOIN b USING (id)"
    if kind == "natural":
        return "SELECT * FROM a NATURAL JOIN b"
    if kind == "lateral":
        col = draw(st.sampled_from(["a.email", "a.note", "a.id"]))
        alias = draw(st.sampled_from(NAMES))
        return f"SELECT a.id, l.{alias} FROM a, LATERAL (SELECT {col} AS {alias}) AS l"
    left, right = (
        draw(st.sampled_from(["email", "note", "id"])),
        draw(st.sampled_from(["phone", "note", "email"])),
    )
    return (
        f"SELECT a.{left} AS {draw(st.sampled_from(NAMES))}, b.{right} FROM a JOIN b ON a.id = b.id"
    )


def base_select():
    return st.one_of(simple_select(), aggregate_select(), joined_select())


@st.composite
def query(draw, depth: int = 0) -> str:
    if depth >= 2:
        return draw(base_select())
    kind = draw(
        st.sampled_from(["base", "base", "setop", "by_name", "cte", "subquery", "pivot", "unpivot"])
    )
    if kind == "setop":
        left = draw(query(depth + 1))
        right = draw(query(depth + 1))
        op = draw(st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]))
        return f"({left}) {op} ({right})"
    if kind == "by_name":
        left = draw(query(depth + 1))
        right = draw(query(depth + 1))
        op = draw(st.sampled_from(["UNION BY NAME", "UNION ALL BY NAME"]))
        return f"({left}) {op} ({right})"
    if kind == "cte":
        inner = draw(query(depth + 1))
        outer = draw(st.sampled_from(["*", "COLUMNS('.*')", "#1"]))
        return f"WITH x AS ({inner}) SELECT {outer} FROM x"
    if kind == "subquery":
        inner = draw(query(depth + 1))
        return f"SELECT * FROM ({inner}) AS s"
    if kind == "pivot":
        return "PIVOT (SELECT email, note FROM a) ON note USING first(email)"
    if kind == "unpivot":
        return "UNPIVOT (SELECT id, email, note FROM a) ON email, note INTO NAME k VALUE v"
    return draw(base_select())


def _contains_marker(values: list) -> bool:
    return any(MARK in str(v) for v in values)


@hypothesis.settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.filter_too_much],
)
@hypothesis.given(sql=query())
def test_a_value_with_the_pii_marker_always_carries_the_pii_label(sql):
    try:
        result = run_sql(sql, TABLES).to_arrow()
    except MlstudioError:
        hypothesis.assume(False)  # the generated SQL is not valid DuckDB
        return
    propagated = propagate_sql(sql, INPUTS, output_columns=result.column_names)
    assert len(propagated) == result.num_columns
    for index, column in enumerate(propagated):
        if _contains_marker(result.column(index).to_pylist()):
            assert "pii" in column.classification.labels, (sql, column)
