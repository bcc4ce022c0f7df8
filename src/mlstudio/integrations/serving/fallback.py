"""The fallback chain: retry within the version, then the previous version, then a baseline.

Each request's decisions are returned as ``Attempt`` records (logged with the prediction). A
version that keeps failing (errors or timeouts) trips its ``CircuitBreaker``: it is skipped for
``cooldown_s``, then one request tries it again (half-open) and closes or re-opens the breaker.
A model that hangs past ``timeout_s`` is abandoned (its thread finishes on its own) and the
request goes down the chain.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlstudio.errors import InvalidInputError, StoreUnavailableError


class MissingInputError(InvalidInputError):
    """A feature is absent or null and has no declared default (goes to the fallback)."""

    code = "missing_input"


class NoAnswerError(StoreUnavailableError):
    """Every step of the chain failed (503: the client may retry)."""

    code = "no_answer"


class CircuitBreaker:
    """Closed → open after ``failures`` consecutive failures → half-open after ``cooldown_s``
    (one trial request) → closed on success, open again on failure."""

    def __init__(
        self,
        failures: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.cooldown_s:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """May a request try this target now? (half-open lets exactly one through)"""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._trial or self._consecutive >= self.failures:
                self._opened_at = self.clock()
            self._trial = False


# --- baselines ---------------------------------------------------------------------------------
class ColumnBaseline:
    """The prediction is an input column's value (e.g. a rule-based score the caller sends)."""

    def __init__(self, column: str, default: float | None = None) -> None:
        self.column = column
        self.default = default
        self.name = f"column:{column}"

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        out = []
        for i, row in enumerate(rows):
            value = row.get(self.column, self.default)
            if value is None:
                raise MissingInputError(
                    f"row {i}: the baseline reads column {self.column}, which is missing",
                    hint=f"send {self.column} in every row",
                )
            out.append(float(value))
        return out


class ConstantBaseline:
    def __init__(self, value: float) -> None:
        self.value = float(value)
        self.name = f"constant:{self.value:g}"

    def predict(self, rows: list[dict[str, Any]]) -> list[float]:
        return [self.value] * len(rows)


def parse_fallback(spec: str | None) -> tuple[bool, Any]:
    """``previous`` | ``column:NAME`` | ``constant:X`` | ``NS/MOD/TASK`` (comma-separated, in
    order) → (use the previous version?, baseline or None). Task baselines are resolved by the
    caller (they need the module store)."""
    use_previous, baseline = False, None
    for part in [p.strip() for p in (spec or "").split(",") if p.strip()]:
        if part == "previous":
            use_previous = True
        elif part.startswith("column:") and part[7:]:
            baseline = ColumnBaseline(part[7:])
        elif part.startswith("constant:"):
            try:
                baseline = ConstantBaseline(float(part[9:]))
            except ValueError as exc:
                raise InvalidInputError(
                    f"--fallback {part}: not a number", hint="e.g. --fallback constant:0.5"
                ) from exc
        elif part.count("/") == 2:
            baseline = part  # a task reference, resolved by the caller
        else:
            raise InvalidInputError(
                f"unknown fallback {part!r}",
                hint="previous, column:NAME, constant:X or NS/MODULE/TASK (comma-separated)",
            )
    return use_previous, baseline


# --- the chain ---------------------------------------------------------------------------------
@dataclass
class Attempt:
    target: str
    outcome: str  # ok | error | timeout | circuit_open | missing_input | skipped
    detail: str = ""


@dataclass
class Outcome:
    predictions: list[float]
    version: int | None
    answered_by: str  # model | previous | baseline
    fallback_reason: str | None
    attempts: list[Attempt] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)


class FallbackChain:
    """Runs a request through the chain; model calls run on a thread pool with a timeout."""

    def __init__(
        self,
        *,
        use_previous: bool = False,
        baseline: Any = None,
        timeout_s: float = 1.0,
        retries: int = 1,
        failures: int = 5,
        cooldown_s: float = 30.0,
        threads: int = 32,
    ) -> None:
        self.use_previous = use_previous
        self.baseline = baseline
        self.timeout_s = timeout_s
        self.retries = retries
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="serve-model")
        self._breakers: dict[Any, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def breaker(self, key: Any) -> CircuitBreaker:
        with self._lock:
            found = self._breakers.get(key)
            if found is None:
                found = self._breakers[key] = CircuitBreaker(self.failures, self.cooldown_s)
            return found

    def breaker_states(self) -> dict[str, str]:
        with self._lock:
            return {str(k): b.state for k, b in self._breakers.items()}

    async def _call(self, fn: Callable[[], list[float]]) -> list[float]:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self.pool, fn), self.timeout_s)

    async def _try_version(
        self, loaded: Any, rows: list[dict[str, Any]], attempts: list[Attempt], label: str
    ) -> tuple[list[float] | None, dict[str, int], str]:
        """Predictions of ``loaded`` (None when it could not answer) and why not."""
        target = f"{label}:{loaded.version}"
        try:
            prepared, missing = loaded.prepare(rows)
        except MissingInputError as exc:  # not the model's fault: its breaker is untouched
            attempts.append(Attempt(target, "missing_input", exc.message))
            return None, dict(exc.details or {}), "missing_input"
        breaker = self.breaker(f"version:{loaded.version}:{loaded.digest[:12]}")
        if not breaker.allow():
            attempts.append(Attempt(target, "circuit_open"))
            return None, missing, "circuit_open"
        reason = "error"
        for _ in range(1 + self.retries):
            try:
                out = await self._call(lambda: loaded.predict(prepared))
            except TimeoutError:
                breaker.failure()
                attempts.append(Attempt(target, "timeout", f"no answer in {self.timeout_s:g}s"))
                return None, missing, "timeout"  # a hang is not retried
            except Exception as exc:  # the model's own failure, whatever it is
                breaker.failure()
                attempts.append(Attempt(target, "error", f"{type(exc).__name__}: {exc}"[:200]))
                reason = "error"
                if not breaker.allow():
                    break
                continue
            breaker.success()
            attempts.append(Attempt(target, "ok"))
            return out, missing, ""
        return None, missing, reason

    async def run(
        self,
        rows: list[dict[str, Any]],
        primary: Any,
        previous: Any = None,
        *,
        forced: str | None = None,
    ) -> Outcome:
        """Answer ``rows``: ``primary``, then (if configured and loaded) ``previous``, then
        the baseline; ``forced`` (e.g. ``kill_switch``) skips the models."""
        attempts: list[Attempt] = []
        reason = forced
        missing: dict[str, int] = {}
        if forced is None and primary is not None:
            out, missing, why = await self._try_version(primary, rows, attempts, "version")
            if out is not None:
                return Outcome(out, primary.version, "model", None, attempts, missing)
            reason = why
            if self.use_previous and previous is not None and previous.version != primary.version:
                out, _, _ = await self._try_version(previous, rows, attempts, "previous")
                if out is not None:
                    return Outcome(out, previous.version, "previous", reason, attempts, missing)
        if self.baseline is not None:
            name = self.baseline.name
            try:
                out = await self._call(lambda: self.baseline.predict(rows))
            except TimeoutError:
                detail = f"no answer in {self.timeout_s:g}s"
                attempts.append(Attempt(f"baseline:{name}", "timeout", detail))
            except Exception as exc:  # the baseline's own failure, whatever it is
                detail = f"{type(exc).__name__}: {exc}"[:200]
                attempts.append(Attempt(f"baseline:{name}", "error", detail))
            else:
                attempts.append(Attempt(f"baseline:{name}", "ok"))
                return Outcome(out, None, "baseline", reason or "no_model", attempts, missing)
        raise NoAnswerError(
            f"no model or fallback could answer ({reason or 'no model loaded'}): "
            + "; ".join(f"{a.target} {a.outcome}" for a in attempts),
            hint="declare a baseline: mlstudio serve NAME --fallback previous,column:NAME",
            details={"attempts": [vars(a) for a in attempts]},
        )
