"""Business-metric anomaly detection: a seasonal median baseline with robust (MAD) residuals.

A series is ``{period: value}`` per dimension combination; a missing period (or ``None``) is
"no data" — never zero — and is neither in the baseline nor alerted. For period ``t`` the
baseline is the look-back ``[t - window, t - 1]``, cut at the latest visible change point
(``new_trend`` feedback), without ``event`` windows and without earlier anomalies (unless
marked ``false_alarm``). Expected value = the history's median level + the median offset of
``t``'s phase (``t mod season``, when that phase has at least two points); scale = 1.4826·MAD
of the history's leave-one-out residuals (at least IQR/1.349). ``|z| = |x - expected| / scale >
threshold`` is an anomaly.

Re-baselining (documented window): after ``new_trend`` feedback the detector gives no verdict
until ``min_points`` points of the new level exist and, below ``min_history`` points, the
threshold is raised linearly up to 2x — so a level shift stops alerting at the first
evaluation after the feedback, while a large separate spike is still caught.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.monitoring.feedback import Feedback, visible

STATUSES = ("ok", "anomaly", "no_data", "warming_up", "event")
_EXCLUDE_KINDS = frozenset({"confirmed", "expected", "missed"})


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's knobs (versioned with its feedback by the service)."""

    season: int = 7
    window: int = 56
    threshold: float = 4.0
    min_points: int = 3
    min_history: int = 14
    false_alarm_margin: float = 1.25

    def __post_init__(self) -> None:
        problems = []
        if self.season < 1:
            problems.append("season >= 1")
        if self.window < 2:
            problems.append("window >= 2")
        if self.threshold <= 0:
            problems.append("threshold > 0")
        if not 1 <= self.min_points <= self.min_history:
            problems.append("1 <= min_points <= min_history")
        if problems:
            raise InvalidInputError(
                "invalid anomaly detector settings", hint="need " + ", ".join(problems)
            )

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> DetectorConfig:
        raw = dict(raw or {})
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(
                f"unknown anomaly setting(s): {', '.join(sorted(unknown))}",
                hint=f"use {', '.join(cls.__dataclass_fields__)}",
            )
        try:
            return cls(**{k: type(getattr(cls, k))(v) for k, v in raw.items()})
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"invalid anomaly setting: {exc}", hint="use numbers") from None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """The detector's answer for one period of one series."""

    t: int
    value: float | None
    status: str
    expected: float | None = None
    scale: float | None = None
    z: float | None = None
    threshold: float | None = None
    history: int = 0
    affected_by_feedback: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    k = len(s)
    return s[k // 2] if k % 2 else 0.5 * (s[k // 2 - 1] + s[k // 2])


def _iqr(xs: Sequence[float]) -> float:
    """Interquartile range (linear interpolation); with the MAD it keeps the scale honest on
    discrete (e.g. integer) data, where the MAD alone collapses."""
    s = sorted(xs)
    if len(s) < 2:
        return 0.0

    def q(f: float) -> float:
        pos = f * (len(s) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    return q(0.75) - q(0.25)


def _value(series: Mapping[int, float | None], t: int) -> float | None:
    v = series.get(t)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return float(v)


def evaluate_point(
    series: Mapping[int, float | None],
    t: int,
    config: DetectorConfig | None = None,
    feedback: Iterable[Feedback] = (),
    *,
    dims: Mapping[str, Any] | None = None,
    metric: str | None = None,
    anomalies: Iterable[int] = (),
) -> Verdict:
    """Verdict for period ``t`` using only feedback given before ``t`` (future-only rule)."""
    cfg = config or DetectorConfig()
    fb = visible(feedback, t, dims or {}, metric)
    used = bool(fb)
    x = _value(series, t)
    if x is None:
        return Verdict(t, None, "no_data", affected_by_feedback=used)
    events = [f for f in fb if f.kind == "event"]
    if any(f.covers(t) for f in events):
        return Verdict(t, x, "event", affected_by_feedback=True)
    trend = max(
        (f for f in fb if f.kind == "new_trend" and f.start <= t),
        key=lambda f: f.start,
        default=None,
    )
    lo = t - cfg.window if trend is None else max(t - cfg.window, trend.start)
    false_alarms = [f for f in fb if f.kind == "false_alarm"]
    # anomalies between a change point and its feedback were the new level: they stay in
    excluded = {
        s
        for s in anomalies
        if not any(f.covers(s) for f in false_alarms)
        and not (trend is not None and trend.start <= s <= trend.given_at)
    }
    excl_ranges = [f for f in fb if f.kind in _EXCLUDE_KINDS]
    history: dict[int, float] = {}
    for s in range(lo, t):
        v = _value(series, s)
        if v is None or s in excluded:
            continue
        if any(f.covers(s) for f in events) or any(f.covers(s) for f in excl_ranges):
            continue
        history[s] = v
    n = len(history)
    if n < cfg.min_points:
        return Verdict(t, x, "warming_up", history=n, affected_by_feedback=used)
    level = _median(list(history.values()))
    by_phase: dict[int, dict[int, float]] = {}
    if cfg.season > 1:
        for s, v in history.items():
            by_phase.setdefault(s % cfg.season, {})[s] = v - level

    def expected_at(s: int, leave_out: bool = False) -> float:
        phase = by_phase.get(s % cfg.season, {})
        others = [d for q, d in phase.items() if not (leave_out and q == s)]
        return level + (_median(others) if len(others) >= 2 else 0.0)

    # leave-one-out residuals: a point's own value does not shrink its residual (honest scale)
    residuals = [v - expected_at(s, leave_out=True) for s, v in history.items()]
    centre = _median(residuals)
    scale = max(1.4826 * _median([abs(r - centre) for r in residuals]), _iqr(residuals) / 1.349)
    scale = max(scale, 1e-9, 1e-6 * abs(level))
    expected = expected_at(t)
    z = (x - expected) / scale
    thr = cfg.threshold
    if n < cfg.min_history:
        thr *= 1.0 + (cfg.min_history - n) / cfg.min_history
    tolerance = 0.0
    for s in history:
        if any(f.covers(s) for f in false_alarms):
            tolerance = max(tolerance, abs(history[s] - expected_at(s, True)) / scale)
    limit = max(thr, tolerance * cfg.false_alarm_margin)
    status = "anomaly" if abs(z) > limit else "ok"
    return Verdict(t, x, status, expected, scale, z, limit, n, used)


def detect(
    series: Mapping[int, float | None],
    periods: Iterable[int],
    config: DetectorConfig | None = None,
    feedback: Iterable[Feedback] = (),
    *,
    dims: Mapping[str, Any] | None = None,
    metric: str | None = None,
    anomalies: Iterable[int] = (),
) -> list[Verdict]:
    """Evaluate ``periods`` in order; each period's anomalies leave later baselines."""
    fb = list(feedback)
    flagged = set(anomalies)
    out = []
    for t in sorted(periods):
        v = evaluate_point(series, t, config, fb, dims=dims, metric=metric, anomalies=flagged)
        if v.status == "anomaly":
            flagged.add(t)
        out.append(v)
    return out
