"""The vectorized drift path (one binning, counts per window and slice) agrees with the
scalar tests, and slice values beyond the cap are pooled and counted."""

from __future__ import annotations

import numpy as np
import pytest

from mlstudio.integrations.monitoring import drift
from mlstudio.integrations.monitoring.checks import drift_windows
from mlstudio.integrations.monitoring.windows import Frame, codes


def _frame(rng: np.random.Generator, n: int = 6000) -> Frame:
    period = rng.integers(100, 103, n)
    plan = rng.choice(["free", "pro"], n)
    x = rng.normal(size=n) + np.where((plan == "pro") & (period == 102), 0.4, 0.0)
    colour = rng.choice(["red", "blue", "green"], n, p=[0.5, 0.3, 0.2])
    return Frame({"x": x, "plan": plan, "colour": colour}, period, 103, 0, 102, n)


def test_windows_match_the_scalar_tests_and_see_the_drifted_slice() -> None:
    rng = np.random.default_rng(3)
    cur = _frame(rng)
    ref = {
        "x": rng.normal(size=5000),
        "plan": rng.choice(["free", "pro"], 5000),
        "colour": rng.choice(["red", "blue", "green"], 5000, p=[0.5, 0.3, 0.2]),
    }
    rows, capped = drift_windows(cur, ref, ["x", "colour"], ["plan"], [100, 101, 102])
    assert capped == {}
    by_key = {(r["period"], r["slice"]): r for r in rows}
    assert len(rows) == 3 * 3  # (all, plan=free, plan=pro) per window
    assert by_key[(102, "plan=pro")]["status"] == "drift"
    assert by_key[(102, "plan=pro")]["result"]["drifted"] == ["x"]
    assert by_key[(100, "plan=pro")]["status"] == "ok"
    # the PSI and KS of one cell, recomputed with the scalar functions on the same bins
    mask = (cur.period == 101) & (cur.columns["plan"] == "free")
    r_mask = ref["plan"] == "free"
    coarse = drift.quantile_edges(ref["x"], 10)
    fine = drift.quantile_edges(ref["x"], 100)
    psi = drift.psi_counts(
        drift.bin_counts(ref["x"][r_mask], coarse), drift.bin_counts(cur.columns["x"][mask], coarse)
    )
    ks = drift.ks_counts(
        drift.bin_counts(ref["x"][r_mask], fine), drift.bin_counts(cur.columns["x"][mask], fine)
    )
    got = {e["test"]: e for e in by_key[(101, "plan=free")]["result"]["features"]["x"]}
    assert got["psi"]["statistic"] == pytest.approx(psi.statistic)
    assert got["psi"]["threshold"] == pytest.approx(psi.threshold)
    assert got["ks"]["statistic"] == pytest.approx(ks.statistic)
    assert got["ks"]["p_value"] == pytest.approx(ks.p_value)
    assert got["psi"]["n_current"] == int(mask.sum())
    assert [e["test"] for e in by_key[(101, "")]["result"]["features"]["colour"]] == ["chi2"]


def test_slice_values_beyond_the_cap_are_pooled_and_counted() -> None:
    values = np.array(["a"] * 5 + ["b"] * 3 + ["c", "d"])
    c, labels, dropped = codes(values, cap=2)
    assert labels == ["a", "b"] and dropped == 2
    assert (c[:8] >= 0).all() and (c[8:] == -1).all()


def test_a_window_without_rows_is_no_data_and_a_thin_one_too_few() -> None:
    rng = np.random.default_rng(4)
    cur = _frame(rng, 3000)
    ref = {"x": rng.normal(size=2000), "plan": rng.choice(["free", "pro"], 2000)}
    rows, _ = drift_windows(cur, ref, ["x"], [], [100, 99], min_rows=20)
    status = {r["period"]: r["status"] for r in rows}
    assert status[99] == "no_data"
    rows, _ = drift_windows(cur, ref, ["x"], [], [100], min_rows=10_000)
    assert rows[0]["status"] == "too_few"
