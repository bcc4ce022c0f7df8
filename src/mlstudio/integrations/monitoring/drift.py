"""Per-feature drift tests whose thresholds scale with the sample sizes.

Every test works on counts so that a caller can bin a million rows with Arrow/numpy once and
test many slices cheaply; ``*_samples`` wrappers bin raw arrays for convenience.

- PSI: under no drift ``PSI ≈ (1/n + 1/m)·χ²(B-1)``, so the critical value is
  ``(1/n + 1/m)·χ²_{1-alpha}(B-1)`` and ``p = P(χ²(B-1) > PSI / (1/n + 1/m))``. Fixed cut-offs
  (0.1, 0.25) fire on most no-drift batches at n=100 and on nothing at n=10,000.
- χ²: Pearson homogeneity test of reference vs current counts (categories with an expected
  count below 5 merged first; ``df = k - 1``).
- KS: the effect ``D`` (largest ECDF gap) and the evidence ``p`` are reported separately; the
  test fires only when ``p < alpha`` *and* ``D ≥ effect_floor`` (with big n everything is
  "significant").

``bh`` adjusts one evaluation's family (features x slices) with Benjamini-Hochberg and
``persistent`` is the k-of-last-m rule applied before alerting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError

KINDS = ("psi", "chi2", "ks")
DEFAULT_BINS = 10
DEFAULT_KS_FLOOR = 0.05
_PSI_EPS = 0.5  # pseudo-count added to every bin of both sides before taking logs


@dataclass(frozen=True)
class DriftResult:
    """One test of one feature (in one slice): the statistic, its threshold and evidence."""

    test: str
    statistic: float
    threshold: float
    p_value: float
    n_reference: int
    n_current: int
    effect: float | None = None  # KS D / Cramér's V; None for PSI (the statistic is the effect)
    fired: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "effect": self.effect,
            "fired": self.fired,
        }


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be between 0 and 1, got {alpha}", hint="e.g. 0.05")


def _counts(ref: Sequence[float], cur: Sequence[float]) -> tuple[Any, Any, int, int]:
    import numpy as np

    r = np.asarray(ref, dtype=float)
    c = np.asarray(cur, dtype=float)
    if r.shape != c.shape or r.ndim != 1:
        raise InvalidInputError(
            "reference and current counts must be two lists of the same length",
            hint="count both sides over the same bins",
        )
    if (r < 0).any() or (c < 0).any():
        raise InvalidInputError("counts must be non-negative", hint="pass bin counts")
    return r, c, int(r.sum()), int(c.sum())


def psi_threshold(n: int, m: int, bins: int, alpha: float = 0.05) -> float:
    """The n-aware critical PSI: ``(1/n + 1/m)·χ²_{1-alpha}(bins - 1)``."""
    from scipy.stats import chi2

    _check_alpha(alpha)
    if n <= 0 or m <= 0:
        raise InvalidInputError("PSI needs rows on both sides", hint="check the windows")
    return (1.0 / n + 1.0 / m) * float(chi2.ppf(1 - alpha, max(bins - 1, 1)))


def psi_counts(ref: Sequence[float], cur: Sequence[float], *, alpha: float = 0.05) -> DriftResult:
    """PSI of two count vectors over the same bins, with the n-aware threshold and p-value.

    Every bin of both sides gets a pseudo-count of 0.5 (bins empty on both sides are dropped);
    ``p = P(chi2(B-1) > PSI / (1/n + 1/m))``.
    """
    _check_alpha(alpha)
    r, c, n, m = _counts(ref, cur)
    if n == 0 or m == 0:
        raise InvalidInputError("PSI needs rows on both sides", hint="check the windows")
    value, thr, p = psi_many(r[None, :], c[None, :], alpha=alpha)
    v = float(value[0])
    return DriftResult("psi", v, float(thr[0]), float(p[0]), n, m, None, v > float(thr[0]))


def _merge_rare(r: Any, c: Any, n: int, m: int) -> tuple[Any, Any]:
    """Merge categories whose smaller expected count is below 5 into one 'other' category."""
    import numpy as np

    total = r + c
    expected_min = total * min(n, m) / (n + m)
    rare = expected_min < 5
    if rare.sum() <= 0:
        return r, c
    r2 = np.append(r[~rare], r[rare].sum())
    c2 = np.append(c[~rare], c[rare].sum())
    if r2[-1] + c2[-1] == 0:
        r2, c2 = r2[:-1], c2[:-1]
    return r2, c2


def chi2_counts(ref: Sequence[float], cur: Sequence[float], *, alpha: float = 0.05) -> DriftResult:
    """Pearson χ² homogeneity test; the effect is Cramér's V, the threshold ``χ²_{1-alpha}(k-1)``."""
    import numpy as np
    from scipy.stats import chi2

    r, c, n, m = _counts(ref, cur)
    if n == 0 or m == 0:
        raise InvalidInputError("χ² needs rows on both sides", hint="check the windows")
    r, c = _merge_rare(r, c, n, m)
    k = int(r.size)
    if k < 2:
        return DriftResult("chi2", 0.0, math.inf, 1.0, n, m, 0.0, False)
    total = r + c
    er = total * n / (n + m)
    ec = total * m / (n + m)
    stat = float(np.sum((r - er) ** 2 / er + (c - ec) ** 2 / ec))
    df = k - 1
    p = float(chi2.sf(stat, df))
    crit = float(chi2.ppf(1 - alpha, df))
    v = math.sqrt(stat / (n + m))  # Cramér's V for a 2xk table
    return DriftResult("chi2", stat, crit, p, n, m, v, p < alpha)


def ks_counts(
    ref: Sequence[float],
    cur: Sequence[float],
    *,
    alpha: float = 0.05,
    effect_floor: float = DEFAULT_KS_FLOOR,
) -> DriftResult:
    """Two-sample KS over ordered fine bins: D at the bin edges, p from Kolmogorov's law.

    The statistic is the ECDF gap at the bin edges (a lower bound of the raw-data D that is
    exact when the bins separate every distinct value); ``p`` is the asymptotic
    ``P(K > sqrt(nm/(n+m))·D)`` (slightly conservative at small n). Fires when ``p < alpha``
    and ``D >= floor``.
    """

    _check_alpha(alpha)
    r, c, n, m = _counts(ref, cur)
    if n == 0 or m == 0:
        raise InvalidInputError("KS needs rows on both sides", hint="check the windows")
    d, thr, p = ks_many(r[None, :], c[None, :], alpha=alpha, effect_floor=effect_floor)
    d0, p0 = float(d[0]), float(p[0])
    return DriftResult("ks", d0, float(thr[0]), p0, n, m, d0, p0 < alpha and d0 >= effect_floor)


def ks_many(ref: Any, cur: Any, *, alpha: float = 0.05, effect_floor: float = DEFAULT_KS_FLOOR):
    """Row-wise :func:`ks_counts` over count matrices ``(G, B)`` (``ref`` may be ``(1, B)``):
    arrays of D, threshold and p (NaN where a side has no rows)."""
    import numpy as np
    from scipy.special import kolmogi, kolmogorov

    r = np.asarray(ref, dtype=float)
    c = np.asarray(cur, dtype=float)
    n = r.sum(axis=1, keepdims=True)
    m = c.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.max(np.abs(np.cumsum(r, axis=1) / n - np.cumsum(c, axis=1) / m), axis=1)
        en = (n * m / (n + m))[:, 0]
        p = kolmogorov(np.sqrt(en) * d)
        thr = np.maximum(kolmogi(alpha) / np.sqrt(en), effect_floor)
    return d, thr, p


def psi_many(ref: Any, cur: Any, *, alpha: float = 0.05):
    """Row-wise :func:`psi_counts` over count matrices ``(G, B)`` (``ref`` may be ``(1, B)``):
    arrays of PSI, threshold and p (NaN where a side has no rows)."""
    import numpy as np
    from scipy.stats import chi2

    r = np.asarray(ref, dtype=float)
    c = np.asarray(cur, dtype=float)
    r = np.broadcast_to(r, c.shape)
    keep = (r + c) > 0
    bins = keep.sum(axis=1)
    n = r.sum(axis=1)
    m = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pr = (r + _PSI_EPS) / (n + _PSI_EPS * bins)[:, None]
        pc = (c + _PSI_EPS) / (m + _PSI_EPS * bins)[:, None]
        value = np.where(keep, (pc - pr) * np.log(pc / pr), 0.0).sum(axis=1)
        scale = 1.0 / n + 1.0 / m
        df = np.maximum(bins - 1, 1)
        p = chi2.sf(value / scale, df)
        thr = scale * chi2.ppf(1 - alpha, df)
    return value, thr, p


def quantile_edges(reference: Sequence[float], bins: int = DEFAULT_BINS) -> Any:
    """Inner bin edges at the reference's quantiles (duplicates dropped)."""
    import numpy as np

    if bins < 2:
        raise InvalidInputError(f"bins must be at least 2, got {bins}", hint="e.g. 10")
    ref = np.asarray(reference, dtype=float)
    ref = ref[~np.isnan(ref)]
    if ref.size == 0:
        raise InvalidInputError("the reference has no values", hint="pick a non-empty reference")
    edges = np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1])
    return np.unique(edges)


def bin_counts(values: Sequence[float], edges: Any) -> Any:
    """Counts of ``values`` in the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` (NaN dropped)."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    idx = np.searchsorted(edges, v, side="left")
    return np.bincount(idx, minlength=len(edges) + 1)


def drift_samples(
    reference: Sequence[float],
    current: Sequence[float],
    test: str = "psi",
    *,
    alpha: float = 0.05,
    bins: int = DEFAULT_BINS,
    effect_floor: float = DEFAULT_KS_FLOOR,
) -> DriftResult:
    """One numeric drift test on raw samples (PSI/χ² on reference-quantile bins, KS exact)."""
    import numpy as np

    if test not in KINDS:
        raise InvalidInputError(
            f"unknown drift test {test!r}", hint=f"use one of {', '.join(KINDS)}"
        )
    if test == "ks":
        from scipy.stats import ks_2samp

        r = np.asarray(reference, dtype=float)
        c = np.asarray(current, dtype=float)
        r, c = r[~np.isnan(r)], c[~np.isnan(c)]
        if r.size == 0 or c.size == 0:
            raise InvalidInputError("KS needs rows on both sides", hint="check the windows")
        res = ks_2samp(r, c)
        d, p = float(res.statistic), float(res.pvalue)
        from scipy.stats import kstwo

        crit = float(kstwo.isf(alpha, max(round(r.size * c.size / (r.size + c.size)), 1)))
        return DriftResult(
            "ks",
            d,
            max(crit, effect_floor),
            p,
            int(r.size),
            int(c.size),
            d,
            p < alpha and d >= effect_floor,
        )
    edges = quantile_edges(reference, bins)
    rc, cc = bin_counts(reference, edges), bin_counts(current, edges)
    return psi_counts(rc, cc, alpha=alpha) if test == "psi" else chi2_counts(rc, cc, alpha=alpha)


def category_counts(
    reference: Sequence[Any], current: Sequence[Any]
) -> tuple[list[int], list[int]]:
    """Aligned category counts of two samples (categories unseen on one side count 0 there)."""
    from collections import Counter

    rc, cc = Counter(reference), Counter(current)
    keys = sorted(set(rc) | set(cc), key=str)
    return [rc[k] for k in keys], [cc[k] for k in keys]


def bh(p_values: Sequence[float | None], alpha: float = 0.05) -> list[bool]:
    """Benjamini-Hochberg over one evaluation's family: which hypotheses are rejected at ``alpha``."""
    from mlstudio.integrations.evaluation.multiple import adjust

    _check_alpha(alpha)
    adjusted = adjust(list(p_values), method="bh")
    return [q is not None and q <= alpha for q in adjusted]


def persistent(history: Sequence[bool], k: int, m: int) -> bool:
    """The k-of-last-m rule: at least ``k`` of the last ``m`` windows fired."""
    if not 1 <= k <= m:
        raise InvalidInputError(
            f"persistence needs 1 <= k <= m, got k={k}, m={m}", hint="e.g. k=2, m=3"
        )
    return sum(1 for fired in list(history)[-m:] if fired) >= k
