"""Synthetic B2B SaaS data with a known, learnable churn signal.

Customers buy seats on a plan; weekly usage shows how many seats are active, how deep the
product is used and how many support tickets they raise. Churn is driven (with noise) by low
seat utilization, a declining trend, tickets and short tenure; upgrades by high utilization.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlstudio import Dataset, task, workflow

PLANS = np.array(["starter", "growth", "enterprise"])
INDUSTRIES = np.array(["software", "retail", "finance", "health", "manufacturing", "media"])
REGIONS = np.array(["emea", "na", "apac", "latam"])
#: when the observation ends and the churn score is taken: the Monday the last week of usage
#: closes (00:00 UTC), after the nightly load of that week (02:00); traffic.py scores from here
SCORED_AT = np.datetime64("2026-01-05T06:00:00", "us")
WEEK_CLOSES = np.datetime64("2026-01-05T00:00:00", "us")
LOAD_DELAY = np.timedelta64(2, "h")


def _latent(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    engagement = rng.beta(2.2, 1.6, n)  # how much of the purchase is really used
    trend = rng.normal(0.0, 0.12, n) + (engagement - 0.55) * 0.3
    return {"engagement": engagement, "trend": trend}


@task(
    persist="churn/customers",
    classify={
        "contact_email": "confidential+pii",
        "company": "internal",
        "monthly_revenue": "confidential+financial",
        "*": "internal",
    },
)
def customers(n_customers: int = 4000, seed: int = 7) -> Dataset:
    """Accounts with plan, seats, revenue and a contact email."""
    rng = np.random.default_rng(seed)
    n = n_customers
    plan_idx = rng.choice(3, n, p=[0.5, 0.35, 0.15])
    seats = np.maximum(3, (rng.lognormal(2.3, 0.7, n) * (1 + plan_idx)).astype(int))
    price = np.array([15.0, 32.0, 55.0])[plan_idx]
    tenure = rng.integers(30, 1500, n)
    ids = np.arange(100_000, 100_000 + n)
    table = pa.table(
        {
            "customer_id": ids,
            "company": [f"Company {i}" for i in ids],
            "contact_email": [f"ops{i % 997}@company{i}.example" for i in ids],
            "industry": INDUSTRIES[rng.integers(0, len(INDUSTRIES), n)],
            "region": REGIONS[rng.integers(0, len(REGIONS), n)],
            "plan": PLANS[plan_idx],
            "seats": seats,
            "tenure_days": tenure,
            "monthly_revenue": np.round(seats * price * rng.uniform(0.85, 1.0, n), 2),
        }
    )
    return Dataset.from_arrow(table, name="customers")


@task(
    persist="churn/usage",
    columns={"customers": ["customer_id", "seats"]},
    classify={"*": "internal"},
)
def usage(customers: Dataset, weeks: int = 12, seed: int = 7) -> Dataset:
    """Weekly active seats, feature events and support tickets per customer: ``week_end`` is
    when the week closed (the last one closes on 2026-01-05), ``loaded_at`` when its row
    reached the warehouse (the nightly load, two hours later)."""
    c = customers.to_arrow()
    n = c.num_rows
    latent = _latent(n, seed)
    rng = np.random.default_rng(seed + 1)
    seats = c["seats"].to_numpy()
    rows_customer, rows_week, rows_active, rows_events, rows_tickets = [], [], [], [], []
    rows_end = []
    for week in range(weeks):
        level = np.clip(
            latent["engagement"] + latent["trend"] * (week - weeks / 2) / weeks * 2, 0.02, 1.0
        )
        active = rng.binomial(seats, level)
        events = rng.poisson(np.maximum(active, 1) * (3 + 9 * level))
        tickets = rng.poisson(0.15 + 1.2 * (1 - level) * np.log1p(seats) / 3)
        rows_customer.append(c["customer_id"].to_numpy())
        rows_week.append(np.full(n, week))
        rows_active.append(active)
        rows_events.append(events)
        rows_tickets.append(tickets)
        rows_end.append(np.full(n, WEEK_CLOSES - np.timedelta64(7 * (weeks - 1 - week), "D")))
    table = pa.table(
        {
            "customer_id": np.concatenate(rows_customer),
            "week": np.concatenate(rows_week),
            "week_end": pa.array(np.concatenate(rows_end), pa.timestamp("us", tz="UTC")),
            "loaded_at": pa.array(
                np.concatenate(rows_end) + LOAD_DELAY, pa.timestamp("us", tz="UTC")
            ),
            "active_users": np.concatenate(rows_active),
            "feature_events": np.concatenate(rows_events),
            "support_tickets": np.concatenate(rows_tickets),
        }
    )
    return Dataset.from_arrow(table, name="usage")


@task(
    persist="churn/outcomes",
    columns={"customers": ["customer_id", "tenure_days"]},
    classify={"*": "confidential"},
)
def outcomes(customers: Dataset, seed: int = 7) -> Dataset:
    """Whether each customer churned or upgraded in the quarter after ``label_time`` (when the
    score is taken: the point in time its features are joined at)."""
    c = customers.to_arrow()
    n = c.num_rows
    latent = _latent(n, seed)
    rng = np.random.default_rng(seed + 2)
    tenure = c["tenure_days"].to_numpy()
    logit = (
        1.2
        - 4.2 * latent["engagement"]
        - 6.0 * latent["trend"]
        - 0.0007 * tenure
        + rng.normal(0, 0.6, n)
    )
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    up_logit = -3.0 + 4.0 * latent["engagement"] + 5.0 * latent["trend"] + rng.normal(0, 0.6, n)
    upgraded = (~churned) & (rng.random(n) < 1 / (1 + np.exp(-up_logit)))
    return Dataset.from_arrow(
        pa.table(
            {
                "customer_id": c["customer_id"],
                "churned": churned.astype("int8"),
                "upgraded": upgraded.astype("int8"),
                "label_time": pa.array(np.full(n, SCORED_AT), pa.timestamp("us", tz="UTC")),
            }
        ),
        name="outcomes",
    )


@workflow
def generate(n_customers: int = 4000, weeks: int = 12, seed: int = 7) -> dict:
    """Write churn/customers, churn/usage and churn/outcomes as classified, versioned datasets."""
    accounts = customers(n_customers=n_customers, seed=seed)
    return {
        "customers": accounts,
        "usage": usage(accounts, weeks=weeks, seed=seed),
        "outcomes": outcomes(accounts, seed=seed),
    }
