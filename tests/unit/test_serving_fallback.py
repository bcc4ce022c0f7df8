"""The fallback chain and circuit breaker, on fake versions (no process, no DB)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.serving.fallback import (
    CircuitBreaker,
    ColumnBaseline,
    ConstantBaseline,
    FallbackChain,
    MissingInputError,
    NoAnswerError,
    parse_fallback,
)
from mlstudio.integrations.serving.host import LoadedVersion


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Fake:
    """Answers ``value`` per row; fails while ``fail`` is set; blocks while ``hang`` is set."""

    def __init__(self, version: int, value: float = 1.0) -> None:
        self.version = version
        self.digest = f"{version:064x}"
        self.value = value
        self.fail = False
        self.hang: threading.Event | None = None
        self.calls = 0

    def prepare(self, rows: list[dict[str, Any]]) -> tuple[Any, dict[str, int]]:
        if any("x" not in r for r in rows):
            raise MissingInputError("x is missing", details={"x": 1})
        return rows, {}

    def predict(self, rows: Any) -> list[float]:
        self.calls += 1
        if self.hang is not None:
            self.hang.wait(5)
        if self.fail:
            raise RuntimeError("boom")
        return [self.value] * len(rows)


def run(chain: FallbackChain, *args: Any, **kwargs: Any) -> Any:
    return asyncio.run(chain.run(*args, **kwargs))


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown():
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        breaker.failure()
    assert breaker.allow() and breaker.state == "closed"
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 10.0
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # exactly one trial request
    breaker.failure()  # the trial failed: open again, for another cooldown
    assert breaker.state == "open"
    clock.now = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


def test_a_success_resets_the_consecutive_count():
    breaker = CircuitBreaker(failures=2, cooldown_s=10, clock=Clock())
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state == "closed"


def test_primary_answers_when_healthy():
    chain = FallbackChain(use_previous=True, baseline=ConstantBaseline(0.5))
    out = run(chain, [{"x": 1}], Fake(2, 0.9), Fake(1, 0.1))
    assert (out.predictions, out.version, out.answered_by, out.fallback_reason) == (
        [0.9],
        2,
        "model",
        None,
    )


def test_an_error_is_retried_then_the_previous_version_answers():
    primary, previous = Fake(2), Fake(1, 0.1)
    primary.fail = True
    chain = FallbackChain(use_previous=True, retries=1)
    out = run(chain, [{"x": 1}], primary, previous)
    assert primary.calls == 2  # the first try and one retry
    assert (out.version, out.answered_by, out.fallback_reason) == (1, "previous", "error")
    assert [a.outcome for a in out.attempts] == ["error", "error", "ok"]


def test_without_previous_the_baseline_answers_and_without_one_it_is_a_503():
    primary = Fake(2)
    primary.fail = True
    out = run(FallbackChain(baseline=ColumnBaseline("rule")), [{"x": 1, "rule": 0.3}], primary)
    assert (out.predictions, out.answered_by, out.version) == ([0.3], "baseline", None)
    with pytest.raises(NoAnswerError) as caught:
        run(FallbackChain(), [{"x": 1}], primary)
    assert caught.value.http_status == 503 and "version:2 error" in caught.value.message


def test_a_hang_times_out_is_not_retried_and_counts_against_the_breaker():
    primary = Fake(2)
    primary.hang = threading.Event()
    chain = FallbackChain(baseline=ConstantBaseline(0.5), timeout_s=0.05, failures=2)
    try:
        out = run(chain, [{"x": 1}], primary)
        assert (out.answered_by, out.fallback_reason) == ("baseline", "timeout")
        assert primary.calls == 1
        run(chain, [{"x": 1}], primary)
        out = run(chain, [{"x": 1}], primary)  # two timeouts: the breaker is open
        assert out.fallback_reason == "circuit_open" and primary.calls == 2
    finally:
        primary.hang.set()


def test_missing_inputs_go_to_the_fallback_without_blaming_the_model():
    primary = Fake(2)
    chain = FallbackChain(baseline=ConstantBaseline(0.5), failures=1)
    out = run(chain, [{"y": 1}], primary)
    assert (out.answered_by, out.fallback_reason, out.missing) == (
        "baseline",
        "missing_input",
        {"x": 1},
    )
    assert primary.calls == 0
    assert run(chain, [{"x": 1}], primary).answered_by == "model"  # breaker still closed


def test_forced_kill_switch_skips_the_models():
    primary = Fake(2)
    out = run(FallbackChain(baseline=ConstantBaseline(0.5)), [{"x": 1}], primary, forced="kill")
    assert (out.answered_by, out.fallback_reason, primary.calls) == ("baseline", "kill", 0)


def test_parse_fallback():
    use_previous, baseline = parse_fallback("previous, column:score")
    assert use_previous and isinstance(baseline, ColumnBaseline) and baseline.column == "score"
    assert parse_fallback(None) == (False, None)
    assert parse_fallback("constant:0.25")[1].predict([{}, {}]) == [0.25, 0.25]
    assert parse_fallback("ns/mod/task")[1] == "ns/mod/task"
    for bad in ("sideways", "constant:high", "column:"):
        with pytest.raises(InvalidInputError):
            parse_fallback(bad)


def _loaded(**kwargs: Any) -> LoadedVersion:
    class Proba:
        def predict_proba(self, x: Any) -> Any:
            import numpy as np

            p = np.asarray(x, dtype=float)[:, 0] / 10.0
            return np.stack([1 - p, p], axis=1)

    base = dict(
        name="m",
        version=1,
        digest="0" * 64,
        model=Proba(),
        features=["a", "b"],
        defaults={"b": 3.0},
        classification="public",
    )
    return LoadedVersion(**{**base, **kwargs})


def test_prepare_fills_defaults_counts_them_and_refuses_wrong_types():
    loaded = _loaded()
    prepared, missing = loaded.prepare([{"a": 1, "b": None}, {"a": 2.5}])
    assert prepared.tolist() == [[1.0, 3.0], [2.5, 3.0]] and missing == {"b": 2}
    assert loaded.predict(prepared) == pytest.approx([0.1, 0.25])
    with pytest.raises(MissingInputError):
        loaded.prepare([{"b": 1}])
    for bad in ("1", True, [1]):
        with pytest.raises(InvalidInputError, match="column a must be a number"):
            loaded.prepare([{"a": bad, "b": 1}])
