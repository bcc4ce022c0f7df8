"""The comparison itself, on plain arrays: each candidate's predictions against the baseline's
(the first), per metric, overall and per slice, with one multiple-testing family for every
slice, metric and candidate; a ranking when there are three or more candidates.

``evaluate`` (``mlstudio.evaluate`` in the SDK) is this, for a task that holds predictions;
``mlstudio eval compare`` resolves candidates, calls it and stores what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mlstudio.errors import InvalidInputError

MIN_SLICE_N = 10
MAX_SLICE_VALUES = 50
CORRECTIONS = ("holm", "bh")
ALPHA = 0.05


def check_options(margin: Any, resamples: Any, confidence: Any, correction: Any) -> None:
    import math

    if not isinstance(margin, int | float) or math.isnan(margin) or margin < 0:
        raise InvalidInputError(
            f"margin must be a number >= 0, not {margin!r}", hint="--margin 0.01"
        )
    if not isinstance(resamples, int) or not 100 <= resamples <= 100_000:
        raise InvalidInputError(
            f"resamples must be between 100 and 100000, not {resamples}", hint="--resamples 2000"
        )
    if not isinstance(confidence, int | float) or not 0.5 < confidence < 1:
        raise InvalidInputError(
            f"confidence must be between 0.5 and 1, not {confidence}", hint="--confidence 0.95"
        )
    if correction not in CORRECTIONS:
        raise InvalidInputError(
            f"unknown correction {correction!r}", hint="--correction holm or --correction bh"
        )


def evaluate(
    y_true: Sequence[Any],
    predictions: Mapping[str, Sequence[Any]],
    *,
    metrics: Sequence[str] | None = None,
    slices: Mapping[str, Sequence[Any]] | None = None,
    clusters: Sequence[Any] | None = None,
    margin: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    correction: str = "holm",
    keep_item_scores: bool = False,
) -> dict[str, Any]:
    """Compare every candidate of ``predictions`` (name -> one prediction per item; the first
    is the baseline) with the baseline: per metric n, means with CIs, Δ with a paired CI, a
    paired test, a verdict, MDE; per slice the same with ``correction`` across all of them.

    Returns a JSON-ready dict (``comparisons``, ``slices``, ``ranking``…); with
    ``keep_item_scores``, ``item_scores`` (``{(metric, candidate): array}``) too."""
    import numpy as np

    from mlstudio.integrations.evaluation import stats
    from mlstudio.integrations.evaluation.metrics import default_metrics, get_metric

    check_options(margin, resamples, confidence, correction)
    names = list(predictions)
    if len(names) < 2:
        raise InvalidInputError(
            "evaluate needs at least two candidates: the baseline first, then the others",
            hint="evaluate(y, {'baseline': b, 'model': p})",
        )
    wanted = [get_metric(m) for m in dict.fromkeys(metrics or [])]
    text = _is_text(y_true, predictions[names[0]], wanted)
    y = _as_values(y_true, "y_true", text)
    preds = {n: _as_values(predictions[n], f"predictions of {n}", text) for n in names}
    for n, p in preds.items():
        if len(p) != len(y):
            raise InvalidInputError(
                f"{n} has {len(p)} predictions for {len(y)} items",
                hint="give one prediction per item, in the same order as y_true",
            )
    slices = dict(slices or {})
    for col, values in slices.items():
        if len(values) != len(y):
            raise InvalidInputError(
                f"slice {col!r} has {len(values)} values for {len(y)} items",
                hint="give one slice value per item",
            )
    groups = np.asarray(list(clusters)) if clusters is not None else None
    if groups is not None and len(groups) != len(y):
        raise InvalidInputError(
            f"clusters has {len(groups)} values for {len(y)} items", hint="one group per item"
        )
    valid = np.asarray([v is not None for v in y]) if text else ~np.isnan(y)
    if text:
        task = "text"
    else:
        present = y[valid]
        binary = len(present) and np.isin(present, (0.0, 1.0)).all()
        task = "classification" if binary else "regression"
    wanted = wanted or [get_metric(m) for m in default_metrics(task)]
    options = {
        "margin": float(margin),
        "resamples": int(resamples),
        "seed": int(seed),
        "confidence": float(confidence),
        "valid": valid,
    }
    item_scores: dict[tuple[str, str], Any] = {}
    for metric in wanted:
        if metric.kind == "item":
            for n in names:
                scores = np.full(len(y), np.nan)
                scores[valid] = metric.item_scores(y[valid], preds[n][valid])
                item_scores[(metric.name, n)] = scores
    base = names[0]
    comparisons = []
    for metric in wanted:
        for other in names[1:]:
            result = _compare(
                metric, y, preds[base], preds[other], None, groups, options, item_scores,
                (base, other),
            )  # fmt: skip
            comparisons.append(
                {"metric": metric.name, "candidate": other, "baseline": base, **result}
            )
    with stats.shared_draws():  # every slice starts from the same seed: draw its indices once
        slice_rows = _slices(wanted, y, preds, names, slices, groups, options)
    family = _adjust(slice_rows, correction)
    ranking, ranking_metric = _ranking(wanted, item_scores, names, options)
    n_missing = int((~valid).sum())
    out = {
        "task": task,
        "n_items": int(len(y) - n_missing),
        "baseline": base,
        "metrics": [m.name for m in wanted],
        "margin": float(margin),
        "confidence": float(confidence),
        "resamples": int(resamples),
        "seed": int(seed),
        "correction": correction,
        "family_size": family,
        "comparisons": comparisons,
        "slices": slice_rows,
        "ranking": ranking,
        "ranking_metric": ranking_metric,
        "notes": [f"{n_missing} items without a label were left out"] if n_missing else [],
    }
    if keep_item_scores:
        out["item_scores"] = item_scores
    return out


def _is_text(y_true: Any, first: Any, wanted: list[Any]) -> bool:
    """Text items (strings compared by text metrics) rather than numbers."""
    if wanted:
        kinds = {m.task == "text" for m in wanted}
        if len(kinds) > 1:
            raise InvalidInputError(
                "text metrics and numeric metrics cannot be mixed in one evaluation",
                hint="run one evaluation with the text metrics and one with the others",
            )
        return kinds == {True}
    sample = next((v for v in list(first) if v is not None), None)
    return isinstance(sample, str)


def _as_values(values: Any, what: str, text: bool) -> Any:
    import numpy as np

    if text:
        return np.asarray([None if v is None else str(v) for v in list(values)], dtype=object)
    try:
        return np.asarray([np.nan if v is None else v for v in list(values)], dtype=float)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{what} is not numeric", hint="give numbers (0/1 outcomes, scores, values)"
        ) from None


def _compare(
    metric: Any,
    y: Any,
    pa: Any,
    pb: Any,
    mask: Any,
    clusters: Any,
    options: dict[str, Any],
    item_scores: dict[tuple[str, str], Any] | None = None,
    pair: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """One paired comparison of predictions ``pb`` against ``pa`` on ``metric`` (``mask``:
    only those items)."""
    import numpy as np

    from mlstudio.integrations.evaluation import auc, stats

    select = mask if mask is not None else np.ones(len(y), dtype=bool)
    keep = select & options["valid"]
    yk, ak, bk = y[keep], pa[keep], pb[keep]
    ck = clusters[keep] if clusters is not None else None
    common = {"margin": options["margin"], "confidence": options["confidence"]}
    if metric.kind == "auc":
        result = auc.delong_compare(yk, ak, bk, **common)
    elif metric.kind == "aggregate":
        result = stats.paired_compare_statistic(
            lambda idx: (metric.statistic(yk, ak, idx), metric.statistic(yk, bk, idx)),
            len(yk),
            higher_is_better=metric.higher_is_better,
            clusters=ck,
            resamples=options["resamples"],
            seed=options["seed"],
            **common,
        )
    else:
        if item_scores is not None and pair is not None:
            sa = item_scores[(metric.name, pair[0])][keep]
            sb = item_scores[(metric.name, pair[1])][keep]
        else:
            sa, sb = metric.item_scores(yk, ak), metric.item_scores(yk, bk)
        result = stats.paired_compare(
            sa,
            sb,
            higher_is_better=metric.higher_is_better,
            clusters=ck,
            resamples=options["resamples"],
            seed=options["seed"],
            **common,
        )
    return result.to_dict()


def _slices(
    wanted: list[Any],
    y: Any,
    preds: dict[str, Any],
    names: list[str],
    slices: dict[str, Sequence[Any]],
    clusters: Any,
    options: dict[str, Any],
) -> list[dict[str, Any]]:
    import numpy as np

    rows: list[dict[str, Any]] = []
    base = names[0]
    for col, raw in slices.items():
        values = list(raw)
        distinct = list(dict.fromkeys(v for v in values if v is not None))
        if len(distinct) > MAX_SLICE_VALUES:
            raise InvalidInputError(
                f"slice column {col!r} has {len(distinct)} distinct values (at most "
                f"{MAX_SLICE_VALUES})",
                hint="slice by a column with few values (plan, region), or bucket it first",
            )
        for value in sorted(distinct, key=str):
            mask = np.asarray([v == value for v in values])
            n = int((mask & options["valid"]).sum())
            for metric in wanted:
                for other in names[1:]:
                    row: dict[str, Any] = {
                        "column": col,
                        "value": value,
                        "metric": metric.name,
                        "candidate": other,
                        "n": n,
                        "tested": False,
                        "delta": None,
                        "delta_ci": None,
                        "p_value": None,
                        "adjusted_p": None,
                        "verdict": None,
                        "higher_is_better": metric.higher_is_better,
                        "note": None,
                    }
                    if n < MIN_SLICE_N:
                        row["delta"] = _mean_delta(
                            metric, y, preds[base], preds[other], mask & options["valid"]
                        )
                        row["note"] = f"{n} items: reported, not tested (min {MIN_SLICE_N})"
                        rows.append(row)
                        continue
                    try:
                        result = _compare(
                            metric, y, preds[base], preds[other], mask, clusters, options
                        )
                    except InvalidInputError as exc:  # e.g. one class only in this slice
                        row["note"] = exc.message
                        rows.append(row)
                        continue
                    row.update(
                        tested=result["p_value"] is not None,
                        delta=result["delta"],
                        delta_ci=result["delta_ci"],
                        p_value=result["p_value"],
                        verdict=result["verdict"],
                        note="; ".join(result["notes"]) or None,
                    )
                    rows.append(row)
    return rows


def _mean_delta(metric: Any, y: Any, pa: Any, pb: Any, keep: Any) -> float | None:
    """Δ of an item metric's mean on a slice too small to test (None for other metrics)."""
    import numpy as np

    if metric.kind != "item" or not keep.any():
        return None
    diff = metric.item_scores(y[keep], pb[keep]) - metric.item_scores(y[keep], pa[keep])
    diff = diff[np.isfinite(diff)]
    return float(diff.mean()) if len(diff) else None


def _adjust(rows: list[dict[str, Any]], method: str) -> int:
    """Adjust every tested slice's p-value in one family; returns the family's size. A slice
    significant only before the correction is called tied, with a note."""
    from mlstudio.integrations.evaluation.multiple import adjust

    tested = [r for r in rows if r["tested"]]
    adjusted = adjust([r["p_value"] for r in tested], method)
    for row, p in zip(tested, adjusted, strict=True):
        row["adjusted_p"] = p
        if p is not None and p >= ALPHA and row["verdict"] in ("better", "worse"):
            row["verdict"] = "tied"
            note = "not significant after correction"
            row["note"] = f"{row['note']}; {note}" if row["note"] else note
    return len(tested)


def _ranking(
    wanted: list[Any],
    item_scores: dict[tuple[str, str], Any],
    names: list[str],
    options: dict[str, Any],
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """With three or more candidates: a ranking on the first item metric, with intervals."""
    if len(names) < 3:
        return None, None
    metric = next((m for m in wanted if m.kind == "item"), None)
    if metric is None:
        return None, None
    from mlstudio.integrations.evaluation.ranking import rank_candidates

    entries = rank_candidates(
        {n: item_scores[(metric.name, n)] for n in names},
        higher_is_better=metric.higher_is_better,
        resamples=min(options["resamples"], 1000),
        seed=options["seed"],
    )
    return [
        {
            "name": e.name,
            "mean": float(e.mean),
            "ci": {"low": float(e.ci.low), "high": float(e.ci.high)},
            "rank": int(e.rank),
            "rank_ci": [int(e.rank_ci[0]), int(e.rank_ci[1])],
        }
        for e in entries
    ], metric.name
