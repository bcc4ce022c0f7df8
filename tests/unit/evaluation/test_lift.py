"""Online lift: coverage on seeded simulations, CUPED, SRM, ratio metrics and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.lift import analyse_lift


def experiment(rng, n=1000, lift=0.5, share=0.5, rho=0.0, labels=("control", "treatment")):
    """One row per unit: revenue with a pre-period covariate correlated rho with it."""
    treated = rng.random(n) < share
    pre = rng.normal(10.0, 2.0, n)
    noise = rng.normal(0.0, 2.0, n)
    y = 10.0 + rho * (pre - 10.0) + math.sqrt(1 - rho * rho) * noise + lift * treated
    return {
        "variant": np.where(treated, labels[1], labels[0]),
        "account": np.arange(n),
        "revenue": y,
        "pre": pre,
    }


def lift(rows, **kw):
    kw.setdefault("metric", "revenue")
    return analyse_lift(rows, variant_column="variant", unit_column="account", **kw)


def test_mean_lift_matches_welch_from_scipy():
    rows = experiment(np.random.default_rng(0), n=800)
    (res,) = lift(rows)
    y, v = rows["revenue"], rows["variant"]
    welch = stats.ttest_ind(y[v == "treatment"], y[v == "control"], equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert res.lift_abs == pytest.approx(y[v == "treatment"].mean() - y[v == "control"].mean())
    assert res.p_value == pytest.approx(welch.pvalue)
    assert res.ci_abs == pytest.approx((ci.low, ci.high))
    assert res.lift_rel == pytest.approx(res.lift_abs / res.mean_control)
    assert res.ci_rel[0] < res.lift_rel < res.ci_rel[1]
    assert (res.control, res.treatment, res.cuped, res.ratio) == (
        "control",
        "treatment",
        False,
        False,
    )
    assert res.n_control + res.n_treatment == 800


def test_ci_covers_the_true_lift_in_about_95_percent_of_300_simulations():
    rng = np.random.default_rng(2024)
    true_abs, base = 0.3, 10.0
    covered_abs = covered_rel = covered_cuped = 0
    reps = 300
    for _ in range(reps):
        rows = experiment(rng, n=400, lift=true_abs, rho=0.6)
        (plain,) = lift(rows)
        (adjusted,) = lift(rows, pre_period_column="pre")
        covered_abs += plain.ci_abs[0] <= true_abs <= plain.ci_abs[1]
        covered_rel += plain.ci_rel[0] <= true_abs / base <= plain.ci_rel[1]
        covered_cuped += adjusted.ci_abs[0] <= true_abs <= adjusted.ci_abs[1]
    for covered in (covered_abs, covered_rel, covered_cuped):
        assert 0.92 <= covered / reps <= 0.98, covered


def test_cuped_narrows_the_interval_when_the_covariate_is_correlated():
    rows = experiment(np.random.default_rng(4), n=2000, rho=0.8)
    (plain,) = lift(rows)
    (cuped,) = lift(rows, pre_period_column="pre")
    width = lambda r: r.ci_abs[1] - r.ci_abs[0]  # noqa: E731
    assert cuped.cuped and not plain.cuped
    assert width(cuped) < 0.75 * width(plain)
    # the variance removed is about rho² = 0.64
    assert 0.55 < cuped.variance_reduction < 0.73
    assert width(cuped) == pytest.approx(width(plain) * math.sqrt(1 - cuped.variance_reduction))
    assert cuped.mean_control == plain.mean_control  # reported means stay unadjusted
    assert any("CUPED-adjusted" in note for note in cuped.notes)


def test_cuped_estimate_equals_the_regression_adjusted_estimate_of_statsmodels():
    import statsmodels.api as sm

    rows = experiment(np.random.default_rng(3), n=1500, lift=0.4, rho=0.7)
    (res,) = lift(rows, pre_period_column="pre")
    treated = (rows["variant"] == "treatment").astype(float)
    design = sm.add_constant(np.column_stack([treated, rows["pre"] - rows["pre"].mean()]))
    fit = sm.OLS(rows["revenue"], design).fit(cov_type="HC2")
    # OLS with a treatment dummy pools the within-variant slope, as CUPED's theta does
    assert res.lift_abs == pytest.approx(fit.params[1])
    se = (res.ci_abs[1] - res.ci_abs[0]) / (2 * stats.t.ppf(0.975, 1e6))
    assert se == pytest.approx(fit.bse[1], rel=0.02)


def test_cuped_with_an_uncorrelated_covariate_changes_little():
    rows = experiment(np.random.default_rng(5), n=2000, rho=0.0)
    (plain,) = lift(rows)
    (cuped,) = lift(rows, pre_period_column="pre")
    assert cuped.variance_reduction < 0.02
    assert cuped.lift_abs == pytest.approx(plain.lift_abs, abs=0.05)


def test_srm_detects_a_55_45_split_at_10k_and_passes_a_fair_one():
    rng = np.random.default_rng(6)
    (skewed,) = lift(experiment(rng, n=10_000, share=0.45))
    assert not skewed.srm_ok and skewed.srm_p < 1e-6
    assert any("sample ratio mismatch" in n and "not trustworthy" in n for n in skewed.notes)
    (fair,) = lift(experiment(rng, n=10_000, share=0.5))
    assert fair.srm_ok and not any("sample ratio" in n for n in fair.notes)
    # a 55/45 design declared as such is not a mismatch
    (declared,) = lift(
        experiment(rng, n=10_000, share=0.45), expected_split={"control": 55, "treatment": 45}
    )
    assert declared.srm_ok
    counts = [declared.n_control, declared.n_treatment]
    expected = stats.chisquare(counts, np.array([0.55, 0.45]) * sum(counts)).pvalue
    assert declared.srm_p == pytest.approx(expected)


def sessions(rng, n_units, lift=0.0):
    """Event rows: each user has 1-10 sessions, revenue per session depends on the user."""
    rows = {"variant": [], "account": [], "revenue": [], "sessions": []}
    for unit in range(n_units):
        arm = "treatment" if rng.random() < 0.5 else "control"
        k = int(rng.integers(1, 11))
        spend = rng.gamma(2.0, 1.0) * (1 + lift * (arm == "treatment"))
        for _ in range(k):
            rows["variant"].append(arm)
            rows["account"].append(f"u{unit}")
            rows["revenue"].append(spend * rng.random() * 2)
            rows["sessions"].append(1)
    return rows


def test_ratio_metric_delta_method_se_agrees_with_a_bootstrap():
    rng = np.random.default_rng(8)
    rows = sessions(rng, 600)
    (res,) = lift(rows, denominator_column="sessions")
    assert res.ratio
    # per-unit sums, then bootstrap units within each arm
    units: dict[str, list[float]] = {}
    arm: dict[str, str] = {}
    for v, u, y, d in zip(*rows.values(), strict=True):
        acc = units.setdefault(u, [0.0, 0.0])
        acc[0] += y
        acc[1] += d
        arm[u] = v
    per = {a: np.array([units[u] for u in units if arm[u] == a]) for a in ("control", "treatment")}
    ratio = {a: per[a][:, 0].sum() / per[a][:, 1].sum() for a in per}
    assert res.mean_control == pytest.approx(ratio["control"])
    assert res.lift_abs == pytest.approx(ratio["treatment"] - ratio["control"])
    boot = np.empty(2000)
    for b in range(boot.size):
        r = {}
        for a, vals in per.items():
            pick = vals[rng.integers(0, len(vals), len(vals))]
            r[a] = pick[:, 0].sum() / pick[:, 1].sum()
        boot[b] = r["treatment"] - r["control"]
    se_delta = (res.ci_abs[1] - res.ci_abs[0]) / (2 * stats.norm.ppf(0.975))
    assert se_delta == pytest.approx(boot.std(ddof=1), rel=0.10)


def test_ratio_metric_with_cuped_narrows_and_stays_unbiased():
    rng = np.random.default_rng(9)
    rows = sessions(rng, 800)
    per_unit_pre = {}
    pre = []
    for u, y in zip(rows["account"], rows["revenue"], strict=True):
        per_unit_pre.setdefault(u, y * 3 + rng.normal())  # first row's value is the covariate
        pre.append(per_unit_pre[u])
    rows["pre"] = pre
    (plain,) = lift(rows, denominator_column="sessions")
    (cuped,) = lift(rows, denominator_column="sessions", pre_period_column="pre")
    assert cuped.variance_reduction > 0.05
    assert cuped.ci_abs[1] - cuped.ci_abs[0] < plain.ci_abs[1] - plain.ci_abs[0]


def test_events_are_aggregated_per_unit_before_the_analysis():
    rows = {
        "variant": ["a", "a", "b", "b", "a", "b", "a", "b"],
        "account": [1, 1, 2, 2, 3, 4, 5, 6],
        "revenue": [1.0, 2.0, 5.0, 1.0, 4.0, 2.0, 0.0, 3.0],
    }
    (res,) = lift(rows)
    # units a: 1 -> 3, 3 -> 4, 5 -> 0; b: 2 -> 6, 4 -> 2, 6 -> 3
    assert (res.n_control, res.n_treatment) == (3, 3)
    assert res.mean_control == pytest.approx(7 / 3)
    assert res.mean_treatment == pytest.approx(11 / 3)
    assert res.control == "a"  # no "control" variant: the first in sorted order
    assert any("control variant: 'a'" in n and "default" in n for n in res.notes)


def test_every_treatment_is_compared_with_the_control():
    rng = np.random.default_rng(10)
    rows = experiment(rng, n=3000, lift=0.0)
    rows["variant"] = rng.choice(["control", "gbm", "logreg"], 3000)
    rows["revenue"] = rows["revenue"] + (rows["variant"] == "gbm") * 1.0
    results = lift(rows)
    assert [(r.control, r.treatment) for r in results] == [
        ("control", "gbm"),
        ("control", "logreg"),
    ]
    gbm, logreg = results
    assert gbm.ci_abs[0] <= 1.0 <= gbm.ci_abs[1] and gbm.p_value < 1e-6
    assert abs(logreg.lift_abs) < 0.3 < gbm.lift_abs  # no true lift for logreg (sd of Δ ~0.09)
    (only,) = lift(rows, control="logreg", treatment="gbm")
    assert (only.control, only.treatment) == ("logreg", "gbm")
    assert any(n == "control variant: 'logreg'" for n in only.notes)


def test_to_dict_is_json_ready():
    (res,) = lift(experiment(np.random.default_rng(12), n=200))
    data = res.to_dict()
    assert isinstance(data["ci_abs"], list) and len(data["ci_abs"]) == 2
    assert isinstance(data["notes"], list)
    assert data["lift_abs"] == res.lift_abs and data["variance_reduction"] is None


def test_missing_column_names_it_and_the_columns_present():
    rows = experiment(np.random.default_rng(13), n=20)
    with pytest.raises(InvalidInputError) as err:
        lift(rows, metric="profit")
    assert "'profit'" in err.value.message
    assert "account, pre, revenue, variant" in err.value.message
    with pytest.raises(InvalidInputError, match="pre-period column 'pre_rev'"):
        lift(rows, pre_period_column="pre_rev")


def test_one_variant_and_tiny_variants_are_refused():
    rows = experiment(np.random.default_rng(14), n=20)
    rows["variant"] = ["control"] * 20
    with pytest.raises(InvalidInputError, match="one variant \\('control'\\)"):
        lift(rows)
    rows["variant"] = ["control"] * 19 + ["treatment"]
    with pytest.raises(InvalidInputError, match="'treatment' has 1 unit"):
        lift(rows)


def test_a_unit_in_two_variants_is_refused_with_the_count():
    rows = {
        "variant": ["control", "treatment", "control", "treatment", "control", "treatment"],
        "account": ["u1", "u1", "u2", "u2", "u3", "u4"],
        "revenue": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    }
    with pytest.raises(InvalidInputError, match="2 units appear in more than one variant"):
        lift(rows)


def test_other_bad_input_is_refused():
    rows = experiment(np.random.default_rng(15), n=40)
    with pytest.raises(InvalidInputError, match="not a variant"):
        lift(rows, control="champion")
    with pytest.raises(InvalidInputError, match="does not match the variants"):
        lift(rows, expected_split={"control": 0.5, "other": 0.5})
    bad = dict(rows, revenue=[*rows["revenue"][:-1], None])
    with pytest.raises(InvalidInputError, match="1 missing values"):
        lift(bad)
    short = dict(rows, revenue=rows["revenue"][:10])
    with pytest.raises(InvalidInputError, match="different lengths"):
        lift(short)
    zero = dict(rows, sessions=[0] * 40)
    with pytest.raises(InvalidInputError, match="denominator sums to 0"):
        lift(zero, denominator_column="sessions")


def test_units_without_a_pre_period_value_are_noted():
    rows = experiment(np.random.default_rng(16), n=300, rho=0.7)
    pre = list(rows["pre"])
    pre[:5] = [None] * 5
    rows["pre"] = pre
    (res,) = lift(rows, pre_period_column="pre")
    assert any(n.startswith("5 units had no pre-period value") for n in res.notes)
    assert res.variance_reduction > 0.3


def test_a_constant_metric_gives_a_point_interval_and_says_so():
    rows = {
        "variant": ["control", "treatment"] * 4,
        "account": list(range(8)),
        "revenue": [2.0] * 8,
        "pre": [1.0, 2.0, 3.0, 4.0] * 2,
    }
    (res,) = lift(rows, pre_period_column="pre")
    assert (res.lift_abs, res.ci_abs, res.p_value) == (0.0, (0.0, 0.0), 1.0)
    assert res.variance_reduction == 0.0
    assert any("zero variance" in n for n in res.notes)
