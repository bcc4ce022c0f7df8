"""The run driver: takes queue runs (executor ``queue``) and drives each with the engine and a
:class:`QueueExecutor`, whose tasks the workers run.

It takes queued runs, runs released by a driver that stopped, and runs whose engine is gone (its
process is dead, or its heartbeat is older than ``stale_s``): the engine resumes them from the
database and never redoes a finished task. A driver beats for all the runs it drives from a thread
of its own, so only a process that is gone (or cut off from the database) goes silent. Taking a run is a compare-and-set on the run's engine
and heartbeat, so of two drivers racing for one run exactly one wins; on Postgres the choice is
also serialized by an advisory lock so namespace quotas are counted exactly. Higher priority
first; within a priority, the namespace with the fewest runs going first, then the oldest run.
Run quotas (``max_running_runs`` of each namespace) are read from the database at every claim,
so a change applies at the next pass without a restart.

``start(platform, stop)`` is what the server calls; ``mlstudio worker --drive`` runs one too.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mlstudio.core.clock import utcnow
from mlstudio.scheduling.queue import STALE_DRIVER_S, queue_options
from mlstudio.scheduling.worker import Backoff, is_transient
from mlstudio.workflows.engine import HEARTBEAT_S, engine_identity
from mlstudio.workflows.executors.queue import ExecutorStopped, QueueExecutor

log = logging.getLogger("mlstudio.driver")
# engines beat every HEARTBEAT_S (plus a poll): silence shorter than this is not death
MIN_STALE_S = 3 * HEARTBEAT_S


@dataclass
class DriverConfig:
    max_runs: int = 8  # runs driven at once by this process
    poll_s: float = 0.05  # how often it looks for runs to take (SQLite)
    idle_s: float = 0.5  # on Postgres: how long it waits for a NOTIFY of a queued run
    stale_s: float = STALE_DRIVER_S  # an engine silent this long is taken over
    housekeeping_s: float = 5.0
    executor_poll_s: float = 0.05
    max_engine_failures: int = 3  # a run whose engine keeps failing (not the DB) is failed
    keep_days: float = 7.0  # settled queue rows are deleted after this long


class RunDriver:
    def __init__(self, store: Any, runs: Any, config: DriverConfig | None = None) -> None:
        """``runs``: the run service, whose engines drive the runs this driver takes."""
        self.store = store
        self.runs = runs
        self.config = config or DriverConfig()
        self.engine_id = engine_identity()
        self.host = socket.gethostname()
        self.active: dict[str, threading.Thread] = {}
        self.failures: dict[str, tuple[int, float]] = {}  # run -> (engine failures, retry at)
        self.lock = threading.Lock()
        self.backoff = Backoff()
        self.stop = threading.Event()
        self.driven = 0
        self._last_purge = 0.0

    # --- the loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or self.stop
        self.stop = stop
        last_house = 0.0
        from mlstudio.scheduling.queue import Waker
        from mlstudio.store.metadata.repositories.queue import RUNS_CHANNEL

        waker = Waker(self.store, RUNS_CHANNEL)
        beats = threading.Thread(
            target=self._beat_loop, args=(stop,), name="mlstudio-driver-beat", daemon=True
        )
        beats.start()
        log.info("driver %s: up (%d runs at once)", self.engine_id, self.config.max_runs)
        while not stop.is_set():
            free = self.config.max_runs - len(self.active)
            if free > 0 and self.backoff.ok:
                for run_id in self._guard(lambda n=free: self.claim(n), []):
                    self._spawn(run_id)
            now = time.monotonic()
            if now - last_house >= self.config.housekeeping_s and self.backoff.ok:
                last_house = now
                self._guard(self._housekeeping, None)
            if waker.url is not None and len(self.active) < self.config.max_runs:
                waker.wait(self.config.idle_s)  # until a run is queued or released
            else:
                stop.wait(self.config.poll_s)
        waker.close()
        deadline = time.monotonic() + 15
        for thread in list(self.active.values()):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        log.info("driver %s: stopped", self.engine_id)

    def _guard(self, fn: Any, default: Any) -> Any:
        try:
            value = fn()
        except Exception as exc:
            if not is_transient(exc):
                log.exception("driver %s: unexpected error", self.engine_id)
            elif self.backoff.failures == 0:
                log.warning("driver %s: database unavailable (%s); retrying", self.engine_id, exc)
            self.backoff.failed(exc)
            return default
        if self.backoff.succeeded():
            log.warning("driver %s: database back", self.engine_id)
        return value

    def _beat_loop(self, stop: threading.Event) -> None:
        """Renew every run this process drives, every ``HEARTBEAT_S``, from a thread of its own.

        An engine also beats from its loop, but its loop can be held up (a slow first step on a
        starved machine, a lock wait) while the process is alive and will go on: a takeover
        then would dispatch its tasks twice. Silence now means the process is gone or cut off
        from the database, which is what a takeover is for."""
        while not stop.wait(HEARTBEAT_S):
            with self.lock:
                run_ids = list(self.active)
            if not run_ids:
                continue
            try:
                with self.store.transaction() as uow:
                    uow.runs.renew_runs(run_ids, self.engine_id)
            except Exception as exc:  # the next beat retries; the engines see the outage too
                log.debug("driver %s: heartbeat failed: %s", self.engine_id, exc)

    def _housekeeping(self) -> None:
        with self.store.transaction() as uow:
            uow.queue.cancel_finished_runs()
            uow.queue.expire()
            if time.monotonic() - self._last_purge > 3600:
                self._last_purge = time.monotonic()
                uow.queue.purge(timedelta(days=self.config.keep_days))

    # --- choosing runs ------------------------------------------------------------------------
    def _gone(self, run: Any, now: Any) -> bool:
        """Is the engine recorded on ``run`` gone (so the run may be taken over)?"""
        if run.engine_id is None:
            return True
        stale = max(self.config.stale_s, MIN_STALE_S)
        if run.heartbeat_at is None or now - run.heartbeat_at > timedelta(seconds=stale):
            return True
        host, _, pid = run.engine_id.rpartition(":")
        if host == self.host and pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def claim(self, limit: int) -> list[str]:
        """Take up to ``limit`` runs to drive; returns their ids."""

        def pick(uow: Any) -> list[str]:
            uow.queue.lock_run_claims()
            quotas = uow.queue.run_quotas()
            now = utcnow()
            # each namespace's first few queued runs are all a pass can take
            window = limit + len(self.active) + len(self.failures)
            candidates = uow.queue.drivable_runs(queued_per_namespace=window)
            going: dict[str | None, int] = {}
            for r in candidates:  # under way, or taken by a driver and about to be
                if r.state != "queued" or r.engine_id is not None:
                    going[r.namespace] = going.get(r.namespace, 0) + 1
            mono = time.monotonic()
            takeable = [
                r
                for r in candidates
                if r.id not in self.active
                and self.failures.get(r.id, (0, 0.0))[1] <= mono
                and self._gone(r, now)
            ]
            # runs already under way first (they hold their quota), by priority
            resumable = sorted(
                (r for r in takeable if r.state != "queued"),
                key=lambda r: (-r.priority, r.created_at),
            )
            queued = [r for r in takeable if r.state == "queued"]
            chosen = list(resumable[:limit])
            while len(chosen) < limit and queued:
                allowed = [
                    r
                    for r in queued
                    if r.namespace not in quotas or going.get(r.namespace, 0) < quotas[r.namespace]
                ]
                if not allowed:
                    break
                best = min(
                    allowed, key=lambda r: (-r.priority, going.get(r.namespace, 0), r.created_at)
                )
                queued.remove(best)
                going[best.namespace] = going.get(best.namespace, 0) + 1
                chosen.append(best)
            won = []
            for r in chosen:
                executor = None if r.executor in ("queue", "ray") else "queue"
                if uow.queue.claim_run(
                    r.id, self.engine_id, r.engine_id, r.heartbeat_at, executor=executor
                ):
                    won.append(r.id)
            return won

        with self.store.transaction() as uow:
            return pick(uow)

    # --- driving ------------------------------------------------------------------------------
    def _spawn(self, run_id: str) -> None:
        thread = threading.Thread(
            target=self._drive, args=(run_id,), name=f"mlstudio-drive-{run_id}", daemon=True
        )
        with self.lock:
            self.active[run_id] = thread
        thread.start()

    def _drive(self, run_id: str) -> None:
        try:
            run = self.runs.get(run_id)
            options = queue_options(run.plan)
            if run.executor == "ray":
                options["pool"] = "(ray)"
                executor = self.runs.make_executor("ray")
            else:
                executor = QueueExecutor(
                    self.store,
                    pool=options["pool"],
                    namespace=run.namespace,
                    priority=run.priority,
                    preemptible=bool(options["preemptible"]),
                    poll_s=self.config.executor_poll_s,
                    stop=self.stop,
                    owner=(run_id, self.engine_id),
                )
            log.info("driver %s: driving %s (pool %s)", self.engine_id, run_id, options["pool"])
            try:
                state = self.runs.engine(executor).drive(run_id)
            finally:
                executor.shutdown()
            self.driven += 1
            self.failures.pop(run_id, None)
            log.info("driver %s: run %s %s", self.engine_id, run_id, state)
        except ExecutorStopped:
            self._release(run_id)
        except Exception as exc:
            transient = is_transient(exc)
            count = self.failures.get(run_id, (0, 0.0))[0] + (0 if transient else 1)
            if transient:
                log.warning("driver %s: run %s lost the database: %s", self.engine_id, run_id, exc)
            else:
                log.exception("driver %s: the engine of run %s failed", self.engine_id, run_id)
            if count >= self.config.max_engine_failures:
                self._fail(run_id, f"the engine failed {count} times: {type(exc).__name__}: {exc}")
            else:
                self.failures[run_id] = (count, time.monotonic() + min(30.0, 2.0**count))
                self._release(run_id)
        finally:
            with self.lock:
                self.active.pop(run_id, None)

    def _release(self, run_id: str) -> None:
        """Let go of a run (another driver, or this one later, resumes it)."""
        backoff = Backoff()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with self.store.transaction() as uow:
                    uow.queue.release_run(run_id, self.engine_id)
                return
            except Exception as exc:
                if not is_transient(exc):
                    raise
                backoff.failed(exc)
                time.sleep(max(0.0, backoff.until - time.monotonic()))
        # still no database: the run's heartbeat goes stale and any driver takes it over

    def _fail(self, run_id: str, error: str) -> None:
        with self.store.transaction() as uow:
            uow.runs.update_run(
                run_id, state="failed", error=error, finished_at=utcnow(), engine_id=None
            )


def start(
    platform: Any, stop: threading.Event, config: DriverConfig | None = None
) -> threading.Thread:
    """Start a driver in a thread of this process (the server calls this); stops with ``stop``."""
    driver = RunDriver(platform.store, platform.runs, config)
    thread = threading.Thread(target=driver.run, args=(stop,), name="mlstudio-driver", daemon=True)
    thread.driver = driver  # type: ignore[attr-defined]
    thread.start()
    return thread
