"""Pairwise judges called in both orders, with agreement against human labels.

A judge is ``judge(item, x, y) -> "x" | "y" | "tie"`` or a float score difference x - y. It is
called as (A, B) and as (B, A); the second verdict is mapped back, and when the two disagree the
item is ``"inconsistent"`` (a judge that prefers whatever comes first shows up here). Human labels
("a" | "b" | "tie" per item index) measure how far the judge can be trusted: agreement rate and
Cohen's kappa. :func:`labels_judge` turns imported human labels into a judge.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mlstudio.errors import InvalidInputError

OUTCOMES = ("a", "b", "tie", "inconsistent")
_HUMAN = ("a", "b", "tie")


@dataclass(frozen=True)
class JudgeReport:
    """Both-order verdicts over n items and, when labels were given, agreement with humans."""

    n: int
    a_wins: int
    b_wins: int
    ties: int
    inconsistent: int
    consistency: float  # share of items whose two-order verdicts agree
    outcomes: list[str]  # per item: "a" | "b" | "tie" | "inconsistent"
    human_agreement: float | None = None
    human_n: int | None = None
    cohen_kappa: float | None = None
    notes: tuple[str, ...] = ()
    # per item, the verdict of the (A, B) call and of the (B, A) call mapped back: "a"|"b"|"tie"
    orders: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        for key in ("consistency", "human_agreement", "cohen_kappa"):
            if isinstance(out[key], float) and math.isnan(out[key]):
                out[key] = None  # JSON has no NaN
        return out


def _verdict(raw: Any, tie_delta: float, index: int) -> str:
    """The judge's answer as "x" | "y" | "tie"."""
    if isinstance(raw, str) and raw.strip().lower() in ("x", "y", "tie"):
        return raw.strip().lower()
    if isinstance(raw, numbers.Real) and not isinstance(raw, bool) and not math.isnan(raw):
        if raw > tie_delta:
            return "x"
        if raw < -tie_delta:
            return "y"
        return "tie"
    raise InvalidInputError(
        f"the judge returned {raw!r} on item {index}",
        hint='return "x", "y", "tie" or a float score difference x - y',
    )


def _call(judge: Callable[..., Any], item: Any, x: Any, y: Any, index: int, **kw: Any) -> Any:
    try:
        return judge(item, x, y, **kw)
    except InvalidInputError:
        raise
    except Exception as exc:  # the user's judge: name the item, keep the cause
        raise InvalidInputError(
            f"the judge raised on item {index}: {type(exc).__name__}: {exc}",
            hint="fix the judge or the item; it must return 'x', 'y', 'tie' or a float",
        ) from exc


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float:
    """Cohen's kappa of two label sequences; NaN when chance agreement is 1 (one label only)."""
    import numpy as np

    if len(first) != len(second) or not first:
        raise InvalidInputError(
            "kappa needs two label lists of the same, non-zero length",
            hint="pass one label per item from each rater",
        )
    labels = sorted(set(first) | set(second))
    pos = {label: i for i, label in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for u, v in zip(first, second, strict=True):
        table[pos[u], pos[v]] += 1
    table /= table.sum()
    observed = float(np.trace(table))
    chance = float(table.sum(axis=1) @ table.sum(axis=0))
    return math.nan if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def _human_labels(human: Mapping[int, str], n: int) -> dict[int, str]:
    out: dict[int, str] = {}
    for index, label in human.items():
        if not isinstance(index, int) or not 0 <= index < n:
            raise InvalidInputError(
                f"human label for item {index!r}, but there are {n} items",
                hint="key human labels by item index 0..n-1",
            )
        value = str(label).strip().lower()
        if value not in _HUMAN:
            raise InvalidInputError(
                f"human label {label!r} on item {index} is not a, b or tie",
                hint='label each item "a", "b" or "tie"',
            )
        out[index] = value
    return out


def judge_pairwise(
    items: Sequence[dict],
    preds_a: Sequence[Any],
    preds_b: Sequence[Any],
    judge: Callable[..., str | float],
    *,
    tie_delta: float = 0.0,
    human: Mapping[int, str] | None = None,
) -> JudgeReport:
    """Call ``judge`` on (A, B) and (B, A) for every item and tally the mapped-back verdicts.

    ``tie_delta``: a float verdict with |x - y| <= tie_delta is a tie. ``human``: item index ->
    "a" | "b" | "tie" on a subset; an inconsistent item counts as a disagreement there.
    """
    n = len(items)
    if len(preds_a) != n or len(preds_b) != n:
        raise InvalidInputError(
            f"{n} items but {len(preds_a)} predictions for A and {len(preds_b)} for B",
            hint="pass one prediction per item for each candidate, in the same order",
        )
    if n == 0:
        raise InvalidInputError("no items to judge", hint="pass at least one item")
    if tie_delta < 0:
        raise InvalidInputError(f"tie_delta is {tie_delta}", hint="use tie_delta >= 0")
    order_aware = bool(getattr(judge, "order_aware", False))
    outcomes: list[str] = []
    orders: list[tuple[str, str]] = []
    for i, (item, a, b) in enumerate(zip(items, preds_a, preds_b, strict=True)):
        kw1: dict[str, Any] = {"x_is_a": True} if order_aware else {}
        kw2: dict[str, Any] = {"x_is_a": False} if order_aware else {}
        first = _verdict(_call(judge, item, a, b, i, **kw1), tie_delta, i)
        second = _verdict(_call(judge, item, b, a, i, **kw2), tie_delta, i)
        v1 = {"x": "a", "y": "b", "tie": "tie"}[first]
        v2 = {"x": "b", "y": "a", "tie": "tie"}[second]
        outcomes.append(v1 if v1 == v2 else "inconsistent")
        orders.append((v1, v2))
    counts = {o: outcomes.count(o) for o in OUTCOMES}
    notes: list[str] = []
    note_for = getattr(judge, "note_for", None)
    if callable(note_for):
        note = note_for(items)
        if note:
            notes.append(note)
    agreement = human_n = kappa = None
    if human:
        labels = _human_labels(human, n)
        keys = sorted(labels)
        judged = [outcomes[i] for i in keys]
        given = [labels[i] for i in keys]
        human_n = len(keys)
        agreement = sum(u == v for u, v in zip(judged, given, strict=True)) / human_n
        kappa = cohen_kappa(judged, given)
        if math.isnan(kappa):
            notes.append("Cohen's kappa is undefined: judge and humans used a single label")
    return JudgeReport(
        n=n,
        a_wins=counts["a"],
        b_wins=counts["b"],
        ties=counts["tie"],
        inconsistent=counts["inconsistent"],
        consistency=(n - counts["inconsistent"]) / n,
        outcomes=outcomes,
        human_agreement=agreement,
        human_n=human_n,
        cohen_kappa=kappa,
        notes=tuple(notes),
        orders=orders,
    )


class LabelsJudge:
    """A judge from human labels ("a" | "b" | "tie" per item key); unlabelled items are ties.

    It knows which argument is A because :func:`judge_pairwise` tells order-aware judges
    (``x_is_a``); called directly, x is taken to be A.
    """

    order_aware = True

    def __init__(self, labels: Mapping[Any, str], key: Callable[[dict], Any]) -> None:
        self.labels: dict[Any, str] = {}
        for k, label in labels.items():
            value = str(label).strip().lower()
            if value not in _HUMAN:
                raise InvalidInputError(
                    f"label {label!r} for {k!r} is not a, b or tie",
                    hint='label each item "a", "b" or "tie"',
                )
            self.labels[k] = value
        self.key = key

    def __call__(self, item: dict, x: Any, y: Any, *, x_is_a: bool = True) -> str:
        label = self.labels.get(self.key(item), "tie")
        if label == "tie":
            return "tie"
        return "x" if (label == "a") == x_is_a else "y"

    def note_for(self, items: Sequence[dict]) -> str | None:
        """A note counting the items that had no label (judged a tie), or None."""
        missing = sum(1 for item in items if self.key(item) not in self.labels)
        if not missing:
            return None
        return f"{missing} of {len(items)} items had no human label and were judged a tie"


def labels_judge(labels: Mapping[Any, str], key: Callable[[dict], Any]) -> LabelsJudge:
    """A judge built from imported human labels, looked up by ``key(item)``."""
    return LabelsJudge(labels, key)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (nan, nan) when n = 0."""
    from scipy.stats import norm

    if n == 0:
        return (math.nan, math.nan)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def win_rate_summary(report: JudgeReport, confidence: float = 0.95) -> dict[str, Any]:
    """B's win rate among decided items (ties and inconsistent left out) with a Wilson CI."""
    decided = report.a_wins + report.b_wins
    low, high = wilson_interval(report.b_wins, decided, confidence)
    return {
        "n": report.n,
        "decided": decided,
        "b_wins": report.b_wins,
        "a_wins": report.a_wins,
        "ties": report.ties,
        "inconsistent": report.inconsistent,
        "b_win_rate": report.b_wins / decided if decided else None,
        "ci": None if not decided else [low, high],
        "confidence": confidence,
        "method": "Wilson score interval",
    }
