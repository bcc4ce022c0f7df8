"""Drift tests on seeded simulated streams: calibrated under no drift at every n, power on 0.2sigma."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.monitoring.drift import (
    bh,
    bin_counts,
    category_counts,
    chi2_counts,
    drift_samples,
    ks_counts,
    persistent,
    psi_counts,
    psi_threshold,
    quantile_edges,
)

ALPHA = 0.05


def _binned(rng: np.random.Generator, n: int, shift: float = 0.0, bins: int = 10):
    ref = rng.normal(size=n)
    cur = rng.normal(loc=shift, size=n)
    edges = quantile_edges(ref, bins)
    return bin_counts(ref, edges), bin_counts(cur, edges)


def _rate(fired: list[bool]) -> float:
    return sum(fired) / len(fired)


@pytest.mark.parametrize("n,trials", [(100, 600), (1_000, 400), (10_000, 200)])
def test_no_drift_fires_at_most_alpha_per_feature(n: int, trials: int) -> None:
    rng = np.random.default_rng(n)
    psi, chi2, ks = [], [], []
    for _ in range(trials):
        r, c = _binned(rng, n)
        psi.append(psi_counts(r, c, alpha=ALPHA).fired)
        chi2.append(chi2_counts(r, c, alpha=ALPHA).fired)
        rf, cf = _binned(rng, n, bins=100)
        ks.append(ks_counts(rf, cf, alpha=ALPHA).fired)
    allowed = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / trials)  # alpha ± simulation error
    assert _rate(psi) <= allowed
    assert _rate(chi2) <= allowed
    assert _rate(ks) <= allowed


def test_the_fixed_psi_cutoff_is_what_misleads_at_small_n() -> None:
    rng = np.random.default_rng(7)
    values = [psi_counts(*_binned(rng, 100)).statistic for _ in range(300)]
    assert _rate([v > 0.1 for v in values]) > 0.5  # "PSI > 0.1" fires on most no-drift batches
    assert _rate([v > psi_threshold(100, 100, 10) for v in values]) <= 0.1


def test_psi_threshold_is_the_n_aware_formula() -> None:
    from scipy.stats import chi2

    assert psi_threshold(100, 100, 10) == pytest.approx(0.02 * chi2.ppf(0.95, 9))
    assert psi_threshold(100, 100, 10) == pytest.approx(0.338, abs=0.001)
    assert psi_threshold(10_000, 10_000, 10) == pytest.approx(0.0034, abs=0.0001)


def test_a_fifth_sigma_mean_shift_at_n_10000_is_caught() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        r, c = _binned(rng, 10_000, shift=0.2)
        assert psi_counts(r, c).fired
        assert chi2_counts(r, c).fired
        rf, cf = _binned(rng, 10_000, shift=0.2, bins=100)
        assert ks_counts(rf, cf).fired
    ref, cur = np.random.default_rng(1).normal(size=(2, 10_000))
    res = drift_samples(ref, cur + 0.2, "ks")
    assert res.fired and res.effect == pytest.approx(0.08, abs=0.02)


def test_ks_reports_effect_and_evidence_separately_and_gates_on_the_floor() -> None:
    rng = np.random.default_rng(5)
    ref = rng.normal(size=200_000)
    cur = rng.normal(loc=0.05, size=200_000)
    res = drift_samples(ref, cur, "ks", effect_floor=0.05)
    assert res.p_value < 1e-6  # overwhelming evidence ...
    assert res.effect is not None and res.effect < 0.05  # ... of a tiny effect
    assert not res.fired
    assert drift_samples(ref, cur, "ks", effect_floor=0.0).fired


def test_categorical_chi2_merges_rare_categories_and_sees_a_mix_change() -> None:
    rng = np.random.default_rng(3)
    cats = ["a", "b", "c", "d"]
    ref = rng.choice(cats, size=2_000, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    same = rng.choice(cats, size=2_000, p=[0.4, 0.3, 0.2, 0.1]).tolist()
    moved = rng.choice(cats, size=2_000, p=[0.3, 0.3, 0.2, 0.2]).tolist()
    assert not chi2_counts(*category_counts(ref, same)).fired
    res = chi2_counts(*category_counts(ref, moved))
    assert res.fired and res.effect is not None and res.effect > 0.05
    # two rare categories (expected count < 5) are merged into one: df = 4 - 1 not 5 - 1
    r, c = category_counts([*ref, "x", "y"], [*same, "y"])
    merged = chi2_counts(r, c)
    from scipy.stats import chi2

    assert merged.threshold == pytest.approx(chi2.ppf(0.95, 4))


def test_benjamini_hochberg_over_one_family() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    # BH at 0.05: largest i with p_(i) <= i/m * q is i=2 (0.008 <= 0.01; 0.039 > 0.015)
    assert bh(p) == [True, True] + [False] * 8
    assert bh([0.01, None, 0.02]) == [True, False, True]


def test_persistence_is_k_of_the_last_m_windows() -> None:
    assert persistent([True, False, True], k=2, m=3)
    assert not persistent([True, True, False, False, True], k=2, m=3)
    assert not persistent([], k=1, m=1)
    with pytest.raises(InvalidInputError, match="k <= m"):
        persistent([True], k=3, m=2)


def test_bad_input_is_one_line_errors() -> None:
    with pytest.raises(InvalidInputError, match="alpha"):
        psi_threshold(10, 10, 10, alpha=1.5)
    with pytest.raises(InvalidInputError, match="same length"):
        psi_counts([1, 2], [1, 2, 3])
    with pytest.raises(InvalidInputError, match="both sides"):
        chi2_counts([0, 0], [1, 2])
    with pytest.raises(InvalidInputError, match="unknown drift test"):
        drift_samples([1.0], [1.0], "wasserstein")
    with pytest.raises(InvalidInputError, match="no values"):
        quantile_edges([float("nan")])
