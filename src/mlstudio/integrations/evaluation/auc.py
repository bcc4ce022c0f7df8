"""Paired comparison of two ROC AUCs on the same items: DeLong's test, O(n log n).

The structural components come from midranks (Sun & Xu 2014): for positives ``X`` and negatives
``Y``, ``V10_i = (rank of X_i among all - rank among positives) / n_neg`` and
``V01_j = 1 - (rank of Y_j among all - rank among negatives) / n_pos``; the AUC covariance is
``cov(V10) / n_pos + cov(V01) / n_neg``. Intervals are normal; a candidate's AUC interval is clipped
to [0, 1]. ``mde`` / ``required_n`` treat ``var(delta) * n`` as the per-item variance (the class
balance is assumed to stay the same).
"""

from __future__ import annotations

import math
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.stats import (
    Interval,
    PairedResult,
    Summary,
    as_scores,
    power_figures,
    verdict,
)


def _components(scores: Any, positives: int) -> tuple[Any, Any, Any]:
    """AUCs (k,), V10 (k, m) and V01 (k, n) for score rows ``scores`` (k, m + n), positives first."""
    from scipy.stats import rankdata

    m = positives
    total = rankdata(scores, axis=1)
    within_pos = rankdata(scores[:, :m], axis=1)
    within_neg = rankdata(scores[:, m:], axis=1)
    n = scores.shape[1] - m
    v10 = (total[:, :m] - within_pos) / n
    v01 = 1.0 - (total[:, m:] - within_neg) / m
    aucs = v10.mean(axis=1)
    return aucs, v10, v01


def delong_compare(
    y_true: Any,
    score_a: Any,
    score_b: Any,
    *,
    margin: float = 0.0,
    confidence: float = 0.95,
    power: float = 0.8,
) -> PairedResult:
    """DeLong test of AUC(b) - AUC(a) on the same items (``y_true`` 0/1, higher score = class 1)."""
    import numpy as np
    from scipy.stats import norm

    if not (math.isfinite(margin) and margin >= 0.0):
        raise InvalidInputError(f"margin must be non-negative, got {margin}", hint="e.g. 0.01")
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(f"confidence must be in (0, 1), got {confidence}", hint="0.95")
    y = as_scores(y_true, "y_true")
    sa, sb = as_scores(score_a, "score_a"), as_scores(score_b, "score_b")
    if not len(y) == len(sa) == len(sb):
        raise InvalidInputError(
            f"y_true has {len(y)} labels, score_a {len(sa)} scores, score_b {len(sb)}",
            hint="score both candidates on the same labelled items, in the same order",
        )
    notes: list[str] = []
    keep = ~(np.isnan(y) | np.isnan(sa) | np.isnan(sb))
    if not keep.all():
        notes.append(f"{int((~keep).sum())} items with NaN labels or scores dropped")
        y, sa, sb = y[keep], sa[keep], sb[keep]
    if not np.isin(y, (0.0, 1.0)).all():
        raise InvalidInputError(
            "y_true must be 0/1 labels", hint="map the positive class to 1 and the rest to 0"
        )
    pos = y == 1.0
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        raise InvalidInputError(
            f"AUC needs both classes: {m} positives and {n} negatives",
            hint="evaluate on a set that contains both classes",
        )
    order = np.concatenate([np.flatnonzero(pos), np.flatnonzero(~pos)])
    scores = np.vstack([sa[order], sb[order]])
    aucs, v10, v01 = _components(scores, m)
    s10 = np.cov(v10) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(v01) if n > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / n
    z = float(norm.ppf(0.5 + confidence / 2.0))

    def summary(k: int) -> Summary:
        se = math.sqrt(max(float(cov[k, k]), 0.0))
        auc = float(aucs[k])
        return Summary(m + n, auc, se, Interval(max(0.0, auc - z * se), min(1.0, auc + z * se)))

    delta = float(aucs[1] - aucs[0])
    var = max(float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]), 0.0)
    se = math.sqrt(var)
    if se <= 1e-15:
        se = 0.0
    testable = not (se == 0.0 and delta == 0.0)
    p_value: float | None
    if not testable:
        notes.append("zero variance: the two scores rank the items identically")
        p_value, test = None, "none"
    elif se == 0.0:
        notes.append(f"zero variance: the AUC difference is {delta:.6g} with no spread")
        p_value, test = 0.0, "delong"
    else:
        p_value, test = float(2.0 * norm.sf(abs(delta) / se)), "delong"
    ci = Interval(delta - z * se, delta + z * se)
    items = m + n
    mde, needed = power_figures(delta, se, items, margin=margin, confidence=confidence, power=power)
    notes.append(f"{m} positives, {n} negatives")
    return PairedResult(
        n=items,
        a=summary(0),
        b=summary(1),
        delta=delta,
        delta_se=se,
        delta_ci=ci,
        p_value=p_value,
        test=test,
        n_clusters=None,
        higher_is_better=True,
        margin=float(margin),
        verdict=verdict(ci.low, ci.high, higher_is_better=True, margin=margin, testable=testable),
        mde=mde if testable else None,
        required_n=needed if testable else None,
        notes=tuple(notes),
        confidence=confidence,
    )
