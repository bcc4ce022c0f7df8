"""The feedback vocabulary (ThirdEye / Azure Metrics Advisor / Merlion) and its bookkeeping.

A feedback item is scoped by a metric, a dimension filter (a subset of a series' dimensions;
empty = every series) and a period range ``[start, end]``; ``given_at`` is the period at which
it was given. Feedback applies to evaluations of periods *after* ``given_at`` only: points
already evaluated keep their verdicts ("processed points are not recalculated").

- ``confirmed``: a real anomaly (true positive); its points stay out of the baseline.
- ``expected``: real but explained (a one-off); a true positive, out of the baseline.
- ``false_alarm``: not an anomaly; its points return to the baseline as normal data, and a
  future deviation no larger (in robust z) than the largest false alarm in the look-back is
  not alerted.
- ``missed``: a false negative over a range; counts against recall, out of the baseline.
- ``new_trend``: a permanent level shift; ``start`` becomes a change point, the baseline
  restarts from it and the detector is less sensitive until enough new history exists.
- ``event``: a planned or one-off event; its window is excluded from baselines and its points
  are not alerted.
- ``comment``: text only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlstudio.errors import InvalidInputError

KINDS = ("confirmed", "expected", "false_alarm", "missed", "new_trend", "event", "comment")
TRUE_POSITIVE = frozenset({"confirmed", "expected", "new_trend"})


@dataclass(frozen=True)
class Feedback:
    """One feedback item over periods ``start..end`` (inclusive) of the matching series."""

    kind: str
    start: int
    end: int
    given_at: int
    dims: Mapping[str, str] = field(default_factory=dict)
    metric: str | None = None
    comment: str = ""
    alert_id: str | None = None

    def __post_init__(self) -> None:
        check_kind(self.kind)
        if self.end < self.start:
            raise InvalidInputError(
                f"feedback range ends ({self.end}) before it starts ({self.start})",
                hint="pass start <= end",
            )

    def matches(self, dims: Mapping[str, Any], metric: str | None = None) -> bool:
        """Whether this feedback's scope covers the series ``dims`` (and ``metric``)."""
        if self.metric is not None and metric is not None and self.metric != metric:
            return False
        return all(str(dims.get(k)) == str(v) for k, v in self.dims.items())

    def covers(self, t: int) -> bool:
        return self.start <= t <= self.end


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInputError(
            f"unknown feedback kind {kind!r}", hint=f"use one of {', '.join(KINDS)}"
        )
    return kind


def visible(
    feedback: Iterable[Feedback], at: int, dims: Mapping[str, Any], metric: str | None = None
) -> list[Feedback]:
    """The feedback an evaluation of period ``at`` may use: given before ``at``, in scope."""
    return [f for f in feedback if f.given_at < at and f.matches(dims, metric)]


@dataclass(frozen=True)
class Quality:
    """A detector's precision and recall as judged by its feedback."""

    true_positives: int
    false_positives: int
    missed: int
    precision: float | None
    recall: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "true_positives": self.true_positives,
            "false_positives": self.false_positives,
            "missed": self.missed,
            "precision": self.precision,
            "recall": self.recall,
        }


def quality(alert_kinds: Sequence[str | None], missed: int) -> Quality:
    """Precision = TP / alerts with feedback (ThirdEye); recall = TP / (TP + missed ranges).

    ``alert_kinds`` holds, per alert, its latest feedback kind (None = no feedback yet).
    """
    tp = sum(1 for k in alert_kinds if k in TRUE_POSITIVE)
    fp = sum(1 for k in alert_kinds if k == "false_alarm")
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + missed) if tp + missed else None
    return Quality(tp, fp, missed, precision, recall)


def detector_feedback(rows: list[dict[str, Any]], per: str, metric: str) -> list[Feedback]:
    """The stored feedback rows that concern ``metric``, as the detector reads them."""
    from mlstudio.integrations.monitoring.windows import parse_window

    out = []
    for f in rows:
        if f["kind"] == "comment" or (f["metric"] not in (None, metric)):
            continue
        out.append(Feedback(
            f["kind"], start=parse_window(f["start_window"], per),
            end=parse_window(f["end_window"], per), given_at=int(f["given_at"]),
            dims=f["dims"] or {}, metric=f["metric"], comment=f["comment"],
            alert_id=f["alert_id"]))  # fmt: skip
    return out


def latest_feedback_kinds(uow: Any, monitors: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each alert's latest feedback kind (comments aside)."""
    out: dict[str, str] = {}
    for mid in monitors:
        for f in uow.monitoring.feedback(mid):
            if f["alert_id"] and f["kind"] != "comment":
                out[f["alert_id"]] = f["kind"]  # the last word wins
    return out
