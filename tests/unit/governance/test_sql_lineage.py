"""Static SQL column lineage and the classification it yields."""

from __future__ import annotations

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.governance.classification import Classification, Level
from mlstudio.governance.propagation import PropagatedColumn, propagate_sql
from mlstudio.governance.sql_lineage import (
    ColumnSource,
    OutputColumnLineage,
    SqlLineage,
    sql_column_lineage,
)

C = Classification.parse

INPUTS: dict[str, dict[str, Classification]] = {
    "customers": {
        "id": C("internal"),
        "email": C("confidential+pii"),
        "name": C("confidential+pii"),
        "age": C("internal"),
        "segment": C("public"),
    },
    "orders": {
        "id": C("internal"),
        "customer_id": C("internal"),
        "amount": C("confidential+financial"),
        "ts": C("public"),
    },
}
SCHEMAS = {table: list(cols) for table, cols in INPUTS.items()}
ALL_CUSTOMERS = C("confidential+pii")
EVERYTHING = C("confidential+pii+financial")


def src(*names: str) -> tuple[ColumnSource, ...]:
    return tuple(ColumnSource(*name.split(".")) for name in names)


def lineage(sql: str) -> SqlLineage:
    result = sql_column_lineage(sql, SCHEMAS)
    assert not result.coarse, result.reason
    return result


def classify(sql: str) -> dict[str, PropagatedColumn]:
    return {col.name: col for col in propagate_sql(sql, INPUTS)}


# --- single-table derivations ----------------------------------------------------------------------
def test_rename_is_identity() -> None:
    result = lineage("SELECT email AS contact, id FROM customers")
    assert result.columns == (
        OutputColumnLineage("contact", src("customers.email"), "identity"),
        OutputColumnLineage("id", src("customers.id"), "identity"),
    )
    assert result.tables == ("customers",)
    out = classify("SELECT email AS contact, id FROM customers")
    assert out["contact"].classification == C("confidential+pii")
    assert out["contact"].provenance.rule == "identity"
    assert out["contact"].provenance.sources == ("customers.email",)
    assert out["id"].classification == C("internal")


def test_cast_is_identity_and_keeps_tags() -> None:
    result = lineage("SELECT CAST(age AS VARCHAR) AS age_text, email::VARCHAR AS e FROM customers")
    assert result.columns[0] == OutputColumnLineage("age_text", src("customers.age"), "identity")
    assert result.columns[1] == OutputColumnLineage("e", src("customers.email"), "identity")
    out = classify("SELECT CAST(age AS VARCHAR) AS age_text FROM customers")
    assert out["age_text"].classification == C("internal")


@pytest.mark.parametrize(
    "expression",
    ["CONCAT(name, segment)", "name || segment", "concat(segment, ' ', name)"],
)
def test_concat_of_pii_and_public_keeps_pii(expression: str) -> None:
    sql = f"SELECT {expression} AS label FROM customers"
    (col,) = lineage(sql).columns
    assert col.kind == "transformation"
    assert set(col.sources) == set(src("customers.name", "customers.segment"))
    assert col.masked_sources == ()
    assert classify(sql)["label"].classification == C("confidential+pii")


def test_arithmetic_joins_sources() -> None:
    sql = "SELECT age * 12 + id AS months FROM customers"
    (col,) = lineage(sql).columns
    assert col == OutputColumnLineage(
        "months", src("customers.age", "customers.id"), "transformation"
    )
    assert classify(sql)["months"].classification == C("internal")


def test_case_when_condition_columns_are_sources() -> None:
    sql = "SELECT CASE WHEN email LIKE '%@corp.com' THEN 'staff' ELSE segment END AS kind FROM customers"
    (col,) = lineage(sql).columns
    assert col.kind == "transformation"
    assert col.sources == src("customers.email", "customers.segment")
    out = classify(sql)["kind"]
    assert out.classification == C("confidential+pii")  # the condition leaks the email
    assert out.provenance.rule == "transformation"


@pytest.mark.parametrize("function", ["sha256(email)", "md5(email)", "sha1(email)", "hash(email)"])
def test_hash_of_email_is_masking_and_pii_pseudonymous(function: str) -> None:
    sql = f"SELECT {function} AS email_key FROM customers"
    (col,) = lineage(sql).columns
    assert col.kind == "masking"
    assert col.sources == src("customers.email")
    assert col.masked_sources == src("customers.email")
    out = classify(sql)["email_key"]
    assert out.classification.level is Level.CONFIDENTIAL  # hashing never lowers the level
    assert out.classification.labels == {"pii"}
    assert out.classification.pseudonymous == {"pii"}
    assert out.provenance.rule == "masking"


def test_hash_concatenated_with_raw_value_is_not_masking() -> None:
    sql = "SELECT CONCAT(sha256(email), email) AS mixed, sha256(email) || segment AS half FROM customers"
    mixed, half = lineage(sql).columns
    assert mixed.kind == "transformation"
    assert mixed.masked_sources == ()
    assert half.kind == "transformation"
    assert half.masked_sources == src("customers.email")
    out = classify(sql)
    assert out["mixed"].classification == C("confidential+pii")
    assert out["half"].classification == C("confidential+pii(pseudonymous)")


def test_count_star_inherits_dataset_level_union() -> None:
    sql = "SELECT COUNT(*) AS n, 1 AS one FROM customers"
    n, one = lineage(sql).columns
    assert n == OutputColumnLineage("n", (), "dataset", (), ("customers",))
    assert one == OutputColumnLineage("one", (), "dataset", (), ("customers",))
    out = classify(sql)
    assert out["n"].classification == ALL_CUSTOMERS
    assert out["n"].provenance.rule == "dataset"
    assert out["n"].provenance.sources == tuple(f"customers.{c}" for c in SCHEMAS["customers"])
    # Only the scanned table counts: orders' financial label does not leak in.
    assert "financial" not in out["one"].classification.labels


def test_group_by_aggregates() -> None:
    sql = (
        "SELECT segment, SUM(age) AS total_age, AVG(age) AS mean_age, COUNT(email) AS emails, "
        "COUNT(*) AS n FROM customers WHERE id > 10 GROUP BY segment"
    )
    segment, total, mean, emails, n = lineage(sql).columns
    assert segment == OutputColumnLineage("segment", src("customers.segment"), "identity")
    assert total == OutputColumnLineage("total_age", src("customers.age"), "aggregation")
    assert mean == OutputColumnLineage("mean_age", src("customers.age"), "aggregation")
    assert emails == OutputColumnLineage("emails", src("customers.email"), "aggregation")
    assert n.kind == "dataset"
    out = classify(sql)
    # GROUP BY / WHERE columns are indirect lineage and are not propagated per column.
    assert out["segment"].classification == C("public")
    assert out["total_age"].classification == C("internal")
    assert out["emails"].classification == C("confidential+pii")  # aggregation keeps tags


# --- joins, CTEs, subqueries -----------------------------------------------------------------------
def test_join_of_two_tables_qualified_and_unqualified() -> None:
    sql = (
        "SELECT c.id, o.amount, email, ts, c.segment || o.ts AS tag "
        "FROM customers c JOIN orders o ON o.customer_id = c.id"
    )
    result = lineage(sql)
    assert result.tables == ("customers", "orders")
    assert [(c.name, c.sources, c.kind) for c in result.columns] == [
        ("id", src("customers.id"), "identity"),
        ("amount", src("orders.amount"), "identity"),
        ("email", src("customers.email"), "identity"),
        ("ts", src("orders.ts"), "identity"),
        ("tag", src("customers.segment", "orders.ts"), "transformation"),
    ]
    out = classify(sql)
    assert out["amount"].classification == C("confidential+financial")
    assert out["ts"].classification == C("public")  # the join key does not taint it
    assert out["tag"].classification == C("public")


def test_cte_chain() -> None:
    sql = """
        WITH hashed AS (SELECT id, sha256(email) AS email_key, age FROM customers),
             spend AS (SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id)
        SELECT h.email_key, h.age + 1 AS next_age, s.total
        FROM hashed h JOIN spend s ON s.customer_id = h.id
    """
    key, next_age, total = lineage(sql).columns
    assert key == OutputColumnLineage(
        "email_key", src("customers.email"), "masking", src("customers.email")
    )
    assert next_age == OutputColumnLineage("next_age", src("customers.age"), "transformation")
    assert total == OutputColumnLineage("total", src("orders.amount"), "aggregation")
    out = classify(sql)
    assert out["email_key"].classification == C("confidential+pii(pseudonymous)")
    assert out["total"].classification == C("confidential+financial")


def test_derived_table_and_scalar_subquery() -> None:
    sql = """
        SELECT sub.contact,
               (SELECT MAX(o.amount) FROM orders o WHERE o.customer_id = sub.id) AS top_order
        FROM (SELECT id, lower(email) AS contact FROM customers WHERE age > 18) AS sub
    """
    contact, top = lineage(sql).columns
    assert contact == OutputColumnLineage("contact", src("customers.email"), "transformation")
    assert top == OutputColumnLineage("top_order", src("orders.amount"), "aggregation")
    out = classify(sql)
    assert out["contact"].classification == C("confidential+pii")
    assert out["top_order"].classification == C("confidential+financial")


def test_count_star_in_cte_stays_dataset_level() -> None:
    sql = "WITH c AS (SELECT COUNT(*) AS n FROM orders) SELECT n * 2 AS doubled FROM c"
    (col,) = lineage(sql).columns
    assert col.kind == "dataset"
    assert col.dataset_tables == ("orders",)
    assert classify(sql)["doubled"].classification == C("confidential+financial")


def test_count_star_inherits_only_the_tables_its_select_reads() -> None:
    sql = """
        WITH per_customer AS (
            SELECT customer_id, COUNT(*) AS n_orders FROM orders GROUP BY customer_id
        )
        SELECT c.segment, p.n_orders, COUNT(*) OVER () AS total_rows, 'v1' AS version
        FROM customers c JOIN per_customer p ON p.customer_id = c.id
    """
    segment, n_orders, total_rows, version = lineage(sql).columns
    assert segment.kind == "identity"
    assert n_orders == OutputColumnLineage("n_orders", (), "dataset", (), ("orders",))
    assert total_rows.kind == "dataset"
    assert total_rows.dataset_tables == ("customers", "orders")
    assert version.dataset_tables == ("customers", "orders")
    out = classify(sql)
    # The count of orders does not carry the customers' pii (joins are indirect lineage) ...
    assert out["n_orders"].classification == C("confidential+financial")
    assert out["n_orders"].provenance.sources == tuple(f"orders.{c}" for c in SCHEMAS["orders"])
    # ... but a count over the joined rows inherits both tables.
    assert out["total_rows"].classification == EVERYTHING
    assert out["version"].classification == EVERYTHING


def test_count_star_mixed_with_a_column_keeps_both() -> None:
    sql = "SELECT COUNT(*) + SUM(age) AS score FROM customers"
    (col,) = lineage(sql).columns
    assert col == OutputColumnLineage("score", src("customers.age"), "dataset", (), ("customers",))
    assert classify(sql)["score"].classification == ALL_CUSTOMERS


# --- stars and set operations ----------------------------------------------------------------------
def test_select_star_expands_by_schema() -> None:
    result = lineage("SELECT * FROM customers")
    assert [c.name for c in result.columns] == SCHEMAS["customers"]
    assert all(c.kind == "identity" for c in result.columns)
    assert [c.sources for c in result.columns] == [
        src(f"customers.{name}") for name in SCHEMAS["customers"]
    ]
    out = classify("SELECT * FROM customers")
    assert {name: col.classification for name, col in out.items()} == INPUTS["customers"]


def test_qualified_star_over_join() -> None:
    sql = "SELECT o.*, c.segment FROM orders o JOIN customers c ON c.id = o.customer_id"
    result = lineage(sql)
    assert [c.name for c in result.columns] == [*SCHEMAS["orders"], "segment"]
    assert result.columns[2] == OutputColumnLineage("amount", src("orders.amount"), "identity")
    assert result.columns[-1].sources == src("customers.segment")


def test_union_joins_both_branches_per_position() -> None:
    sql = "SELECT id, email AS contact FROM customers UNION ALL SELECT id, CAST(amount AS VARCHAR) FROM orders"
    ident, contact = lineage(sql).columns
    assert ident == OutputColumnLineage("id", src("customers.id", "orders.id"), "identity")
    assert contact == OutputColumnLineage(
        "contact", src("customers.email", "orders.amount"), "identity"
    )
    out = classify(sql)
    assert out["contact"].classification == C("confidential+financial+pii")
    assert out["id"].classification == C("internal")


def test_table_and_column_names_are_case_insensitive_and_keep_spelling() -> None:
    schemas = {"Churn/Events": ["ID", "Kind"]}
    result = sql_column_lineage('SELECT kind, "id" AS Ident FROM "churn/events"', schemas)
    assert not result.coarse
    assert result.tables == ("Churn/Events",)
    assert [(c.name, c.sources) for c in result.columns] == [
        ("kind", (ColumnSource("Churn/Events", "Kind"),)),
        ("Ident", (ColumnSource("Churn/Events", "ID"),)),
    ]


def test_where_and_join_columns_are_not_sources() -> None:
    sql = (
        "SELECT o.ts FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE c.email LIKE '%x%' ORDER BY c.name"
    )
    (col,) = lineage(sql).columns
    assert col.sources == src("orders.ts")
    assert classify(sql)["ts"].classification == C("public")


# --- fallbacks and errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("SELECT email, FROM WHERE", []),
        ("SELECT id, nope FROM customers", ["id", "nope"]),
        ("SELECT id FROM unknown_table", ["id"]),
        ("SELECT * FROM read_parquet('/data/x.parquet')", []),
    ],
)
def test_unresolvable_sql_falls_back_to_coarse(sql: str, names: list[str]) -> None:
    result = sql_column_lineage(sql, SCHEMAS)
    assert result.coarse
    assert result.reason
    assert [c.name for c in result.columns] == names
    every = {ColumnSource(t, c) for t, cols in SCHEMAS.items() for c in cols}
    for col in result.columns:
        assert col.kind == "coarse"
        assert set(col.sources) == every
    for col in propagate_sql(sql, INPUTS, output_columns=["a", "b"]):
        assert col.classification == EVERYTHING
        assert col.provenance.rule == "coarse"


def test_unparseable_sql_classification_is_union_of_all_inputs() -> None:
    inputs = {**INPUTS, "notes": {"text": Classification()}}
    (col,) = propagate_sql("SELEC broken ((", inputs, output_columns=["x"])
    assert col.classification.unclassified  # an unclassified input makes it unclassified
    assert col.classification.effective_level is Level.RESTRICTED
    assert col.classification.labels == {"pii", "financial"}


def test_output_columns_rename_by_position_and_mismatch_is_coarse() -> None:
    sql = "SELECT COUNT(*), segment FROM customers GROUP BY segment"
    n, segment = propagate_sql(sql, INPUTS, output_columns=["count_star()", "segment"])
    assert n.name == "count_star()"
    assert n.provenance.rule == "dataset"
    assert segment.classification == C("public")
    cols = propagate_sql(sql, INPUTS, output_columns=["only_one"])
    assert [c.provenance.rule for c in cols] == ["coarse"]
    assert cols[0].classification == EVERYTHING


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders SELECT * FROM orders",
        "CREATE TABLE x AS SELECT 1",
        "DELETE FROM customers",
        "SELECT 1; SELECT 2",
        "   ",
    ],
)
def test_non_select_statements_are_rejected(sql: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        sql_column_lineage(sql, SCHEMAS)
    assert info.value.hint and "SELECT" in info.value.hint


def test_typical_query_is_exact() -> None:
    sql = """
        WITH recent AS (
            SELECT o.customer_id, o.amount, o.ts FROM orders o WHERE o.ts > '2024-01-01'
        ),
        per_customer AS (
            SELECT customer_id, COUNT(*) AS n_orders, SUM(amount) AS spend
            FROM recent GROUP BY customer_id
        )
        SELECT c.id, md5(c.email) AS email_key, c.segment, p.spend,
               CASE WHEN p.spend > 1000 THEN 'gold' ELSE 'std' END AS tier
        FROM customers c LEFT JOIN per_customer p ON p.customer_id = c.id
    """
    result = lineage(sql)
    kinds = {c.name: c.kind for c in result.columns}
    assert kinds == {
        "id": "identity",
        "email_key": "masking",
        "segment": "identity",
        "spend": "aggregation",
        "tier": "aggregation",
    }
    assert result.column("tier").sources == src("orders.amount")
    with pytest.raises(InvalidInputError, match="no output column 'nope'"):
        result.column("nope")
