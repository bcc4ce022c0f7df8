import numpy as np
import pandas as pd
from modeling import evaluate, fit, pick_best, split


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    util = rng.uniform(0, 1, n)
    churned = (rng.uniform(0, 1, n) < 1 - util).astype(int)
    features = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "seat_utilization": util,
            "tickets_total": rng.poisson(2, n),
            "seats": rng.integers(3, 50, n),
        }
    )
    outcomes = pd.DataFrame({"customer_id": np.arange(n), "churned": churned, "upgraded": 0})
    return features, outcomes


def test_models_learn_the_signal_and_beat_random():
    features, outcomes = _frame()
    sets = split(features, outcomes, seed=1)
    assert len(sets["train"]) + len(sets["test"]) == 400
    results = [evaluate(fit(sets, kind=k), sets) for k in ("logreg", "gbm")]
    for r in results:
        assert r["auc"] > 0.6
        assert r["lift_over_random"] > 1.0
    assert pick_best(results)["auc"] == max(r["auc"] for r in results)
