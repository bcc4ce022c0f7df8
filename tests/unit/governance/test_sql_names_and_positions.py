"""SQL lineage and read analysis where DuckDB matches columns by name or by position."""

from __future__ import annotations

import pyarrow as pa
import pytest

from mlstudio.data import io
from mlstudio.data.sql import run_sql
from mlstudio.governance.classification import Classification
from mlstudio.governance.policy import DomainPolicy
from mlstudio.governance.propagation import propagate_sql
from mlstudio.governance.sql_lineage import sql_column_lineage
from mlstudio.governance.sql_reads import sql_columns_used

C = Classification.parse
INPUTS = {
    "a": {"id": C("internal"), "email": C("confidential+pii"), "amount": C("internal")},
    "b": {"id": C("internal"), "email": C("confidential+pii"), "note": C("public")},
}
SCHEMAS = {t: list(cols) for t, cols in INPUTS.items()}
TABLES = {
    "a": pa.table({"id": [1], "email": ["a@x"], "amount": [2.0]}),
    "b": pa.table({"id": [2], "email": ["b@y"], "note": ["n"]}),
}


def sources(sql: str) -> dict[str, list[str]]:
    result = sql_column_lineage(sql, SCHEMAS)
    assert not result.coarse, result.reason
    return {c.name: sorted(str(s) for s in c.sources) for c in result.columns}


def run_and_classify(sql: str) -> dict[str, str]:
    names = run_sql(sql, TABLES).to_arrow().column_names
    return {c.name: c.classification.spec() for c in propagate_sql(sql, INPUTS, names)}


# --- by name ----------------------------------------------------------------------------------
def test_union_by_name_pairs_columns_by_name_not_position():
    sql = "SELECT id, amount FROM a UNION ALL BY NAME SELECT email AS amount, id FROM b"
    assert sources(sql) == {"id": ["a.id", "b.id"], "amount": ["a.amount", "b.email"]}
    assert run_and_classify(sql) == {"id": "internal", "amount": "confidential+pii"}


def test_union_by_name_adds_the_right_sides_new_columns_case_insensitively():
    sql = "SELECT ID FROM a UNION BY NAME SELECT note, id FROM b"
    assert sources(sql) == {"id": ["a.id", "b.id"], "note": ["b.note"]}
    assert run_and_classify(sql) == {"id": "internal", "note": "public"}


def test_union_by_name_with_an_unnamed_expression_is_coarse():
    result = sql_column_lineage(
        "SELECT upper(email) FROM a UNION BY NAME SELECT id FROM b", SCHEMAS
    )
    assert result.coarse or all(c.kind == "coarse" for c in result.columns)


def test_a_star_over_a_by_name_union_is_coarse():
    sql = "SELECT * FROM (SELECT id FROM a UNION ALL BY NAME SELECT email FROM b) s"
    assert sql_column_lineage(sql, SCHEMAS).coarse
    assert run_and_classify(sql) == {"id": "confidential+pii", "email": "confidential+pii"}


# --- COLUMNS and positions ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT COLUMNS('mail') FROM a", {"email": ["a.email"]}),
        ("SELECT COLUMNS(* EXCLUDE (email)) FROM a", {"id": ["a.id"], "amount": ["a.amount"]}),
        ("SELECT max(COLUMNS(['email'])) FROM a", {"email": ["a.email"]}),
        ("SELECT #2 FROM a", {"email": ["a.email"]}),
        ("SELECT #3 AS x, #1 FROM a ORDER BY #2", {"x": ["a.amount"], "id": ["a.id"]}),
        ("WITH c AS (SELECT #2 AS e FROM a) SELECT e FROM c", {"e": ["a.email"]}),
    ],
)
def test_implicit_column_references_expand_to_their_columns(sql, expected):
    assert sources(sql) == expected
    run_and_classify(sql)  # and DuckDB agrees on the names (else it would be coarse)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COLUMNS(c -> c LIKE '%mail') FROM a",
        "SELECT concat(*COLUMNS('e')) FROM a",
        "PIVOT a ON id USING first(email)",
        "UNPIVOT a ON email, amount INTO NAME k VALUE v",
        "DESCRIBE a",
    ],
)
def test_what_cannot_be_expanded_exactly_is_coarse(sql):
    assert sql_column_lineage(sql, SCHEMAS).coarse


def test_a_name_that_differs_from_duckdbs_makes_every_column_coarse():
    # lineage says "email"; pretend DuckDB named the column otherwise
    out = propagate_sql("SELECT email, id FROM a", INPUTS, output_columns=["x", "id"])
    assert {c.provenance.rule for c in out} == {"coarse"}
    assert all("pii" in c.classification.labels for c in out)


# --- what the task is handed --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "used"),
    [
        ("SELECT count(*) AS n FROM a", {"a": set()}),
        ("SELECT count(*) AS n FROM a WHERE amount > 1", {"a": {"amount"}}),
        ("SELECT * EXCLUDE (email) FROM a", {"a": {"id", "amount"}}),
        ("SELECT COLUMNS('^(id|amount)$') FROM a", {"a": {"id", "amount"}}),
        ("SELECT #3 FROM a WHERE #1 > 0", {"a": {"id", "amount"}}),
        ("SELECT note FROM b", {"b": {"note"}}),
        (
            "SELECT amount FROM a NATURAL JOIN b",
            {"a": {"id", "email", "amount"}, "b": {"id", "email"}},
        ),
    ],
)
def test_columns_used(sql, used):
    assert sql_columns_used(sql, SCHEMAS) == used


@pytest.mark.parametrize(
    "sql",
    ["SELECT 1; SELECT 2", "SELECT COLUMNS(c -> true) FROM a", "PIVOT a ON id USING first(email)"],
)
def test_columns_used_is_unknown_when_it_cannot_be_exact(sql):
    assert sql_columns_used(sql, SCHEMAS) is None


def test_a_row_count_is_handed_the_least_classified_readable_column():
    columns = {
        "email": C("confidential+pii"),
        "amount": C("confidential+financial"),
        "region": C("internal"),
        "secret": C("public+pii"),
    }
    experimentation = DomainPolicy.from_dict(
        {
            "name": "experimentation",
            "clearance": "confidential",
            "readable_labels": None,
            "denied_labels": ["pii"],
            "pseudonymous_readable": True,
            "readable_domains": None,
            "may_persist": True,
            "promoted_only": False,
        }
    )
    assert io.row_count_column(columns, experimentation) == "region"
    assert io.row_count_column(columns) == "secret"  # without a policy: the lowest level
    assert io.projected("t", columns, {}, {"t": set()}, experimentation) == {
        "region": C("internal")
    }
    assert io.projected("t", columns, {}, {"u": {"x"}}, experimentation) == {}  # not read at all
