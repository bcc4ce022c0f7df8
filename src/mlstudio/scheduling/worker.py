"""``mlstudio worker``: claim queued tasks of one pool and run them on warm processes.

A worker registers in ``workers`` and loops: claim up to its free slots, run the claimed
attempts on a :class:`LocalExecutor` (its processes stay up between tasks and runs and keep the
module code they imported: the hot pool), write results back, renew its leases by heartbeat
(every third of the lease), and kill what was cancelled (or superseded, or lost) in the
meantime. While its tasks are short (a few ms), it claims some ahead of its free slots and
writes results in batches, so a transaction serves many tasks (``WorkerConfig.prefetch``).
When the database goes away it keeps running what it has, keeps the results, and reconnects
with backoff. On stop it finishes what it runs within a grace period and gives the
rest back to the queue. A worker killed outright loses nothing: its leases run out and the
engines re-dispatch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

from mlstudio.scheduling.queue import DEFAULT_POOL, LEASE_S
from mlstudio.workflows.executors.base import TaskDispatch, TaskResult

log = logging.getLogger("mlstudio.worker")
T = TypeVar("T")
FAILED: Any = object()  # what a database call returns when the database is unavailable
_DISPATCH_FIELDS = {f.name for f in fields(TaskDispatch)}


@dataclass
class WorkerConfig:
    pool: str = DEFAULT_POOL
    concurrency: int = 2
    lease_s: float = LEASE_S
    poll_s: float = 0.05  # claim and result polling while busy (and idle, on SQLite)
    # Claiming ahead: while the tasks' mean run time is under ``prefetch_s``, hold up to
    # ``prefetch`` more rows per slot (as many as run in about ``prefetch_s``), so claims and
    # results go in batches; leased like the others, they wait here at most ~``prefetch_s``.
    # Results wait at most ``flush_s`` for a batch (never while the worker is idle).
    prefetch: int = 16
    prefetch_s: float = 0.05
    flush_s: float = 0.02
    idle_s: float = 0.5  # on Postgres an idle worker waits this long for a NOTIFY of new work
    check_s: float = 0.5  # how often held tasks are checked for cancellation
    grace_s: float = 30.0  # on stop: how long running tasks may take to finish
    preempt: bool = True  # release preemptible tasks when higher-priority work waits
    worker_id: str | None = None


@dataclass
class _Held:
    row_id: int
    dispatch: TaskDispatch
    priority: int
    preemptible: bool
    started: float = field(default_factory=time.monotonic)


def is_transient(exc: BaseException) -> bool:
    """A database error worth retrying (connection lost, server restarting, lock timeout)."""
    if isinstance(exc, sa_exc.IntegrityError | sa_exc.ProgrammingError):
        return False
    return isinstance(exc, sa_exc.DBAPIError | sa_exc.InterfaceError | ConnectionError)


class Backoff:
    """Retry pacing for database calls: after a failure, wait 0.1 s, 0.2 s, … up to ``cap``."""

    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self.base, self.cap = base, cap
        self.failures = 0
        self.until = 0.0
        self.last_error = ""

    @property
    def ok(self) -> bool:
        return time.monotonic() >= self.until

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        delay = min(self.cap, self.base * 2 ** (self.failures - 1))
        self.until = time.monotonic() + delay
        self.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def succeeded(self) -> bool:
        """Reset; True when this ends an outage."""
        was = self.failures > 0
        self.failures, self.until = 0, 0.0
        return was


class Worker:
    def __init__(
        self,
        store: Any,
        settings: Any,
        envs: Any,
        config: WorkerConfig | None = None,
        executor: Any = None,
    ) -> None:
        """``settings`` and ``envs`` (the module environment manager) prepare dispatches the
        way the engine that queued them would run them here."""
        self.store = store
        self.settings = settings
        self.envs = envs
        self.config = config or WorkerConfig()
        self.id = self.config.worker_id or (
            f"{socket.gethostname()}:{os.getpid()}:{self.config.pool}"
        )
        self._executor = executor
        self.held: dict[int, _Held] = {}  # queue row id -> what runs locally
        self.results: dict[int, dict[str, Any]] = {}  # finished, not yet written
        self._results_since = 0.0  # when the oldest of them finished (monotonic)
        self.mean_s: float | None = None  # moving mean of the tasks' run time (claiming ahead)
        self.backoff = Backoff()
        self.stats = {
            "claimed": 0,
            "completed": 0,
            "failed": 0,
            "cancelled": 0,
            "released": 0,
            "preempted": 0,
            "dropped": 0,
            "db_errors": 0,
        }
        self._last_check = self._last_beat = 0.0
        self.registered = False
        from mlstudio.scheduling.queue import Waker
        from mlstudio.store.metadata.repositories.queue import QUEUE_CHANNEL

        self.waker = Waker(self.store, QUEUE_CHANNEL)

    # --- database calls, tolerant of outages --------------------------------------------------
    def _db(self, fn: Callable[[Any], T], write: bool = True) -> T:
        """Run ``fn(uow)``; on a transient database error, back off and return FAILED."""
        if not self.backoff.ok:
            return FAILED
        try:
            if write:
                with self.store.transaction() as uow:
                    value = fn(uow)
            else:
                with self.store.read() as uow:
                    value = fn(uow)
        except Exception as exc:
            if not is_transient(exc):
                raise
            self.stats["db_errors"] += 1
            if self.backoff.failures == 0:
                log.warning("worker %s: database unavailable (%s); retrying", self.id, exc)
            self.backoff.failed(exc)
            return FAILED
        if self.backoff.succeeded():
            log.warning("worker %s: database back", self.id)
        return value

    # --- life ---------------------------------------------------------------------------------
    @property
    def local(self) -> Any:
        if self._executor is None:
            from mlstudio.workflows.executors.local import LocalExecutor
            from mlstudio.workflows.executors.store import address_of

            depth = 1 + self.config.prefetch
            self._executor = LocalExecutor(
                self.config.concurrency,
                queue_depth=depth,
                run_as=self.settings.run_as,
                store=address_of(self.settings),  # in-task load_model: the queue's store
            )
        return self._executor

    def start(self) -> None:
        self.local.start()  # the hot pool: processes up before the first claim
        self._register()

    def _register(self) -> None:
        values = {
            "id": self.id,
            "pool": self.config.pool,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "concurrency": self.config.concurrency,
        }
        if self._db(lambda uow: uow.queue.register_worker(values)) is not FAILED:
            self.registered = True

    def run(self, stop: threading.Event, force: threading.Event | None = None) -> dict[str, int]:
        """Work until ``stop`` is set; then finish (within the grace period) or give back."""
        self.start()
        log.info(
            "worker %s: pool %s, %d slot(s)", self.id, self.config.pool, self.config.concurrency
        )
        try:
            while not stop.is_set():
                self.step()
            self._drain(force)
        finally:
            self.local.shutdown()
            self.waker.close()
        return dict(self.stats)

    def step(self, claim: bool = True) -> None:
        """One turn of the loop: write finished results and claim free slots (one
        transaction), then wait up to ``poll_s`` for results (or, idle, for new work)."""
        if not self.registered:
            self._register()
        self._exchange(claim)
        if self.held:
            self._collect(self.local.poll(timeout=self.config.poll_s))
        elif claim and self.waker.url is not None:
            self.waker.wait(self.config.idle_s)  # until work is queued
        else:
            time.sleep(self.config.poll_s)
        if not claim:
            self._exchange(False)
        now = time.monotonic()
        if self.held and now - self._last_check >= self.config.check_s:
            self._check_held()
            self._last_check = now
        if now - self._last_beat >= self.config.lease_s / 3:
            self._heartbeat()

    def ahead(self) -> int:
        """How many rows to hold beyond the free slots: none until tasks are known to be short,
        then as many as the slots run in about ``prefetch_s`` (at most ``prefetch`` each)."""
        cfg = self.config
        if not cfg.prefetch or self.mean_s is None or self.mean_s >= cfg.prefetch_s:
            return 0
        fits = int(cfg.prefetch_s * cfg.concurrency / max(self.mean_s, 1e-4))
        return min(cfg.prefetch * cfg.concurrency, fits)

    def _wanted(self) -> int:
        """Rows to claim now: free slots, topped up ahead once half of what is ahead ran."""
        cfg = self.config
        ahead, held = self.ahead(), len(self.held)
        if held > cfg.concurrency + ahead // 2:
            return 0
        return max(0, cfg.concurrency + ahead - held)

    def _exchange(self, claim: bool) -> None:
        """Hand in finished results and take new work, in one transaction."""
        cfg = self.config
        free = self._wanted() if claim else 0
        batch = dict(self.results)
        if free <= 0 and (
            not batch
            or (claim and self.held and time.monotonic() - self._results_since < cfg.flush_s)
        ):
            return  # nothing to claim, and the results can wait for a batch

        def work(uow: Any) -> tuple[set[int], list[Any]]:
            accepted = uow.queue.complete(self.id, batch) if batch else set()
            rows = uow.queue.claim(cfg.pool, self.id, free, cfg.lease_s) if free else []
            return accepted, rows

        out = self._db(work)
        if out is FAILED:
            return  # results are kept for the next try
        accepted, rows = out
        for row_id in batch:
            self.results.pop(row_id, None)
        self.stats["dropped"] += len(batch) - len(accepted)
        for row in rows:
            self._start(row)

    def _start(self, row: Any) -> None:
        payload = dict(row.dispatch)
        preemptible = bool(payload.pop("_preemptible", False))
        try:
            dispatch = TaskDispatch(**{k: v for k, v in payload.items() if k in _DISPATCH_FIELDS})
            dispatch = self._localize(dispatch)
        except Exception as exc:  # a bad row (or a module environment that cannot be built)
            failed = TaskResult(
                row.task_run_id,
                row.attempt,
                "error",
                error=f"worker {self.id} could not start the task: {type(exc).__name__}: {exc}",
                worker=self.id,
                retryable=False,
            )
            self.results[row.id] = asdict(failed)
            self.stats["failed"] += 1
            return
        for other in [h for h in self.held.values() if h.dispatch.task_run_id == row.task_run_id]:
            self._kill(other.row_id)  # an older attempt of the same task: superseded
        self.held[row.id] = _Held(row.id, dispatch, row.priority, preemptible)
        self.stats["claimed"] += 1
        self.local.submit(dispatch)

    def _localize(self, d: TaskDispatch) -> TaskDispatch:
        """Use this host's caches and module environments, not the engine's; protect this
        host's home and stores from the task too (workflows.sandbox)."""
        from mlstudio.workflows.sandbox import merge, policy_for

        d.cache_dir = str(self.settings.cache_dir)
        if d.sandbox:
            d.sandbox = merge(d.sandbox, policy_for(self.settings))
        if d.python and not os.path.exists(d.python) and d.code.get("requirements"):
            env = self.envs.ensure(tuple(d.code["requirements"]))
            d.python = env.python if env else None
        return d

    def _collect(self, results: list[TaskResult]) -> None:
        by_task = {(h.dispatch.task_run_id, h.dispatch.attempt): h for h in self.held.values()}
        for result in results:
            held = by_task.get((result.task_run_id, result.attempt))
            if held is None:
                continue
            del self.held[held.row_id]
            result.worker = self.id
            _attach_log(result, held.dispatch.log_path)
            if not self.results:
                self._results_since = time.monotonic()
            self.results[held.row_id] = asdict(result)
            if result.started_at is not None and result.finished_at is not None:
                took = max(0.0, result.finished_at - result.started_at)
                self.mean_s = took if self.mean_s is None else 0.8 * self.mean_s + 0.2 * took
            self.stats["completed" if result.ok else "failed"] += 1

    def _write_results(self) -> None:
        self._exchange(False)

    def _check_held(self) -> None:
        ids = list(self.held)
        held = self._db(lambda uow: uow.queue.held(self.id, ids), write=False)
        if held is FAILED:
            return
        for row_id in ids:
            if row_id not in held and row_id in self.held:
                self._kill(row_id)
                self.stats["cancelled"] += 1
        if self.config.preempt:
            self._preempt()

    def _kill(self, row_id: int) -> None:
        held = self.held.pop(row_id, None)
        if held is not None:
            self.local.cancel({held.dispatch.task_run_id})

    def _preempt(self) -> None:
        """Full, with a preemptible task running below a waiting priority: give it back."""
        if len(self.held) < self.config.concurrency:
            return
        victims = sorted(
            (h for h in self.held.values() if h.preemptible),
            key=lambda h: (h.priority, -h.started),
        )
        if not victims:
            return
        victim = victims[0]
        above = self._db(
            lambda uow: uow.queue.waiting_above(self.config.pool, victim.priority), write=False
        )
        if above is FAILED or not above:
            return
        self._kill(victim.row_id)
        self._db(lambda uow: uow.queue.release(self.id, [victim.row_id]))
        self.stats["preempted"] += 1
        log.info(
            "worker %s: preempted task row %d for higher-priority work", self.id, victim.row_id
        )

    def _heartbeat(self) -> None:
        ids = list(self.held)
        cfg = self.config

        def beat(uow: Any) -> set[int]:
            uow.queue.worker_heartbeat(self.id, {**self.stats, "running": len(ids)})
            return uow.queue.heartbeat(self.id, ids, cfg.lease_s) if ids else set()

        held = self._db(beat)
        if held is FAILED:
            return
        self._last_beat = time.monotonic()
        for row_id in ids:
            if row_id not in held and row_id in self.held:
                self._kill(row_id)
                self.stats["cancelled"] += 1

    def _drain(self, force: threading.Event | None) -> None:
        """Stopping: no more claims; let running tasks finish within the grace period, give
        the rest back to the queue, write every result we can."""
        deadline = time.monotonic() + self.config.grace_s
        if self.held:
            log.info("worker %s: stopping; %d task(s) finishing", self.id, len(self.held))
        while self.held and time.monotonic() < deadline and not (force and force.is_set()):
            self.step(claim=False)
        if self.held:
            ids = list(self.held)
            for row_id in ids:
                self._kill(row_id)
            self._retry(lambda uow: uow.queue.release(self.id, ids))
            self.stats["released"] += len(ids)
        end = time.monotonic() + 10
        while self.results and time.monotonic() < end:
            self._write_results()
            if self.results:
                time.sleep(0.1)
        self._retry(lambda uow: uow.queue.worker_stopped(self.id))
        log.info("worker %s: stopped (%s)", self.id, self.stats)

    def _retry(self, fn: Callable[[Any], T], seconds: float = 10.0) -> T:
        """A call that matters (stopping): retried for up to ``seconds``."""
        end = time.monotonic() + seconds
        while True:
            self.backoff.until = 0.0
            value = self._db(fn)
            if value is not FAILED or time.monotonic() > end:
                return value
            time.sleep(min(1.0, self.backoff.base * 2**self.backoff.failures))


def _attach_log(result: TaskResult, path: str | None, limit: int = 20_000) -> None:
    """Send the task's captured output back with its result, so ``runs logs`` shows it even
    when this worker's disk is not the engine's."""
    if not path or result.extra.get("log"):
        return
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - limit))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return
    if text:
        result.extra = {**result.extra, "log": text}
