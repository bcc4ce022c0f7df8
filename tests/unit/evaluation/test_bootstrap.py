"""The bootstrap's index draws and shared-index slices: exact uniformity, reproducibility, and
that sharing indices across equal-size arrays gives each array its own distribution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.evaluation.stats import (
    bootstrap_means,
    bootstrap_means_many,
    resample_indices,
    uniform_below,
)


def test_uniform_below_is_uniform_by_chi_square() -> None:
    n = 37
    draws = uniform_below(n, 370_000, np.random.default_rng(5))
    assert draws.dtype == np.int64
    assert draws.min() == 0 and draws.max() == n - 1
    counts = np.bincount(draws, minlength=n)
    assert stats.chisquare(counts).pvalue > 0.001


def test_uniform_below_rejection_keeps_a_large_range_uniform() -> None:
    # n = 3 * 2**30: 2**32 mod n = 2**30, so a quarter of the raw draws are rejected; a biased
    # multiply-shift without rejection would put 1/3 + 1/12 of the mass in the lowest third
    n = 3 * 2**30
    draws = uniform_below(n, 300_000, np.random.default_rng(7))
    assert draws.min() >= 0 and draws.max() < n
    thirds = np.bincount(draws // 2**30, minlength=3)
    assert stats.chisquare(thirds).pvalue > 0.001, thirds


def test_indices_are_reproducible_for_a_seed_and_differ_across_seeds() -> None:
    a = resample_indices(1000, 4, np.random.default_rng(1))
    b = resample_indices(1000, 4, np.random.default_rng(1))
    c = resample_indices(1000, 4, np.random.default_rng(2))
    assert a.shape == (4, 1000)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("n", [0, 2**32])
def test_out_of_range_item_counts_are_refused(n: int) -> None:
    with pytest.raises(InvalidInputError, match="cannot draw below"):
        uniform_below(n, 10, np.random.default_rng(0))


def test_bootstrap_means_many_of_one_array_is_bootstrap_means() -> None:
    d = np.random.default_rng(1).normal(size=5000)
    one = bootstrap_means(d, None, 700, np.random.default_rng(3))
    many = bootstrap_means_many([d], 700, np.random.default_rng(3))[0]
    assert np.array_equal(one, many)


def test_equal_size_arrays_share_indices_and_each_keeps_its_own_distribution() -> None:
    rng = np.random.default_rng(11)
    parts = [rng.normal(loc, 1.0, 2000) for loc in (0.0, 0.5, -1.0)]
    odd = rng.normal(0.0, 1.0, 1500)  # another length: its own draws
    shared = bootstrap_means_many([*parts, odd], 800, np.random.default_rng(4))
    # each equal-size array gets exactly what it would get alone from the same seed
    for x, boot in zip(parts, shared[:3], strict=True):
        assert np.array_equal(boot, bootstrap_means(x, None, 800, np.random.default_rng(4)))
    # and its bootstrap SD is the mean's standard error
    for x, boot in zip([*parts, odd], shared, strict=True):
        se = x.std(ddof=1) / np.sqrt(len(x))
        assert abs(boot.std(ddof=1) / se - 1.0) < 0.1
        assert abs(boot.mean() - x.mean()) < 0.2 * se


def test_few_distinct_values_use_multinomial_counts_with_the_right_spread() -> None:
    d = np.random.default_rng(2).choice([-1.0, 0.0, 1.0], size=4000, p=[0.2, 0.6, 0.2])
    boot = bootstrap_means_many([d, np.random.default_rng(3).normal(size=4000)], 1000,
                                np.random.default_rng(0))[0]  # fmt: skip
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert abs(boot.std(ddof=1) / se - 1.0) < 0.1


def test_clustered_bootstrap_resamples_clusters() -> None:
    rng = np.random.default_rng(9)
    effects = rng.normal(0.0, 1.0, 40)
    codes = np.repeat(np.arange(40), 25)
    d = effects[codes] + rng.normal(0.0, 0.1, len(codes))
    boot = bootstrap_means(d, codes, 2000, np.random.default_rng(1))
    iid_se = d.std(ddof=1) / np.sqrt(len(d))
    # clusters of 25 nearly identical items: the spread is ~5x the item-level SE
    assert boot.std(ddof=1) > 3.0 * iid_se


@pytest.mark.parametrize(("n", "size"), [(37, 10_001), (3 * 2**30, 5_000), (100_000, 7)])
def test_uniform_below_into_a_reused_buffer_gives_the_same_draws(n: int, size: int) -> None:
    fresh = uniform_below(n, size, np.random.default_rng(9))
    buffer = np.full(size + 3, 2**63, dtype=np.uint64)  # stale contents must not leak through
    reused = uniform_below(n, size, np.random.default_rng(9), out=buffer)
    assert reused.dtype == np.int64 and len(reused) == size
    assert np.array_equal(fresh, reused)
    again = uniform_below(n, size, np.random.default_rng(10), out=buffer)
    assert np.array_equal(again, uniform_below(n, size, np.random.default_rng(10)))


@pytest.mark.parametrize(("n", "resamples"), [(1, 5), (999, 401), (60_000, 9)])
def test_buffered_bootstrap_equals_resampling_the_indices_directly(n: int, resamples: int) -> None:
    # the chunked, buffered loop gives exactly the means of x at resample_indices' draws
    x = np.random.default_rng(n).normal(size=n) * 3.0 + 1.0
    rng = np.random.default_rng(5)
    boot = bootstrap_means(x, None, resamples, np.random.default_rng(5))
    expected = []
    left = resamples
    while left:  # the same chunking as the bootstrap: at most 200,000 indices at a time
        take = min(left, max(1, 200_000 // n))
        idx = resample_indices(n, take, rng)
        centre = float(x.mean())
        expected.append(centre + np.take(x - centre, idx).sum(axis=1) / n)
        left -= take
    assert np.array_equal(boot, np.concatenate(expected))


def test_shared_draws_reuse_the_indices_and_leave_the_generator_where_drawing_would() -> None:
    from mlstudio.integrations.evaluation import stats

    parts = [np.random.default_rng(k).normal(k, 1.0, 3000) for k in range(3)]
    alone = []
    for x in parts:  # each from the same seed, as eval compare's slices are
        rng = np.random.default_rng(0)
        alone.append((bootstrap_means(x, None, 500, rng), rng.integers(0, 2**62)))
    with stats.shared_draws():
        memo = stats._DRAWS.get()
        shared = []
        for x in parts:
            rng = np.random.default_rng(0)
            shared.append((bootstrap_means(x, None, 500, rng), rng.integers(0, 2**62)))
        assert memo is not None and len(memo.draws) == 1  # drawn once, reused twice
    for (boot_a, next_a), (boot_s, next_s) in zip(alone, shared, strict=True):
        assert np.array_equal(boot_a, boot_s) and next_a == next_s
    assert stats._DRAWS.get() is None  # nothing is kept after the block
