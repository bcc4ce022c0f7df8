"""The queue executor: the engine's dispatches go to the ``task_queue`` table, where
``mlstudio worker`` processes claim them (under leases) and write their results back.

- ``submit`` buffers; the next ``poll`` (or ``cancel``) enqueues the buffer in one transaction,
  so a 1,000-task fan-out is one insert.
- ``poll`` waits for its in-flight attempts to settle. On Postgres, workers NOTIFY the run's
  results channel with the ids of the rows they completed (in the transaction that writes
  them), so ``poll`` sleeps until woken and then reads exactly those rows; every ``sweep_s``
  (and after the listening connection was re-made) it reads every in-flight row, so a lost
  notification costs latency, never a result. Elsewhere (SQLite, or while the listening
  connection is down) it reads them every ``poll_s``. An attempt whose lease ran out (its
  worker was killed, or lost the database for longer than the lease) comes back as ``lost``:
  the engine re-dispatches it, as a new attempt.
- ``cancel`` marks the rows cancelled; a worker holding one kills the task at its next check.
- ``capacity`` is large: the queue is the buffer (namespace task quotas are applied by the
  workers' claims, across every engine).
- An engine resuming a run takes over the attempts its dead predecessor left in the queue
  (``reattach``: still queued, running on a worker, or done), under their own attempt numbers:
  a driver's or server's restart neither redoes nor recounts the work in flight. An attempt
  that cannot be taken over (its row was superseded or cancelled) is re-dispatched as a new
  attempt, and ``enqueue`` still lets an older open or good attempt answer for it.
- With ``owner``, it checks every ``owner_check_s`` that its engine still owns the run and stops
  (``ExecutorStopped``) if an engine that stalled past its heartbeat was taken over.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields
from typing import Any

from mlstudio.workflows.executors.base import ExecutorStopped, TaskDispatch, TaskResult

_RESULT_FIELDS = {f.name for f in fields(TaskResult)}
__all__ = ["ExecutorStopped", "QueueExecutor"]


class QueueExecutor:
    name = "queue"
    supports_cancel = True

    def __init__(
        self,
        store: Any,
        *,
        pool: str = "default",
        namespace: str | None = None,
        priority: int = 0,
        preemptible: bool = False,
        poll_s: float = 0.05,
        sweep_s: float = 1.0,
        expiry_check_s: float = 1.0,
        max_in_flight: int = 100_000,
        stop: threading.Event | None = None,
        owner: tuple[str, str] | None = None,
        owner_check_s: float = 1.0,
    ) -> None:
        self.store = store
        self.pool = pool
        self.namespace = namespace
        self.priority = priority
        self.preemptible = preemptible
        self.poll_s = poll_s
        self.sweep_s = sweep_s
        self.expiry_check_s = expiry_check_s
        self.max_in_flight = max_in_flight
        self.stop = stop
        self.owner = owner  # (run id, engine id): stop if another engine took the run over
        self.owner_check_s = owner_check_s
        self._last_owner_check = time.monotonic()
        self.buffer: list[TaskDispatch] = []
        self.inflight: dict[int, tuple[int, int]] = {}  # queue id -> (task_run_id, attempt)
        self.by_task: dict[int, int] = {}  # task_run_id -> queue id
        self._last_expiry = time.monotonic()
        self.lost = 0  # leases that expired under this executor (for reporting)
        self.waker: Any = None  # LISTENs on the results channels of its runs (Postgres)
        self.woken: set[int] = set()  # queue ids announced as completed, not yet read
        self._swept_at = 0.0  # when every in-flight row was last read
        self._connects = 0  # the waker's connection count at that time

    def start(self) -> None:
        pass

    def capacity(self) -> int:
        return max(0, self.max_in_flight - len(self.inflight) - len(self.buffer))

    def submit(self, dispatch: TaskDispatch) -> None:
        self.buffer.append(dispatch)

    def _flush(self) -> None:
        if not self.buffer:
            return
        batch = self.buffer
        rows = []
        for d in batch:
            payload = d.to_dict()
            if self.preemptible:
                payload["_preemptible"] = True
            rows.append(
                {
                    "run_id": d.run_id,
                    "task_run_id": d.task_run_id,
                    "attempt": d.attempt,
                    "pool": self.pool,
                    "namespace": self.namespace,
                    "priority": self.priority,
                    "dispatch": payload,
                }
            )
        self._listen({d.run_id for d in batch})  # before a worker can complete one
        with self.store.transaction() as uow:
            ids = uow.queue.enqueue(rows)
        self.buffer = []
        for d in batch:
            qid = ids[(d.task_run_id, d.attempt)]
            self.inflight[qid] = (d.task_run_id, d.attempt)
            self.by_task[d.task_run_id] = qid

    def reattach(self, run_id: str, attempts: list[tuple[int, int]]) -> set[int]:
        """Follow attempts a previous engine dispatched, ``(task_run_id, attempt)``, as if this
        executor had submitted them; returns the task run ids now in flight here. An attempt
        whose row is still open or done is taken; its result (or lost lease) comes from
        ``poll``. Rows that completed before this engine listened are found by the first sweep.
        """
        from mlstudio.store.metadata.repositories.queue import DONE, OPEN

        wanted = set(attempts)
        if not wanted:
            return set()
        self._listen({run_id})  # before reading, so no completion can slip between the two
        with self.store.read() as uow:
            rows = uow.queue.rows_of_run(run_id)
        taken: set[int] = set()
        for row in rows:
            key = (row.task_run_id, row.attempt)
            if key in wanted and (row.state in OPEN or row.state == DONE):
                self.inflight[row.id] = key
                self.by_task[row.task_run_id] = row.id
                taken.add(row.task_run_id)
        self._swept_at = 0.0  # read every in-flight row at the next poll
        return taken

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise ExecutorStopped("the driver is stopping")
        now = time.monotonic()
        if self.owner is not None and now - self._last_owner_check >= self.owner_check_s:
            self._last_owner_check = now
            run_id, engine_id = self.owner
            with self.store.read() as uow:
                run = uow.runs.get_run(run_id)
            if run is not None and run.engine_id not in (engine_id, None):
                # this engine stalled past its heartbeat and a driver took the run over
                raise ExecutorStopped(f"run {run_id} was taken over by {run.engine_id}")

    def _listen(self, run_ids: set[str]) -> None:
        if getattr(self.store, "dialect", None) != "postgresql":
            return
        from mlstudio.scheduling.queue import Waker
        from mlstudio.store.metadata.repositories.queue import results_channel

        channels = sorted(results_channel(r) for r in run_ids)
        if self.waker is None:
            self.waker = Waker(self.store, *channels)
        for channel in channels:
            self.waker.listen(channel)

    def _listening(self) -> bool:
        """Woken by notifications right now (and none can have been missed since the last
        full read)."""
        waker = self.waker
        return waker is not None and waker.conn is not None and waker.connects == self._connects

    def poll(self, timeout: float) -> list[TaskResult]:
        self._check_stop()
        self._flush()
        deadline = time.monotonic() + timeout
        while True:
            out = self._collect()
            now = time.monotonic()
            if out or now >= deadline or not self.inflight:
                if not out and not self.inflight and now < deadline:
                    time.sleep(deadline - now)
                return out
            wait = deadline - now
            if self._listening():
                wait = min(wait, max(0.0, self._swept_at + self.sweep_s - now))
                payloads = self.waker.receive(wait)
                for payload in payloads or ():
                    self.woken.update(int(i) for i in payload.split(",") if i.isdigit())
            elif self.waker is not None:
                self.waker.receive(min(self.poll_s, wait))  # reconnects (or sleeps)
            else:
                time.sleep(min(self.poll_s, wait))
            self._check_stop()

    def _collect(self) -> list[TaskResult]:
        if not self.inflight:
            self.woken.clear()
            return []
        now = time.monotonic()
        if self._listening() and now - self._swept_at < self.sweep_s:
            ids = [i for i in self.woken if i in self.inflight]  # just what was announced
        else:
            ids = list(self.inflight)  # everything: a sweep, or no notifications to go by
            self._swept_at = now
            if self.waker is not None:
                self._connects = self.waker.connects
        self.woken.clear()
        rows: list[Any] = []
        if ids:
            with self.store.read() as uow:
                rows = uow.queue.settled(ids)
        out = [r for r in (self._result(row) for row in rows) if r is not None]
        if self.inflight and time.monotonic() - self._last_expiry >= self.expiry_check_s:
            self._last_expiry = time.monotonic()
            with self.store.transaction() as uow:
                expired = uow.queue.expire(list(self.inflight))
            for row in expired:
                self.lost += 1
                result = self._result(row, state="lost")
                if result is not None:
                    out.append(result)
        return out

    def _result(self, row: Any, state: str | None = None) -> TaskResult | None:
        key = self.inflight.pop(row.id, None)
        if key is None:
            return None
        task_run_id, attempt = key
        if self.by_task.get(task_run_id) == row.id:
            del self.by_task[task_run_id]
        state = state or row.state
        if state == "done":
            data = {k: v for k, v in (row.result or {}).items() if k in _RESULT_FIELDS}
            data.update(task_run_id=task_run_id, attempt=attempt)
            data.setdefault("status", "error")
            data.setdefault("worker", row.worker_id or "")
            return TaskResult(**data)
        if state == "lost":
            return TaskResult(
                task_run_id,
                attempt,
                "lost",
                error=f"worker {row.worker_id} lost its lease (killed?)",
                finished_at=time.time(),
                worker=row.worker_id or "",
            )
        return TaskResult(task_run_id, attempt, "cancelled", error="cancelled")

    def cancel(self, task_run_ids: set[int]) -> list[TaskResult]:
        out: list[TaskResult] = []
        keep = []
        for d in self.buffer:
            if d.task_run_id in task_run_ids:
                out.append(TaskResult(d.task_run_id, d.attempt, "cancelled", error="cancelled"))
            else:
                keep.append(d)
        self.buffer = keep
        qids = [self.by_task[t] for t in task_run_ids if t in self.by_task]
        if qids:
            with self.store.transaction() as uow:
                uow.queue.cancel(qids)
            for qid in qids:
                task_run_id, attempt = self.inflight.pop(qid)
                self.by_task.pop(task_run_id, None)
                out.append(TaskResult(task_run_id, attempt, "cancelled", error="cancelled"))
        return out

    def shutdown(self) -> None:
        # Rows in flight stay in the queue: workers finish them, and an engine resuming this run
        # re-dispatches the attempts (superseding these).
        self.buffer = []
        if self.waker is not None:
            self.waker.close()
            self.waker = None


def from_context(context: Any) -> QueueExecutor:
    """The registry's factory (``--executor queue``, or ``--pool``): the run's tasks go to the
    workers of the pool its plan names."""
    from mlstudio.scheduling.queue import queue_options

    run = context.run
    if run is None:
        raise ValueError("the queue executor serves one run: give the ExecutorContext its run")
    options = queue_options(run.plan)
    return QueueExecutor(
        context.store,
        pool=options["pool"],
        namespace=run.namespace,
        priority=run.priority,
        preemptible=bool(options["preemptible"]),
        owner=(run.id, context.engine_id) if context.engine_id else None,
    )
