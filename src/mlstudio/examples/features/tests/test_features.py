import pandas as pd
import pyarrow as pa
from features import account_features, assemble, usage_features

from mlstudio import Dataset

CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [1, 2],
        "contact_email": ["a@x.example", "b@y.example"],
        "plan": ["starter", "enterprise"],
        "seats": [10, 4],
        "tenure_days": [100, 900],
        "monthly_revenue": [150.0, 220.0],
    }
)
WEEKS = pd.date_range("2025-10-20", periods=12, freq="7D", tz="UTC")
USAGE = pd.DataFrame(
    {
        "customer_id": [1] * 12 + [2] * 12,
        "week": list(range(12)) * 2,
        "week_end": list(WEEKS) * 2,
        "loaded_at": list(WEEKS + pd.Timedelta(hours=2)) * 2,
        "active_users": [5] * 4 + [4] * 4 + [3] * 4 + [4] * 12,
        "feature_events": [50] * 24,
        "support_tickets": [1] + [0] * 10 + [2] + [0] * 12,
    }
)


def test_usage_features_are_the_latest_week_of_the_trailing_window():
    out = usage_features(
        customers=Dataset(pa.Table.from_pandas(CUSTOMERS)),
        usage=Dataset(pa.Table.from_pandas(USAGE)),
    ).to_pandas()
    assert list(out["customer_id"]) == [1, 2]  # one row per customer: its latest week
    row = out.set_index("customer_id").loc[1]
    assert row["seat_utilization"] == 0.4
    assert row["tickets_total"] == 3
    assert row["active_trend"] == (3 - 5) / 10  # last four weeks against the first four
    assert row["weeks_observed"] == 12


def test_the_view_sql_gives_every_week_its_own_trailing_values():
    from features import WEEKLY_USAGE

    from mlstudio.data.sql import run_sql

    weekly = run_sql(
        WEEKLY_USAGE,
        {"usage": pa.Table.from_pandas(USAGE), "customers": pa.Table.from_pandas(CUSTOMERS)},
    ).to_pandas()
    first = weekly[weekly["customer_id"] == 1].sort_values("week_end")
    assert len(first) == 12
    assert list(first["weeks_observed"]) == list(range(1, 13))
    assert first["tickets_total"].iloc[0] == 1  # the second ticket came in the last week
    assert first["active_trend"].iloc[:11].isna().all()  # a trend needs all 12 weeks
    assert first["active_trend"].iloc[11] == (3 - 5) / 10


def test_account_features_never_carry_the_email():
    out = account_features(CUSTOMERS)
    assert list(out["plan_enterprise"]) == [0, 1]
    assert "contact_email" not in out.columns
    assert list(out["revenue_per_seat"]) == [15.0, 55.0]
    joined = assemble(pd.DataFrame({"customer_id": [2, 1], "x": [1, 2]}), out)
    assert list(joined["customer_id"]) == [1, 2]
