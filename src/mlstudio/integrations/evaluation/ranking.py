"""More than two candidates: a ranking with bootstrap intervals, and Bradley-Terry strengths.

``rank_candidates`` resamples items once per bootstrap draw and applies the same draw to every
candidate (a paired bootstrap), so the rank intervals reflect how often candidates swap places
on the same data. Ranks are 1 = best; ties share the better rank. Intervals are percentiles.

``bradley_terry`` fits log-strengths ``theta`` with ``P(a beats b) = sigmoid(theta_a - theta_b)``
by penalised maximum likelihood (a tiny ridge, 1e-3, keeps a candidate that never wins finite),
ties counting half a win for each side; strengths are centred at 0 and the intervals are
percentiles of refits on comparisons resampled with replacement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.stats import Interval, as_scores

_RIDGE = 1e-3


@dataclass(frozen=True)
class RankEntry:
    name: str
    mean: float
    ci: Interval
    rank: int
    rank_ci: tuple[int, int]


def _ranks(means: Any, higher_is_better: bool) -> Any:
    from scipy.stats import rankdata

    return rankdata(-means if higher_is_better else means, method="min", axis=-1).astype(int)


def rank_candidates(
    scores: Mapping[str, Any],
    *,
    higher_is_better: bool = True,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[RankEntry]:
    """Candidates ordered by mean score, each with a mean CI and a rank interval.

    ``scores``: name -> per-item scores, all on the same items in the same order. Items where any
    candidate's score is NaN are dropped (every candidate is then ranked on the same items).
    """
    import numpy as np

    if len(scores) < 1:
        raise InvalidInputError("no candidates to rank", hint="pass name -> per-item scores")
    if resamples < 10:
        raise InvalidInputError(f"resamples must be at least 10, got {resamples}", hint="1000")
    names = list(scores)
    columns = [as_scores(scores[name], name) for name in names]
    lengths = {len(c) for c in columns}
    if len(lengths) != 1:
        sizes = ", ".join(f"{name}={len(c)}" for name, c in zip(names, columns, strict=True))
        raise InvalidInputError(
            f"candidates have different numbers of scores: {sizes}",
            hint="score every candidate on the same items, in the same order",
        )
    matrix = np.column_stack(columns)
    matrix = matrix[~np.isnan(matrix).any(axis=1)]
    n = len(matrix)
    if n == 0:
        raise InvalidInputError("no item has a score for every candidate", hint="check NaNs")
    means = matrix.mean(axis=0)
    point = _ranks(means, higher_is_better)
    rng = np.random.default_rng(seed)
    rows = max(1, 1_000_000 // (n * len(names)))
    boot = []
    for start in range(0, resamples, rows):
        idx = rng.integers(0, n, size=(min(rows, resamples - start), n))
        boot.append(matrix[idx].mean(axis=1))
    boot_means = np.concatenate(boot)  # (B, k)
    boot_ranks = _ranks(boot_means, higher_is_better)
    tails = ((1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0)
    mean_q = np.quantile(boot_means, tails, axis=0)
    rank_q = np.quantile(boot_ranks, tails, axis=0, method="inverted_cdf")
    entries = [
        RankEntry(
            name=name,
            mean=float(means[k]),
            ci=Interval(float(mean_q[0, k]), float(mean_q[1, k])),
            rank=int(point[k]),
            rank_ci=(int(rank_q[0, k]), int(rank_q[1, k])),
        )
        for k, name in enumerate(names)
    ]
    return sorted(entries, key=lambda e: (e.rank, e.name))


def _fit(wins: Any, k: int) -> Any:
    """Log-strengths from ``wins[i, j]`` (i's wins over j, ties as halves), centred at 0."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    games = wins + wins.T

    def objective(theta: Any) -> tuple[float, Any]:
        diff = theta[:, None] - theta[None, :]
        loglik = float((wins * log_expit(diff)).sum())
        resid = wins - games * expit(diff)  # d loglik / d diff_ij
        grad = resid.sum(axis=1) - resid.sum(axis=0)
        return -loglik + 0.5 * _RIDGE * float(theta @ theta), -grad + _RIDGE * theta

    found = minimize(objective, np.zeros(k), jac=True, method="L-BFGS-B")
    theta = found.x
    return theta - theta.mean()


def bradley_terry(
    comparisons: Sequence[tuple[str, str, float]],
    *,
    resamples: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[tuple[str, float, Interval]]:
    """(name, log-strength, CI) per candidate, strongest first, from pairwise outcomes.

    Each comparison is ``(a, b, outcome)`` with outcome 1 when a wins, 0 when b wins, 0.5 a tie.
    """
    import numpy as np

    if not comparisons:
        raise InvalidInputError("no comparisons", hint="pass (a, b, outcome) tuples")
    names: dict[str, int] = {}
    left, right, outcome = [], [], []
    for row in comparisons:
        try:
            a, b, y = row
            y = float(y)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"a comparison must be (a, b, outcome), got {row!r}", hint="outcome 1, 0 or 0.5"
            ) from None
        if not (0.0 <= y <= 1.0) or math.isnan(y):
            raise InvalidInputError(
                f"outcome must be between 0 and 1, got {y} for {a!r} vs {b!r}",
                hint="1 = a wins, 0 = b wins, 0.5 = tie",
            )
        if a == b:
            raise InvalidInputError(f"{a!r} is compared with itself", hint="drop that comparison")
        left.append(names.setdefault(a, len(names)))
        right.append(names.setdefault(b, len(names)))
        outcome.append(y)
    k = len(names)
    li, ri, yy = np.array(left), np.array(right), np.array(outcome)

    def wins_matrix(sel: Any) -> Any:
        flat = np.bincount(li[sel] * k + ri[sel], weights=yy[sel], minlength=k * k)
        flat = flat + np.bincount(ri[sel] * k + li[sel], weights=1.0 - yy[sel], minlength=k * k)
        return flat.reshape(k, k)

    everything = np.arange(len(yy))
    theta = _fit(wins_matrix(everything), k)
    rng = np.random.default_rng(seed)
    boot = np.array(
        [_fit(wins_matrix(rng.integers(0, len(yy), size=len(yy))), k) for _ in range(resamples)]
    )
    tails = ((1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0)
    q = np.quantile(boot, tails, axis=0) if resamples else np.vstack([theta, theta])
    out = [
        (name, float(theta[i]), Interval(float(q[0, i]), float(q[1, i])))
        for name, i in names.items()
    ]
    return sorted(out, key=lambda entry: (-entry[1], entry[0]))
