"""Feature building: usage aggregates in SQL, account features in Python, joined per customer."""

from __future__ import annotations

import pandas as pd

from mlstudio import Dataset, sql_task, task, workflow

usage_features = sql_task(
    "usage_features",
    """
    WITH agg AS (
        SELECT customer_id,
               avg(active_users) AS avg_active_users,
               avg(CASE WHEN week >= 8 THEN active_users END)
                 - avg(CASE WHEN week < 4 THEN active_users END) AS active_trend,
               CAST(sum(support_tickets) AS BIGINT) AS tickets_total,
               CAST(sum(feature_events) AS DOUBLE) / greatest(sum(active_users), 1) AS events_per_active_user,
               count(*) AS weeks_observed
        FROM usage
        GROUP BY customer_id
    )
    SELECT c.customer_id,
           a.avg_active_users / c.seats AS seat_utilization,
           a.active_trend / c.seats AS active_trend,
           a.tickets_total,
           a.events_per_active_user,
           a.weeks_observed
    FROM customers c
    JOIN agg a ON a.customer_id = c.customer_id
    ORDER BY c.customer_id
    """,
)


@task(
    # Governance: the only columns this task is handed (contact_email never reaches it), and
    # exact lineage for the columns it creates (otherwise each gets the union of all inputs).
    columns={"customers": ["customer_id", "plan", "seats", "tenure_days", "monthly_revenue"]},
    lineage={
        "revenue_per_seat": ["customers.monthly_revenue", "customers.seats"],
        "plan_starter": ["customers.plan"],
        "plan_growth": ["customers.plan"],
        "plan_enterprise": ["customers.plan"],
    },
)
def account_features(customers: pd.DataFrame) -> pd.DataFrame:
    """Plan, size and revenue features."""
    out = pd.DataFrame({"customer_id": customers["customer_id"]})
    out["seats"] = customers["seats"]
    out["tenure_days"] = customers["tenure_days"]
    out["revenue_per_seat"] = customers["monthly_revenue"] / customers["seats"]
    for plan in ("starter", "growth", "enterprise"):
        out[f"plan_{plan}"] = (customers["plan"] == plan).astype("int8")
    return out


@task
def assemble(usage_feats: pd.DataFrame, account_feats: pd.DataFrame) -> pd.DataFrame:
    """One row per customer with every feature."""
    return account_feats.merge(usage_feats, on="customer_id", how="inner").sort_values(
        "customer_id"
    )


@workflow
def build(customers: Dataset, usage: Dataset) -> Dataset:
    """The full feature table for a set of customers and their usage."""
    return assemble(usage_features(customers=customers, usage=usage), account_features(customers))
