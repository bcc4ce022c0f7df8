"""The seasonal anomaly detector and its feedback semantics on seeded simulated series."""

from __future__ import annotations

import numpy as np
import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.monitoring.anomaly import DetectorConfig, detect, evaluate_point
from mlstudio.integrations.monitoring.feedback import Feedback, quality


def _series(seed: int, days: int = 200, level: float = 100.0) -> dict[int, float | None]:
    rng = np.random.default_rng(seed)
    return {t: level + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2) for t in range(days)}


def _alerts(verdicts) -> list[int]:
    return [v.t for v in verdicts if v.status == "anomaly"]


def test_a_seasonal_series_without_anomalies_rarely_alerts_and_a_spike_is_caught() -> None:
    false, total = 0, 0
    for seed in range(10):
        verdicts = detect(_series(seed), range(56, 200))
        false += len(_alerts(verdicts))
        total += len(verdicts)
    assert false / total < 0.01
    x = _series(42)
    x[120] = x[120] + 25  # a spike of about 12sigma of the noise, on a weekly pattern of ±10
    assert 120 in _alerts(detect(x, range(56, 200)))


def test_a_gap_is_no_data_not_zero() -> None:
    x = _series(1)
    for t in range(100, 104):
        x.pop(t)
    x[104] = None
    verdicts = {v.t: v for v in detect(x, range(90, 130))}
    assert [verdicts[t].status for t in range(100, 105)] == ["no_data"] * 5
    assert not _alerts(verdicts.values())
    zeros = dict(x)
    for t in range(100, 105):
        zeros[t] = 0.0
    assert set(_alerts(detect(zeros, range(90, 130)))) >= set(range(100, 105))


def test_new_trend_stops_a_level_shift_alerting_while_a_later_spike_is_caught() -> None:
    x = _series(2)
    for t in range(100, 200):
        x[t] = x[t] + 30  # a permanent level shift at 100
    x[150] = x[150] + 40  # a separate spike later
    without = _alerts(detect(x, range(60, 200)))
    assert set(range(100, 110)) <= set(without)  # the shift keeps alerting without feedback

    # the user sees the alerts of 100..102 and marks 100 a new trend at period 102
    fb = [Feedback("new_trend", start=100, end=100, given_at=102)]
    verdicts = {v.t: v for v in detect(x, range(60, 200), feedback=fb)}
    alerts = _alerts(verdicts.values())
    assert {100, 101, 102} <= set(alerts)  # already evaluated: not recalculated
    # documented window: no alert on the new level from the first evaluation after feedback
    assert [t for t in alerts if t > 102] == [150]
    assert verdicts[103].history == 3  # the baseline restarted at the change point
    assert verdicts[103].threshold is not None and verdicts[103].threshold > 1.5 * 4.0
    assert verdicts[101].status == "anomaly" and verdicts[101].history > 30
    assert verdicts[110].threshold is not None and verdicts[110].threshold > 4.0  # less sensitive
    assert verdicts[160].threshold == pytest.approx(4.0)  # enough new history again


def test_an_event_window_is_excluded_from_the_baseline() -> None:
    x = _series(3)
    for t in range(70, 100):
        x[t] = x[t] * 1.5  # a 30-day promotion
    x[100] = x[100] + 25  # a real spike right after it
    event = [Feedback("event", start=70, end=99, given_at=69)]
    with_event = evaluate_point(x, 100, feedback=event)
    without = evaluate_point(x, 100)
    normal = evaluate_point(_series(3), 100)
    assert with_event.expected == pytest.approx(normal.expected, abs=3)
    assert with_event.history == 56 - 30
    assert without.expected is not None and without.expected > normal.expected + 20
    assert with_event.status == "anomaly"
    assert without.status == "ok"  # the promotion polluted the baseline: the spike is missed
    assert evaluate_point(x, 80, feedback=event).status == "event"  # and is not alerted


def test_false_alarm_changes_future_evaluations_only() -> None:
    x = _series(4)
    x[100] = x[100] + 14
    x[120] = x[120] + 14  # the same deviation again
    x[130] = x[130] + 60  # a much larger one
    before = detect(x, range(60, 140))
    assert {100, 120, 130} <= set(_alerts(before))
    fb = [Feedback("false_alarm", start=100, end=100, given_at=105)]
    after = {v.t: v for v in detect(x, range(60, 140), feedback=fb)}
    assert after[100].status == "anomaly"  # the past verdict stands
    assert all(after[t] == v for v in before for t in [v.t] if t <= 105)  # nothing before changed
    assert after[120].status == "ok" and after[120].affected_by_feedback
    assert after[130].status == "anomaly"


def test_feedback_is_scoped_by_dimension_filter() -> None:
    x = _series(5)
    for t in range(100, 200):
        x[t] = x[t] + 30
    fb = [Feedback("new_trend", start=100, end=100, given_at=101, dims={"region": "eu"})]
    eu = _alerts(detect(x, range(90, 130), feedback=fb, dims={"region": "eu", "plan": "pro"}))
    us = _alerts(detect(x, range(90, 130), feedback=fb, dims={"region": "us", "plan": "pro"}))
    assert [t for t in eu if t > 101] == []
    assert len([t for t in us if t > 101]) >= 5


def test_precision_and_recall_from_feedback() -> None:
    q = quality(["confirmed", "false_alarm", "expected", None, "new_trend"], missed=1)
    assert (q.true_positives, q.false_positives, q.missed) == (3, 1, 1)
    assert q.precision == pytest.approx(0.75) and q.recall == pytest.approx(0.75)
    assert quality([None], missed=0).precision is None


def test_bad_settings_and_feedback_are_refused() -> None:
    with pytest.raises(InvalidInputError) as bad:
        DetectorConfig(min_points=20, min_history=10)
    assert "min_points <= min_history" in (bad.value.hint or "")
    with pytest.raises(InvalidInputError, match="unknown anomaly setting"):
        DetectorConfig.of({"sesaon": 7})
    with pytest.raises(InvalidInputError, match="unknown feedback kind"):
        Feedback("wrong", start=1, end=1, given_at=1)
    with pytest.raises(InvalidInputError, match="before it starts"):
        Feedback("missed", start=5, end=1, given_at=1)
