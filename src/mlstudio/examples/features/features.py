"""Feature building: usage aggregates in SQL (a feature view of the feature store), account
features in Python, joined per customer."""

from __future__ import annotations

import pandas as pd

from mlstudio import Dataset, sql_task, task, workflow
from mlstudio.features import Entity, FeatureView, training_set

#: The usage features of every customer at the close of every week, over the trailing 12
#: weeks: the one definition, read point-in-time by the feature view (training) and at its
#: latest week by ``usage_features`` (scoring).
WEEKLY_USAGE = """
    WITH windowed AS (
        SELECT customer_id, week_end, loaded_at,
               avg(active_users) OVER last12 AS avg_active_users,
               CASE WHEN count(*) OVER last12 = 12  -- a trend needs the full window
                    THEN avg(active_users) OVER last4 - avg(active_users) OVER first4
               END AS active_trend,
               CAST(sum(support_tickets) OVER last12 AS BIGINT) AS tickets_total,
               CAST(sum(feature_events) OVER last12 AS DOUBLE)
                 / greatest(sum(active_users) OVER last12, 1) AS events_per_active_user,
               count(*) OVER last12 AS weeks_observed
        FROM usage
        WINDOW last12 AS (PARTITION BY customer_id ORDER BY week_end
                          ROWS BETWEEN 11 PRECEDING AND CURRENT ROW),
               last4 AS (PARTITION BY customer_id ORDER BY week_end
                         ROWS BETWEEN 3 PRECEDING AND CURRENT ROW),
               first4 AS (PARTITION BY customer_id ORDER BY week_end
                          ROWS BETWEEN 11 PRECEDING AND 8 PRECEDING)
    )
    SELECT t.customer_id, t.week_end, t.loaded_at,
           t.avg_active_users / c.seats AS seat_utilization,
           t.active_trend / c.seats AS active_trend,
           t.tickets_total,
           t.events_per_active_user,
           t.weeks_observed
    FROM windowed t
    JOIN customers c ON c.customer_id = t.customer_id
"""
USAGE_FEATURES = {
    "seat_utilization": "float64",
    "active_trend": "float64",
    "tickets_total": "int64",
    "events_per_active_user": "float64",
    "weeks_observed": "int64",
}

customer = Entity("customer", join_keys={"customer_id": "int64"}, description="A paying account")

customer_usage = FeatureView(
    "customer_usage",
    entity=customer,
    sql=WEEKLY_USAGE,
    inputs={"usage": "churn/usage", "customers": "churn/customers"},
    event_time="week_end",  # the trailing window closes
    knowledge_time="loaded_at",  # the nightly load brings the week in
    max_age="14d",  # a customer without usage for two weeks has no usage features
    features=USAGE_FEATURES,
    owner="platform",
    description="Seat utilization, trend, tickets and depth of use over the trailing 12 weeks",
)

usage_features = sql_task(
    "usage_features",
    f"""
    SELECT customer_id, {", ".join(USAGE_FEATURES)}
    FROM ({WEEKLY_USAGE}) AS weekly
    QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY week_end DESC) = 1
    ORDER BY customer_id
    """,
)


@task(columns={"labels": ["customer_id", "label_time", "churned", "upgraded"]})
def usage_at_label_time(labels: Dataset) -> Dataset:
    """Each label row with the usage features known strictly before its ``label_time`` (the
    point-in-time join of the feature store: never a week loaded after the label)."""
    return training_set(labels, ["churn/customer_usage"], as_of="label_time")


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


@workflow
def training(labels: Dataset, customers: Dataset) -> Dataset:
    """The training table: each label row with its usage features point-in-time (as of its
    ``label_time``, from the ``customer_usage`` view) and its account features."""
    return assemble(usage_at_label_time(labels), account_features(customers))
