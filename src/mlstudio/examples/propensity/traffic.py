"""Simulated scoring requests, for the monitoring walkthrough (docs/monitoring.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlstudio import predict, task

START = "2026-01-05T00:00:00Z"  # a Monday


@task(persist="churn/scoring-requests")
def scoring_requests(
    features: pd.DataFrame,
    days: int = 70,
    per_day: int = 200,
    change_day: int = 56,
    seed: int = 7,
) -> pd.DataFrame:
    """``per_day`` accounts a day drawn from the feature table, each stamped with the time it was
    scored (``at``), for ``days`` days from 2026-01-05. From day ``change_day`` on, a pricing
    change leaves seats idle: seat utilization halves, so churn scores rise for good."""
    if not 0 < per_day <= len(features) or days < 1:
        raise ValueError(f"need 1 <= per_day <= {len(features)} and days >= 1")
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(START)
    days_out = []
    for day in range(days):
        rows = features.iloc[rng.choice(len(features), per_day, replace=False)].copy()
        seconds = np.sort(rng.uniform(0, 86_400, per_day))
        rows.insert(0, "at", start + pd.Timedelta(days=day) + pd.to_timedelta(seconds, unit="s"))
        if day >= change_day:
            rows["seat_utilization"] = rows["seat_utilization"] * 0.5
        days_out.append(rows)
    return pd.concat(days_out, ignore_index=True)


@task(persist="churn/scored-requests")
def score(requests: pd.DataFrame, model: str = "models:/churn-propensity@champion") -> Any:
    """Batch-score the requests with the champion, as a nightly job would: the input's columns,
    ``prediction`` and ``model_version``. A cached result is reused only while the alias names
    the version it was scored with."""
    return predict(model, requests)
