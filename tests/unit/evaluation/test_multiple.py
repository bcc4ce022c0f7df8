"""Holm/BH adjustment against statsmodels; slices; family-wise error under no difference."""

from __future__ import annotations

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.multiple import adjust, compare_slices


@pytest.mark.parametrize(("method", "reference"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjust_matches_multipletests(method: str, reference: str) -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    for size in (1, 2, 6, 25):
        p = np.concatenate([rng.uniform(0, 0.05, size // 2), rng.uniform(0, 1, size - size // 2)])
        p[0] = p[-1] if size > 1 else p[0]  # a tie
        ours = adjust(list(p), method)
        ref = multipletests(p, method=reference)[1]
        assert np.allclose(ours, ref, rtol=0, atol=1e-12)


def test_research_example_slices_reject_nothing_after_correction() -> None:
    raw = [0.193, 0.010, 0.916, 0.460, 0.097, 0.243]
    for method in ("holm", "bh"):
        adjusted = adjust(raw, method)
        assert all(p is not None and p >= 0.05 for p in adjusted)
    assert min(raw) < 0.05


def test_none_entries_stay_none_and_are_not_counted() -> None:
    assert adjust([0.01, None, 0.04], "holm") == pytest.approx([0.02, None, 0.04])
    assert adjust([None, None], "bh") == [None, None]


def test_bad_method_or_p_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown adjustment method"):
        adjust([0.1], "bonferroni")
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        adjust([1.2])


def test_small_slice_is_reported_not_tested_and_columns_share_one_family() -> None:
    rng = np.random.default_rng(2)
    n = 303
    a = rng.normal(0.5, 0.1, n)
    b = a + 0.02 + rng.normal(0, 0.05, n)
    region = np.array(["eu"] * 150 + ["us"] * 150 + ["apac"] * 3)
    length = rng.integers(0, 2, n)
    slices = compare_slices(a, b, {"region": region, "long": length}, permutations=999)
    assert [(s.column, s.value) for s in slices] == [
        ("region", "apac"),
        ("region", "eu"),
        ("region", "us"),
        ("long", 0),
        ("long", 1),
    ]
    small = slices[0]
    assert small.n == 3 and not small.tested and small.adjusted_p is None
    assert small.note == "3 items: reported, not tested (min 10)"
    assert small.result is not None and small.result.verdict == "untestable"
    assert small.result.delta == pytest.approx(float(np.mean(b[-3:] - a[-3:])))
    tested = [s for s in slices if s.tested]
    assert len(tested) == 4
    raw = [s.result.p_value for s in tested if s.result]
    assert [s.adjusted_p for s in tested] == pytest.approx(adjust(raw, "holm"))
    assert all(s.adjusted_p is not None and s.adjusted_p >= s.result.p_value for s in tested)


def test_slice_labels_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="slice column 'x' has 2 labels for 3 items"):
        compare_slices([1.0, 2.0, 3.0], [1.0, 2.0, 3.5], {"x": ["a", "b"]})


def test_holm_family_wise_error_under_no_difference() -> None:
    reps, slices, per_slice = 400, 10, 30
    false_alarms = raw_alarms = 0
    for rep in range(reps):
        rng = np.random.default_rng(50_000 + rep)
        difficulty = rng.normal(0.5, 0.1, slices * per_slice)
        a = difficulty + rng.normal(0, 0.05, slices * per_slice)
        b = difficulty + rng.normal(0, 0.05, slices * per_slice)  # no true difference
        labels = {"slice": np.repeat(np.arange(slices), per_slice)}
        results = compare_slices(a, b, labels, resamples=100, permutations=199, seed=rep)
        assert all(r.tested for r in results)
        false_alarms += any(r.adjusted_p is not None and r.adjusted_p < 0.05 for r in results)
        raw_alarms += any(r.result and (r.result.p_value or 1.0) < 0.05 for r in results)
    rate = false_alarms / reps
    assert raw_alarms / reps > 0.25  # uncorrected, 10 slices would often "find" something
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / reps), rate
