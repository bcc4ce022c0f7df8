"""DeLong paired AUC comparison: AUCs vs sklearn, variance vs the O(mn) definition, coverage."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.auc import delong_compare


def _binormal(rng: np.random.Generator, n: int, shift_a: float, shift_b: float):
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)  # the two models see the same items: correlated scores
    score_a = shift_a * y + 0.7 * shared + math.sqrt(1 - 0.49) * rng.normal(size=n)
    score_b = shift_b * y + 0.7 * shared + math.sqrt(1 - 0.49) * rng.normal(size=n)
    return y, score_a, score_b


def _delong_by_definition(y, sa, sb):
    """Covariance of the two AUCs from the pairwise kernel, O(m n) (DeLong et al. 1988)."""
    pos, neg = y == 1, y == 0
    comps10, comps01 = [], []
    for s in (sa, sb):
        x, z = s[pos][:, None], s[neg][None, :]
        psi = (x > z) + 0.5 * (x == z)
        comps10.append(psi.mean(axis=1))
        comps01.append(psi.mean(axis=0))
    cov = np.cov(np.vstack(comps10)) / pos.sum() + np.cov(np.vstack(comps01)) / neg.sum()
    return cov


def test_aucs_match_sklearn_and_variance_matches_the_definition() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y, sa, sb = _binormal(rng, 400, 0.8, 1.1)
    sa = np.round(sa, 1)  # ties
    result = delong_compare(y, sa, sb)
    assert result.a.mean == pytest.approx(roc_auc_score(y, sa), abs=1e-12)
    assert result.b.mean == pytest.approx(roc_auc_score(y, sb), abs=1e-12)
    cov = _delong_by_definition(y, sa, sb)
    assert result.delta_se == pytest.approx(math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]))
    assert result.a.se == pytest.approx(math.sqrt(cov[0, 0]))
    z = (result.b.mean - result.a.mean) / result.delta_se
    assert result.p_value == pytest.approx(2 * norm.sf(abs(z)))
    assert result.test == "delong"


def test_delta_interval_coverage_in_a_seeded_simulation() -> None:
    shift_a, shift_b = 0.8, 1.0
    true_delta = norm.cdf(shift_b / math.sqrt(2)) - norm.cdf(shift_a / math.sqrt(2))
    covered, reps = 0, 300
    for rep in range(reps):
        y, sa, sb = _binormal(np.random.default_rng(1000 + rep), 300, shift_a, shift_b)
        ci = delong_compare(y, sa, sb).delta_ci
        covered += ci.low <= true_delta <= ci.high
    assert 0.92 <= covered / reps <= 0.98, covered


def test_clear_improvement_is_better_and_margin_gives_non_inferior() -> None:
    rng = np.random.default_rng(3)
    y, sa, sb = _binormal(rng, 2000, 0.5, 1.5)
    assert delong_compare(y, sa, sb).verdict == "better"
    y, sa, sb = _binormal(rng, 4000, 1.0, 1.0)
    near = delong_compare(y, sa, sb, margin=0.05)
    assert near.verdict == "non-inferior"
    assert near.mde is not None and near.mde > 0


def test_one_class_is_refused_naming_the_counts() -> None:
    with pytest.raises(InvalidInputError, match="3 positives and 0 negatives"):
        delong_compare([1, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def test_nan_items_are_dropped_and_identical_scores_are_untestable() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0], dtype=float)
    s = np.array([0.1, 0.9, 0.3, 0.6, np.nan, 0.2, 0.8, 0.4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = delong_compare(y, s, s.copy())
    assert result.n == 7
    assert any("1 items with NaN" in note for note in result.notes)
    assert result.verdict == "untestable" and result.p_value is None
    assert result.delta == 0.0


def test_bad_labels_and_lengths_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="0/1"):
        delong_compare([0, 2, 1], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(InvalidInputError, match="score_b 2"):
        delong_compare([0, 1, 1], [0.1, 0.2, 0.3], [0.3, 0.2])
