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
USAGE = pd.DataFrame(
    {
        "customer_id": [1, 1, 2, 2],
        "week": [0, 9, 0, 9],
        "active_users": [5, 3, 4, 4],
        "feature_events": [50, 30, 80, 80],
        "support_tickets": [1, 2, 0, 0],
    }
)


def test_usage_features_sql_aggregates_per_customer():
    out = usage_features(
        customers=Dataset(pa.Table.from_pandas(CUSTOMERS)),
        usage=Dataset(pa.Table.from_pandas(USAGE)),
    ).to_pandas()
    row = out.set_index("customer_id").loc[1]
    assert row["seat_utilization"] == 0.4
    assert row["tickets_total"] == 3
    assert row["active_trend"] == (3 - 5) / 10


def test_account_features_never_carry_the_email():
    out = account_features(CUSTOMERS)
    assert list(out["plan_enterprise"]) == [0, 1]
    assert "contact_email" not in out.columns
    assert list(out["revenue_per_seat"]) == [15.0, 55.0]
    joined = assemble(pd.DataFrame({"customer_id": [2, 1], "x": [1, 2]}), out)
    assert list(joined["customer_id"]) == [1, 2]
