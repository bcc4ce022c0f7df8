"""Paired comparison: coverage, the research example, agreement with scipy/statsmodels, faults."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.stats import (
    mcnemar_pvalue,
    paired_compare,
    paired_compare_statistic,
    sign_flip_pvalue,
)


def research_example(seed: int = 2024, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Per-document ROUGE-like scores sharing a difficulty (corr ~0.92), true lift +0.01."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.35, 0.125, n)
    noise = 0.052 / math.sqrt(2.0)
    a = difficulty + rng.normal(0.0, noise, n)
    b = difficulty + 0.01 + rng.normal(0.0, noise, n)
    return a, b


# --- statistical correctness -------------------------------------------------------------------
def test_bca_interval_covers_the_true_delta_in_93_to_97_percent_of_400_simulations() -> None:
    true_delta = 0.01
    covered = 0
    for rep in range(400):
        a, b = research_example(seed=10_000 + rep, n=200)  # shared difficulty, true lift 0.01
        result = paired_compare(a, b, resamples=1000, permutations=99, seed=rep)
        covered += result.delta_ci.low <= true_delta <= result.delta_ci.high
    assert 0.93 <= covered / 400 <= 0.97, covered


def test_research_example_paired_detects_what_unpaired_misses() -> None:
    a, b = research_example()
    assert np.corrcoef(a, b)[0, 1] > 0.85
    result = paired_compare(a, b, seed=1)
    welch = stats.ttest_ind(b, a, equal_var=False)
    assert result.p_value is not None and result.p_value < 0.05
    assert welch.pvalue > 0.05
    assert result.verdict == "better"
    assert result.delta_ci.low > 0
    # the paired SE is several times narrower than the unpaired one
    unpaired_se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    assert result.delta_se * 2.5 < unpaired_se


def test_permutation_p_matches_scipy_within_monte_carlo_error() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(0.5, 0.1, 80)
    b = a + rng.normal(0.02, 0.08, 80)
    ours = paired_compare(a, b, permutations=9999, seed=5)
    ref = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        permutation_type="samples",
        n_resamples=9999,
        vectorized=True,
        random_state=7,
    )
    assert ours.test == "paired permutation"
    assert ours.p_value is not None
    p = ref.pvalue
    mc_se = math.sqrt(max(p * (1 - p), 1e-4) / 9999)
    assert abs(ours.p_value - p) < 5 * math.sqrt(2) * mc_se, (ours.p_value, p)
    assert 0.001 < p < 0.5  # the comparison is in a range where it means something


def test_bca_interval_is_close_to_scipy_bootstrap_bca() -> None:
    a, b = research_example(seed=11, n=150)
    ours = paired_compare(a, b, resamples=4000, seed=2)
    ref = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        method="BCa",
        n_resamples=4000,
        random_state=3,
    ).confidence_interval
    width = ref.high - ref.low
    assert abs(ours.delta_ci.low - ref.low) < 0.08 * width
    assert abs(ours.delta_ci.high - ref.high) < 0.08 * width
    assert ours.delta == pytest.approx(np.mean(b - a))
    assert ours.delta_se == pytest.approx(stats.sem(b - a))


@pytest.mark.parametrize("discordant", [(3, 9), (20, 38)])
def test_mcnemar_matches_statsmodels(discordant: tuple[int, int]) -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    a_only, b_only = discordant
    both, neither = 40, 17
    a = np.array([1] * a_only + [0] * b_only + [1] * both + [0] * neither, dtype=float)
    b = np.array([0] * a_only + [1] * b_only + [1] * both + [0] * neither, dtype=float)
    order = np.random.default_rng(0).permutation(len(a))
    result = paired_compare(a[order], b[order])
    exact = a_only + b_only < 25
    table = [[both, a_only], [b_only, neither]]
    ref = mcnemar(table, exact=exact, correction=True)
    assert result.test == ("mcnemar exact" if exact else "mcnemar corrected")
    assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert mcnemar_pvalue(a, b)[2:] == (a_only, b_only)


def test_clustered_se_matches_statsmodels_cluster_robust_ols() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(30), rng.integers(2, 9, 30))
    shared = rng.normal(0, 0.1, 30)[groups]  # items of one passage move together
    a = rng.normal(0.5, 0.1, len(groups))
    b = a + 0.01 + shared + rng.normal(0, 0.02, len(groups))
    result = paired_compare(a, b, clusters=groups, seed=1)
    fit = sm.OLS(b - a, np.ones(len(groups))).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert result.n_clusters == 30
    assert result.delta_se == pytest.approx(float(fit.bse[0]), rel=1e-9)
    naive = paired_compare(a, b, seed=1)
    assert result.delta_se > 1.5 * naive.delta_se
    ci, naive_ci = result.delta_ci, naive.delta_ci
    assert ci.high - ci.low > 1.5 * (naive_ci.high - naive_ci.low)
    assert result.test == "paired permutation"


def test_research_power_figures() -> None:
    a, b = research_example(seed=5, n=300)
    result = paired_compare(a, b, seed=0)
    sd = float(np.std(b - a, ddof=1))
    from mlstudio.integrations.evaluation.power import mde

    assert result.mde == pytest.approx(mde(sd, 300))
    assert result.required_n is not None and result.required_n > 1


# --- verdicts ----------------------------------------------------------------------------------
def test_lower_is_better_flips_the_verdict() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(1.0, 0.2, 200)
    b = a - 0.1 + rng.normal(0, 0.05, 200)  # b has lower error
    assert paired_compare(a, b, higher_is_better=False).verdict == "better"
    assert paired_compare(a, b, higher_is_better=True).verdict == "worse"


def test_non_inferior_within_margin_and_tied_without() -> None:
    rng = np.random.default_rng(6)
    a = rng.normal(0.7, 0.1, 400)
    b = a - 0.002 + rng.normal(0, 0.02, 400)
    with_margin = paired_compare(a, b, margin=0.02)
    assert with_margin.delta_ci.low > -0.02
    assert with_margin.verdict == "non-inferior"
    assert paired_compare(a, b).verdict in {"tied", "worse"}


# --- aggregate statistics ----------------------------------------------------------------------
def test_statistic_bootstrap_agrees_with_the_mean_path_for_a_mean() -> None:
    a, b = research_example(seed=9, n=200)
    by_mean = paired_compare(a, b, seed=0)
    by_stat = paired_compare_statistic(lambda idx: (a[idx].mean(), b[idx].mean()), 200, seed=0)
    assert by_stat.test == "bootstrap"
    assert by_stat.delta == pytest.approx(by_mean.delta)
    width = by_mean.delta_ci.high - by_mean.delta_ci.low
    assert abs(by_stat.delta_ci.low - by_mean.delta_ci.low) < 0.15 * width
    assert abs(by_stat.delta_ci.high - by_mean.delta_ci.high) < 0.15 * width
    assert by_stat.delta_se == pytest.approx(by_mean.delta_se, rel=0.15)
    assert by_stat.p_value is not None and by_stat.p_value < 0.05


def test_statistic_rmse_lower_is_better_with_clusters() -> None:
    rng = np.random.default_rng(12)
    y = rng.normal(size=300)
    groups = np.repeat(np.arange(60), 5)
    pred_a = y + rng.normal(0, 0.5, 300)
    pred_b = y + rng.normal(0, 0.3, 300)

    def rmse(idx: np.ndarray) -> tuple[float, float]:
        return (
            float(np.sqrt(np.mean((pred_a[idx] - y[idx]) ** 2))),
            float(np.sqrt(np.mean((pred_b[idx] - y[idx]) ** 2))),
        )

    result = paired_compare_statistic(rmse, 300, higher_is_better=False, clusters=groups)
    assert result.n_clusters == 60
    assert result.delta < 0
    assert result.verdict == "better"
    assert result.a.ci.low < result.a.mean < result.a.ci.high
    assert result.p_value is not None and result.p_value <= 2 / 2001 + 1e-12


def test_statistic_non_finite_resamples_are_dropped_and_counted() -> None:
    values = np.arange(50, dtype=float)

    def odd(idx: np.ndarray) -> tuple[float, float]:
        if len(np.unique(idx)) < 30:  # never on the full data; now and then on a resample
            return float("nan"), 0.0
        return float(values[idx].mean()), float(values[idx].mean() + 1)

    result = paired_compare_statistic(odd, 50, resamples=200)
    assert all(math.isfinite(x) for x in (result.delta, result.delta_se))
    assert result.delta == pytest.approx(1.0)


# --- faults ------------------------------------------------------------------------------------
def test_different_lengths_are_refused_naming_both() -> None:
    with pytest.raises(InvalidInputError, match=r"a has 3 scores but b has 4"):
        paired_compare([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])


def test_nan_pairs_are_dropped_and_counted() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=100)
    b = a + 0.5 + rng.normal(0, 0.1, 100)
    a[[3, 10]] = np.nan
    b[[10, 50, 70]] = np.nan
    result = paired_compare(a, b)
    assert result.n == 96
    assert any("4 items with NaN scores dropped" in note for note in result.notes)
    assert result.delta == pytest.approx(np.nanmean(b - a))


def _no_nan(obj: object) -> None:
    text = json.dumps(obj, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text


def test_constant_metric_is_untestable_without_nan_or_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_compare(np.full(50, 0.7), np.full(50, 0.7))
        clustered = paired_compare(np.ones(40), np.ones(40), clusters=np.arange(40) // 4)
    for r in (result, clustered):
        assert r.verdict == "untestable"
        assert r.p_value is None and r.test == "none"
        assert r.delta == 0.0 and r.delta_se == 0.0
        assert (r.delta_ci.low, r.delta_ci.high) == (0.0, 0.0)
        assert r.required_n is None and r.mde is None
        assert any("zero variance" in note for note in r.notes)
        _no_nan(r.to_dict())


def test_constant_nonzero_difference_is_a_verdict_with_a_degenerate_interval() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_compare(np.arange(30.0), np.arange(30.0) - 0.5)
    assert result.verdict == "worse"
    assert (result.delta_ci.low, result.delta_ci.high) == (-0.5, -0.5)
    assert any("zero variance" in note for note in result.notes)
    assert result.p_value is not None and 0 < result.p_value < 0.01
    _no_nan(result.to_dict())


def test_one_item_is_untestable() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_compare([0.4], [0.6])
    assert result.n == 1 and result.verdict == "untestable" and result.p_value is None
    assert result.delta == pytest.approx(0.2)
    _no_nan(result.to_dict())


def test_clusters_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="clusters has 3 labels for 4 items"):
        paired_compare([1, 2, 3, 4.0], [1, 2, 3, 5.0], clusters=["x", "y", "z"])


def test_infinite_scores_and_false_binary_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="infinite"):
        paired_compare([1.0, math.inf], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="binary=True"):
        paired_compare([0.0, 0.5, 1.0], [1.0, 1.0, 0.0], binary=True)


def test_to_dict_is_plain_json() -> None:
    a, b = research_example(seed=3, n=60)
    data = paired_compare(a, b).to_dict()
    assert set(data) >= {"n", "a", "b", "delta", "delta_ci", "p_value", "verdict", "notes"}
    assert isinstance(data["delta_ci"]["low"], float) and isinstance(data["notes"], list)
    assert json.loads(json.dumps(data, allow_nan=False)) == data


def test_large_p_stops_early_and_still_matches_scipy() -> None:
    rng = np.random.default_rng(21)
    a = rng.normal(0.5, 0.1, 60)
    b = a + rng.normal(0.0, 0.08, 60)  # no difference: p is large, the draws stop early
    ref = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        permutation_type="samples",
        n_resamples=9999,
        vectorized=True,
        random_state=1,
    ).pvalue
    ours = sign_flip_pvalue(b - a, 9999, np.random.default_rng(0))
    assert ref > 0.1
    # sequential estimate 500 / L: relative SE about 1 / sqrt(500)
    assert abs(ours - ref) < 4 * (ref / math.sqrt(500) + math.sqrt(ref * (1 - ref) / 9999))
    full = sign_flip_pvalue(b - a, 9999, np.random.default_rng(0), stop_hits=0)
    assert abs(full - ref) < 5 * math.sqrt(2 * ref * (1 - ref) / 9999)


def test_many_items_sign_flip_matches_the_normal_limit() -> None:
    rng = np.random.default_rng(22)
    d = rng.normal(0.0, 1.0, 20_000)
    d += 2.0 * math.sqrt(float(d @ d)) / len(d) - d.mean()  # |T| = 2 null SDs
    expected = 2 * stats.norm.sf(abs(d.sum()) / math.sqrt(float(d @ d)))
    p = sign_flip_pvalue(d, 9999, np.random.default_rng(1), stop_hits=0)
    assert abs(p - expected) < 5 * math.sqrt(expected * (1 - expected) / 9999) + 0.002


def test_overwhelming_effect_gives_the_smallest_p_without_draws() -> None:
    a, b = research_example(seed=4, n=3000)
    result = paired_compare(a, b, permutations=999)
    assert result.p_value == pytest.approx(1 / 1000)


def test_clustered_binary_outcomes_use_the_cluster_sign_flip() -> None:
    rng = np.random.default_rng(30)
    groups = np.repeat(np.arange(40), 5)
    a = (rng.uniform(size=200) < 0.6).astype(float)
    b = (rng.uniform(size=200) < 0.7).astype(float)
    result = paired_compare(a, b, clusters=groups, permutations=999)
    assert result.test == "paired permutation"
    assert any("not McNemar" in note for note in result.notes)
    assert result.n_clusters == 40
    unclustered = paired_compare(a, b)
    assert unclustered.test.startswith("mcnemar")


def test_statistic_with_no_difference_is_untestable_without_warnings() -> None:
    values = np.linspace(0.0, 1.0, 40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = paired_compare_statistic(
            lambda idx: (float(values[idx].mean()), float(values[idx].mean())), 40, resamples=100
        )
    assert result.verdict == "untestable" and result.p_value is None
    assert result.delta == 0.0 and result.delta_ci == type(result.delta_ci)(0.0, 0.0)
    _no_nan(result.to_dict())


def test_statistic_must_return_a_pair() -> None:
    with pytest.raises(InvalidInputError, match="value_a, value_b"):
        paired_compare_statistic(lambda idx: 0.5, 10)


def test_binary_bca_interval_is_close_to_scipy() -> None:
    rng = np.random.default_rng(5)
    a = (rng.uniform(size=300) < 0.6).astype(float)
    b = np.where(rng.uniform(size=300) < 0.8, a, 1 - a)  # 20 % of items flip
    ours = paired_compare(a, b, resamples=4000, seed=1)
    ref = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        method="BCa",
        n_resamples=4000,
        random_state=3,
    ).confidence_interval
    width = ref.high - ref.low
    assert ours.test == "mcnemar corrected"
    assert abs(ours.delta_ci.low - ref.low) < 0.1 * width
    assert abs(ours.delta_ci.high - ref.high) < 0.1 * width
