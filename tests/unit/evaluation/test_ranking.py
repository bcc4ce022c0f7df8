"""Ranking with paired bootstrap intervals; Bradley-Terry strengths."""

from __future__ import annotations

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.ranking import bradley_terry, rank_candidates


def test_ranking_orders_candidates_and_ties_share_rank_intervals() -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.normal(0.5, 0.15, 400)
    scores = {
        "weak": difficulty - 0.05 + rng.normal(0, 0.03, 400),
        "mid_a": difficulty + rng.normal(0, 0.03, 400),
        "mid_b": difficulty + 0.0005 + rng.normal(0, 0.03, 400),
        "strong": difficulty + 0.05 + rng.normal(0, 0.03, 400),
    }
    ranking = rank_candidates(scores, resamples=500)
    names = [entry.name for entry in ranking]
    assert names[0] == "strong" and names[-1] == "weak"
    by_name = {entry.name: entry for entry in ranking}
    assert by_name["strong"].rank_ci == (1, 1)
    assert by_name["weak"].rank_ci == (4, 4)
    assert by_name["mid_a"].rank_ci == (2, 3) and by_name["mid_b"].rank_ci == (2, 3)
    for entry in ranking:
        assert entry.ci.low < entry.mean < entry.ci.high
        assert entry.rank_ci[0] <= entry.rank <= entry.rank_ci[1]
        assert entry.mean == pytest.approx(float(np.mean(scores[entry.name])))


def test_lower_is_better_reverses_the_ranking() -> None:
    scores = {"x": np.arange(50.0), "y": np.arange(50.0) + 10}
    ranking = rank_candidates(scores, higher_is_better=False, resamples=100)
    assert [e.name for e in ranking] == ["x", "y"]


def test_ranking_refuses_different_lengths() -> None:
    with pytest.raises(InvalidInputError, match="x=3, y=2"):
        rank_candidates({"x": [1.0, 2.0, 3.0], "y": [1.0, 2.0]})


def _simulate(strengths: dict[str, float], games: int, seed: int):
    rng = np.random.default_rng(seed)
    names = list(strengths)
    comparisons = []
    for _ in range(games):
        i, j = rng.choice(len(names), size=2, replace=False)
        p = 1 / (1 + np.exp(-(strengths[names[i]] - strengths[names[j]])))
        u = rng.uniform()
        outcome = 0.5 if abs(u - p) < 0.03 else float(u < p)
        comparisons.append((names[i], names[j], outcome))
    return comparisons


def test_bradley_terry_matches_logistic_regression_mle() -> None:
    from sklearn.linear_model import LogisticRegression

    truth = {"a": 1.0, "b": 0.3, "c": 0.0, "d": -1.3}
    comparisons = _simulate(truth, 3000, seed=1)
    fitted = bradley_terry(comparisons, resamples=50)
    names = [name for name, _, _ in fitted]
    assert names == ["a", "b", "c", "d"]
    strengths = {name: s for name, s, _ in fitted}
    assert sum(strengths.values()) == pytest.approx(0.0, abs=1e-9)
    # reference: logistic regression on +1/-1 design rows, ties as two half-weighted rows
    index = {name: k for k, name in enumerate(sorted(truth))}
    rows, targets, weights = [], [], []
    for a, b, y in comparisons:
        row = np.zeros(len(index))
        row[index[a]], row[index[b]] = 1.0, -1.0
        for target, weight in ((1, y), (0, 1 - y)):
            if weight:
                rows.append(row)
                targets.append(target)
                weights.append(weight)
    model = LogisticRegression(fit_intercept=False, C=1e6, max_iter=1000)
    model.fit(np.array(rows), np.array(targets), sample_weight=np.array(weights))
    ref = model.coef_[0] - model.coef_[0].mean()
    for name, k in index.items():
        assert strengths[name] == pytest.approx(ref[k], abs=0.01)
    for name, s, ci in fitted:
        assert ci.low < s < ci.high
        assert ci.low < truth[name] - np.mean(list(truth.values())) < ci.high


def test_bradley_terry_keeps_a_never_winner_finite() -> None:
    comparisons = [("a", "b", 1.0)] * 10 + [("b", "c", 0.5)] * 4
    fitted = dict((name, s) for name, s, _ in bradley_terry(comparisons, resamples=20))
    assert all(np.isfinite(list(fitted.values())))
    assert fitted["a"] > fitted["b"]


def test_bradley_terry_refuses_bad_outcomes() -> None:
    with pytest.raises(InvalidInputError, match="outcome must be between 0 and 1"):
        bradley_terry([("a", "b", 2.0)])
    with pytest.raises(InvalidInputError, match="compared with itself"):
        bradley_terry([("a", "a", 1.0)])
