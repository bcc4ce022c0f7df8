"""The cost of the evaluation statistics (issue 14). Prints the figures quoted.

    python bench/bench_eval.py [--items 100000] [--slices 10] [--resamples 2000] [--repeats 3] [--json]

- ``bootstrap``: the paired bootstrap alone (``resamples`` resamples of the item-level differences,
  BCa interval) over all items and then over each of ``slices`` equal slices, one
  ``bootstrap_means`` call per array (the way before the draws were shared).
- ``bootstrap_shared``: the same distributions from one ``bootstrap_means_many`` call, in which
  the ten equal-size slices share their resampled indices.
- ``bootstrap_eval_path``: the bootstrap as ``eval compare --slice`` runs it: every array from the
  same seed, the slices inside ``shared_draws`` (equal-size slices reuse the first one's draws).
  This is the line the issue's target is for (< 2 s for 100k items, 10 slices, 2,000
  resamples): the path the product takes.
- ``paired_compare``: the whole comparison over all items (bootstrap + sign-flip permutation test
  with 9,999 draws + power), once with no true difference (the permutation draws stop early) and
  once with a small true difference (p near 0.01: all draws run).
- ``compare_slices``: the per-slice table (every slice compared, Holm-adjusted).
- ``evaluate_slices``: the code path of ``mlstudio eval compare --slice`` (``evaluate`` with a
  precomputed ``score`` metric): the whole comparison, then each slice's, and the report.

Times are the median of ``--repeats``; ``os.getloadavg()`` is printed before and after, because
the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlstudio.integrations.evaluation.multiple import compare_slices
from mlstudio.integrations.evaluation.stats import (
    bca_interval,
    bootstrap_means,
    bootstrap_means_many,
    paired_compare,
    shared_draws,
)

CPU_TIMES: dict[str, list[float]] = {}  # name -> min and median process CPU seconds


def _median_time(fn: Callable[[], Any], repeats: int, name: str = "") -> float:
    """Median wall seconds of ``repeats`` calls; min and median CPU seconds go to CPU_TIMES
    (on a shared machine CPU time shows the code's cost when wall time shows the queue)."""
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    if name:
        CPU_TIMES[name] = [min(cpu), statistics.median(cpu)]
    return statistics.median(times)


def _data(items: int, lift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0.35, 0.125, items)
    a = difficulty + rng.normal(0.0, 0.0368, items)
    b = difficulty + lift + rng.normal(0.0, 0.0368, items)
    return a, b


def run(items: int, slices: int, resamples: int, repeats: int) -> dict[str, Any]:
    a, b = _data(items, 0.0, seed=1)
    d = b - a
    labels = np.arange(items) % slices
    parts = [d[labels == k] for k in range(slices)]

    def bootstrap_all() -> None:
        rng = np.random.default_rng(0)
        for x in [d, *parts]:
            boot = bootstrap_means(x, None, resamples, rng)
            bca_interval(float(x.mean()), boot, 0.0, 0.95)

    def bootstrap_shared() -> None:
        rng = np.random.default_rng(0)
        boots = bootstrap_means_many([d, *parts], resamples, rng)
        for x, boot in zip([d, *parts], boots, strict=True):
            bca_interval(float(x.mean()), boot, 0.0, 0.95)

    def bootstrap_eval_path() -> None:
        for group in ([d], parts):
            with shared_draws():
                for x in group:
                    boot = bootstrap_means(x, None, resamples, np.random.default_rng(0))
                    bca_interval(float(x.mean()), boot, 0.0, 0.95)

    # a lift giving p around 0.01 at this n: 2.6 standard errors
    se = float(np.std(d, ddof=1)) / np.sqrt(items)
    a_small, b_small = _data(items, 2.6 * se, seed=2)
    out: dict[str, Any] = {
        "items": items,
        "slices": slices,
        "resamples": resamples,
        "repeats": repeats,
        "loadavg_before": list(os.getloadavg()),
    }
    out["bootstrap_all_and_slices_s"] = _median_time(bootstrap_all, repeats, "bootstrap")
    out["bootstrap_shared_s"] = _median_time(bootstrap_shared, repeats, "shared")
    out["bootstrap_eval_path_s"] = _median_time(bootstrap_eval_path, repeats, "eval_path")
    out["paired_compare_null_s"] = _median_time(
        lambda: paired_compare(a, b, resamples=resamples), repeats
    )
    small = paired_compare(a_small, b_small, resamples=resamples)
    out["paired_compare_small_effect_p"] = small.p_value
    out["paired_compare_small_effect_s"] = _median_time(
        lambda: paired_compare(a_small, b_small, resamples=resamples), repeats
    )
    out["compare_slices_s"] = _median_time(
        lambda: compare_slices(a, b, {"slice": labels}, resamples=resamples), repeats
    )
    from mlstudio.integrations.evaluation.compare import evaluate

    evaluate([0] * 100, {"a": a[:100], "b": b[:100]}, metrics=["score"])  # imports, once
    out["evaluate_slices_s"] = _median_time(
        lambda: evaluate(
            [0] * items,
            {"a": a, "b": b},
            metrics=["score"],
            slices={"slice": labels.tolist()},
            resamples=resamples,
        ),
        repeats,
        "evaluate",
    )
    out["cpu_s"] = dict(CPU_TIMES)
    out["cpu_count"] = os.cpu_count()
    out["loadavg_after"] = list(os.getloadavg())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args.items, args.slices, args.resamples, args.repeats)
    if args.json:
        print(json.dumps(result))
        return
    print(f"load average before: {result['loadavg_before']} on {result['cpu_count']} CPUs")
    print(
        f"paired bootstrap, {args.resamples} resamples, {args.items} items + {args.slices} slices, "
        f"as eval compare --slice draws it (shared_draws): "
        f"{result['bootstrap_eval_path_s']:.3f} s (target < 2 s)"
    )
    print(
        f"  the same, one bootstrap_means call per array (no shared draws): "
        f"{result['bootstrap_all_and_slices_s']:.3f} s"
    )
    print(
        f"  the same, one bootstrap_means_many call (equal-size slices share indices): "
        f"{result['bootstrap_shared_s']:.3f} s"
    )
    for name, (low, mid) in result["cpu_s"].items():
        print(f"  {name}: CPU time min {low:.3f} s, median {mid:.3f} s")
    print(f"paired_compare, no difference:          {result['paired_compare_null_s']:.3f} s")
    print(
        f"paired_compare, small effect (p={result['paired_compare_small_effect_p']:.4f}): "
        f"{result['paired_compare_small_effect_s']:.3f} s"
    )
    print(f"compare_slices, {args.slices} slices:             {result['compare_slices_s']:.3f} s")
    print(
        f"eval compare --slice path (evaluate), {args.slices} slices: "
        f"{result['evaluate_slices_s']:.3f} s"
    )
    print(f"load average after:  {result['loadavg_after']}")


if __name__ == "__main__":
    main()
