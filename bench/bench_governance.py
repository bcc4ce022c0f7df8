"""Governance benchmarks: policy checks, propagation and SQL column lineage.

Run with ``PYTHONPATH=src python bench/bench_governance.py [--json]``. Prints the median of many
repetitions per case next to its budget (DESIGN.md: benchmarks print, tests never assert times).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

from mlstudio.governance.classification import Classification
from mlstudio.governance.policy import DEFAULT_DOMAINS, evaluate_read, evaluate_write
from mlstudio.governance.propagation import propagate_python, propagate_sql
from mlstudio.governance.sql_lineage import sql_column_lineage

WIDE_COLUMNS = 1_000

QUERY = """
WITH active_customers AS (
    SELECT c.id, c.email, c.first_name, c.last_name, c.country, c.segment, c.signup_date,
           c.birth_year
    FROM customers c
    WHERE c.deleted_at IS NULL AND c.country IN ('DE', 'FR', 'NL')
),
order_stats AS (
    SELECT o.customer_id,
           COUNT(*) AS n_orders,
           SUM(o.amount) AS total_spend,
           AVG(o.amount) AS avg_order,
           MAX(o.created_at) AS last_order_at,
           COUNT(DISTINCT o.product_id) AS n_products
    FROM orders o
    WHERE o.status <> 'cancelled'
    GROUP BY o.customer_id
),
ticket_stats AS (
    SELECT t.customer_id,
           COUNT(*) AS n_tickets,
           SUM(CASE WHEN t.priority = 'high' THEN 1 ELSE 0 END) AS n_urgent
    FROM tickets t
    GROUP BY t.customer_id
),
features AS (
    SELECT a.id,
           sha256(a.email) AS email_key,
           a.first_name || ' ' || a.last_name AS full_name,
           a.country,
           a.segment,
           2024 - a.birth_year AS age,
           datediff('day', a.signup_date, current_date) AS tenure_days,
           COALESCE(s.n_orders, 0) AS n_orders,
           COALESCE(s.total_spend, 0) AS total_spend,
           s.avg_order,
           s.last_order_at,
           s.n_products,
           COALESCE(k.n_tickets, 0) AS n_tickets,
           k.n_urgent
    FROM active_customers a
    LEFT JOIN order_stats s ON s.customer_id = a.id
    LEFT JOIN ticket_stats k ON k.customer_id = a.id
)
SELECT f.id, f.email_key, f.full_name, f.country, f.segment, f.age, f.tenure_days,
       f.n_orders, f.total_spend, f.avg_order, f.last_order_at, f.n_products, f.n_tickets,
       f.n_urgent,
       CASE WHEN f.total_spend > 1000 THEN 'gold' ELSE 'standard' END AS tier,
       f.total_spend / NULLIF(f.n_orders, 0) AS spend_per_order,
       CAST(f.age AS VARCHAR) AS age_text,
       upper(f.country) AS country_code,
       f.n_tickets > 3 AS is_noisy,
       1 AS model_version
FROM features f
WHERE f.age >= 18
ORDER BY f.total_spend DESC
"""

C = Classification.parse
QUERY_INPUTS = {
    "customers": {
        "id": C("internal"),
        "email": C("confidential+pii"),
        "first_name": C("confidential+pii"),
        "last_name": C("confidential+pii"),
        "country": C("internal"),
        "segment": C("public"),
        "signup_date": C("internal"),
        "birth_year": C("confidential+pii"),
        "deleted_at": C("internal"),
    },
    "orders": {
        "id": C("internal"),
        "customer_id": C("internal"),
        "product_id": C("public"),
        "amount": C("confidential+financial"),
        "status": C("internal"),
        "created_at": C("internal"),
    },
    "tickets": {
        "id": C("internal"),
        "customer_id": C("internal"),
        "priority": C("internal"),
        "body": Classification(),
    },
}
QUERY_SCHEMAS = {table: list(cols) for table, cols in QUERY_INPUTS.items()}


def wide_inputs() -> dict[str, dict[str, Classification]]:
    """A 1,000-column dataset with a realistic mix of tags."""
    specs = ["public", "internal", "internal+ugc", "confidential", "confidential+pii(pseudonymous)"]
    return {
        "wide": {f"col_{i:04d}": C(specs[i % len(specs)]) for i in range(WIDE_COLUMNS)},
    }


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run() -> list[dict[str, object]]:
    inputs = wide_inputs()
    columns = inputs["wide"]
    outputs = [*columns, "score", "prediction"]
    experimentation = DEFAULT_DOMAINS["experimentation"]

    def policy_read() -> object:
        return evaluate_read(experimentation, "churn/wide", "production", columns)

    def propagate() -> object:
        return propagate_python(inputs, outputs)

    def read_propagate_write() -> object:
        evaluate_read(experimentation, "churn/wide", "production", columns)
        result = propagate_python(inputs, outputs)
        produced = {col.name: col.classification for col in result}
        return evaluate_write(experimentation, "churn/features", produced, True)

    def lineage() -> object:
        result = sql_column_lineage(QUERY, QUERY_SCHEMAS)
        assert not result.coarse, result.reason
        return result

    def sql_propagate() -> object:
        return propagate_sql(QUERY, QUERY_INPUTS)

    wide_sql = "SELECT * FROM wide"

    def wide_star() -> object:
        return propagate_sql(wide_sql, inputs)

    n_outputs = len(sql_column_lineage(QUERY, QUERY_SCHEMAS).columns)
    lines = len(QUERY.strip().splitlines())
    return [
        _row("policy read check, 1,000 columns", median_ms(policy_read, 500), None),
        _row("python propagation, 1,000 columns", median_ms(propagate, 500), None),
        _row(
            "read check + propagation + write check, 1,000 cols",
            median_ms(read_propagate_write, 300),
            5.0,
        ),
        _row(
            f"SQL lineage, {lines}-line query, {n_outputs} outputs",
            median_ms(lineage, 100),
            50.0,
        ),
        _row(
            "SQL propagation (lineage + classify), same query", median_ms(sql_propagate, 100), None
        ),
        _row("SQL propagation, SELECT * over 1,000 columns", median_ms(wide_star, 30), None),
    ]


def _row(case: str, ms: float, budget: float | None) -> dict[str, object]:
    ok = None if budget is None else ms <= budget
    return {"case": case, "median_ms": round(ms, 3), "budget_ms": budget, "within_budget": ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args(argv)
    rows = run()
    if args.json:
        json.dump({"benchmark": "governance", "results": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    width = max(len(str(r["case"])) for r in rows)
    print(f"{'case':<{width}}  {'median ms':>10}  {'budget ms':>9}  ok")
    for r in rows:
        budget = "" if r["budget_ms"] is None else f"{r['budget_ms']:.0f}"
        ok = "" if r["within_budget"] is None else ("yes" if r["within_budget"] else "NO")
        print(f"{r['case']:<{width}}  {r['median_ms']:>10.3f}  {budget:>9}  {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
