"""The local executor: a pool of worker processes per interpreter (the host's, or a module's
uv environment). A crashing or hanging task cannot take the engine down: a timeout or a cancel
kills its process and a fresh one takes its place.

Each worker has two pipes of its own: one on which the executor hands it a task (only when it
is idle: the executor keeps the backlog and chooses the worker), one on which it reports,
written synchronously by its main thread. Shared ``multiprocessing.Queue`` objects would not
do: their readers share a lock, and so do their writers (taken by a background feeder thread);
a worker killed (by a timeout, a cancel, or ``os._exit``) while holding one would block every
other worker forever. With a pipe per worker, a killed worker takes nothing with it but its
own pipes; a task it had been handed but not started goes to another worker.

A worker process watches the process that started it and exits, killing its task, when that
process dies (see :func:`mlstudio.workflows.runtime.watch_parent`): a task never outlives its
engine (or queue worker) to run on unobserved, or alongside its retry.

Tiny tasks are pipelined: with ``pipeline`` > 1, once the pool's recent tasks took less than
``FAST_TASK_S`` each, a worker is handed up to ``pipeline`` small dispatches at a time (never
more bytes than its pipe holds, so a send never blocks), and so never waits for the engine
between two tasks. A dispatch a worker was handed but had not started when it died goes to
another worker; one cancelled before it started is killed the moment its worker starts it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from mlstudio.workflows.executors.base import TaskDispatch, TaskResult

_HANDOFFS = 3  # workers that may die holding a task they never started before it fails
FAST_TASK_S = 0.005  # recent tasks shorter than this on average: pipeline them
_PIPE_BYTES = 32 * 1024  # unread dispatch bytes a busy worker may hold (its pipe holds 64 KiB)
PIPELINE = 16  # dispatches the engine's executor hands one worker at a time (tiny tasks)


@dataclass
class _Running:
    dispatch: TaskDispatch
    pid: int | None = None  # the worker it was handed to (None: in the backlog)
    started: float | None = None  # when that worker said it started it (monotonic)
    submitted: float = field(default_factory=time.monotonic)
    handoffs: int = 0  # workers it was handed to (each died before starting it, but the last)


@dataclass
class _Worker:
    proc: Any
    tasks: Any  # sending end of its task pipe
    results: Any | None  # receiving end of its result pipe (None once it hit EOF)
    # task_run_ids it was handed and has not answered, in order, with their unread bytes
    handed: deque[tuple[int, int]] = field(default_factory=deque)
    current: int | None = None  # the one it said it started

    @property
    def unread_bytes(self) -> int:
        return sum(size for trid, size in self.handed if trid != self.current)

    def answered(self, trid: int) -> None:
        self.handed = deque(h for h in self.handed if h[0] != trid)
        if self.current == trid:
            self.current = None


class _Pool:
    """The worker processes of one interpreter, and the tasks waiting for one of them."""

    def __init__(
        self,
        ctx: Any,
        python: str | None,
        size: int,
        run_as: str | None = None,
        store: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.python = python
        self.size = size
        self.run_as = run_as
        self.store = store  # the metadata store its tasks belong to (executors.store)
        self.workers: dict[int, _Worker] = {}
        self.backlog: deque[int] = deque()  # task_run_ids not yet handed to a worker

    def spawn(self) -> None:
        task_reader, task_writer = self.ctx.Pipe(duplex=False)
        result_reader, result_writer = self.ctx.Pipe(duplex=False)
        # PR_SET_PDEATHSIG fires when the *thread* that started the child ends: ask for it only
        # when that is the main thread (which lives as long as this process)
        deathsig = threading.current_thread() is threading.main_thread()
        if self.python:
            self.ctx.set_executable(self.python)
        try:
            proc = self.ctx.Process(
                target=_worker_main,
                args=(self.store, task_reader, result_writer, os.getpid(), deathsig, self.run_as),
                daemon=True,
                name="mlstudio-worker",
            )
            proc.start()
        finally:
            if self.python:
                self.ctx.set_executable(sys.executable)
            # the worker holds the only other ends: EOF on either side once one of us is gone
            task_reader.close()
            result_writer.close()
        self.workers[proc.pid] = _Worker(proc, task_writer, result_reader)

    def fill(self) -> None:
        while len(self.workers) < self.size:
            self.spawn()

    def idle(self) -> list[_Worker]:
        return [w for w in self.workers.values() if not w.handed and w.results is not None]

    def open_to(self, depth: int) -> list[_Worker]:
        """Workers that may take one more dispatch, the least loaded first."""
        alive = [
            w for w in self.workers.values() if w.results is not None and len(w.handed) < depth
        ]
        return sorted(alive, key=lambda w: len(w.handed))

    def drop_reader(self, pid: int) -> None:
        worker = self.workers.get(pid)
        if worker is not None and worker.results is not None:
            worker.results.close()
            worker.results = None

    def forget(self, pid: int) -> _Worker | None:
        """Stop tracking a worker (dead, or being killed); closes its pipes."""
        worker = self.workers.pop(pid, None)
        if worker is not None:
            with contextlib.suppress(OSError):
                worker.tasks.close()
            if worker.results is not None:
                worker.results.close()
                worker.results = None
        return worker

    def kill(self, pid: int) -> None:
        worker = self.forget(pid)
        if worker is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            worker.proc.join(timeout=5)

    def stop(self, wait: bool = True) -> None:
        for worker in self.workers.values():
            with contextlib.suppress(Exception):
                worker.tasks.send(None)
        if not wait:  # they exit on their own (and with this process, see watch_parent)
            self.workers.clear()
            self.backlog.clear()
            return
        deadline = time.monotonic() + 2
        for worker in self.workers.values():
            worker.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.proc.is_alive():
                worker.proc.kill()
                worker.proc.join(timeout=1)
        for pid in list(self.workers):
            self.forget(pid)
        self.backlog.clear()


class LocalExecutor:
    name = "local"
    supports_cancel = True

    def __init__(
        self,
        max_workers: int | None = None,
        queue_depth: int = 2,
        pipeline: int = 1,
        run_as: str | None = None,
        store: dict[str, Any] | None = None,
    ) -> None:
        """``run_as``: an OS user that every task's code runs as (workflows.runas);
        ``store``: the metadata store the tasks belong to (``executors.store.address_of``),
        handed to every worker process (an in-task ``load_model`` reads the registry there)."""
        if run_as:
            from mlstudio.workflows.runas import check_run_as

            check_run_as(run_as)
        self.run_as = run_as
        self.store = store
        self.size = max(1, max_workers or os.cpu_count() or 2)
        self.queue_depth = queue_depth  # dispatches accepted per worker (the rest wait here)
        self.pipeline = max(1, pipeline)  # dispatches one worker may hold (tiny tasks only)
        self.ctx = mp.get_context("spawn")
        self.started = False
        self.pools: dict[str | None, _Pool] = {}
        self.running: dict[int, _Running] = {}  # task_run_id -> state
        self.pending: list[TaskResult] = []  # results read early (by cancel), returned by poll
        self.doomed: set[int] = set()  # cancelled after being handed, before being started
        self.recent_s: float | None = None  # moving average of task durations
        self.deepest = 0  # the most dispatches one worker held at once (pipelining at work)
        self.handed_back = 0  # dispatches a dead or killed worker held unstarted, handed on

    def start(self) -> None:
        if not self.started:
            self.started = True
            self._pool(None)

    def _pool(self, python: str | None) -> _Pool:
        """The pool of ``python``; a new one starts with one worker and grows with its backlog
        (a one-task run boots one process, not one per core)."""
        pool = self.pools.get(python)
        if pool is None:
            pool = self.pools[python] = _Pool(self.ctx, python, self.size, self.run_as, self.store)
            pool.spawn()
        return pool

    def worker_pids(self) -> set[int]:
        """The process ids of every worker of every pool."""
        return {pid for pool in self.pools.values() for pid in pool.workers}

    def _depth(self) -> int:
        """Dispatches one worker may hold now: several only while recent tasks were tiny."""
        fast = self.recent_s is not None and self.recent_s < FAST_TASK_S
        return self.pipeline if fast else 1

    def capacity(self) -> int:
        per_worker = self.queue_depth + (self._depth() if self.pipeline > 1 else 0)
        return max(0, self.size * per_worker - len(self.running))

    def submit(self, dispatch: TaskDispatch) -> None:
        self.start()
        pool = self._pool(dispatch.python)
        self.running[dispatch.task_run_id] = _Running(dispatch)
        pool.backlog.append(dispatch.task_run_id)
        self._assign(pool)

    def _assign(self, pool: _Pool) -> None:
        """Hand backlog tasks to workers of ``pool``: to idle ones, and (tiny tasks) a few more
        to busy ones, as many bytes as their pipe holds; one message per worker."""
        depth = self._depth()
        while len(pool.workers) < pool.size and len(pool.backlog) > len(pool.idle()):
            pool.spawn()  # more waiting than idle workers: grow towards the pool's size
        batches: dict[int, list[bytes]] = {}
        while pool.backlog:
            open_ = pool.open_to(depth)
            if not open_:
                break
            trid = pool.backlog[0]
            state = self.running.get(trid)
            if state is None or state.pid is not None:
                pool.backlog.popleft()
                continue  # cancelled while it waited
            payload = pickle.dumps(state.dispatch, pickle.HIGHEST_PROTOCOL)
            worker = open_[0]
            if worker.handed and worker.unread_bytes + len(payload) > _PIPE_BYTES:
                worker = next((w for w in open_ if not w.handed), None)
                if worker is None:
                    break  # too big to queue behind a running task: wait for an idle worker
            pool.backlog.popleft()
            batches.setdefault(worker.proc.pid, []).append(payload)
            worker.handed.append((trid, len(payload)))
            self.deepest = max(self.deepest, len(worker.handed))
            state.pid = worker.proc.pid
            state.handoffs += 1
        for pid, payloads in batches.items():
            worker = pool.workers[pid]
            try:
                worker.tasks.send(payloads)
            except OSError:  # it is dying: settled with its death by _check_health
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def poll(self, timeout: float) -> list[TaskResult]:
        from multiprocessing.connection import wait

        out, self.pending = self.pending, []
        owners: dict[Any, tuple[_Pool, int]] = {}
        for pool in self.pools.values():
            for pid, worker in pool.workers.items():
                # a worker's death wakes us too (its sentinel), not only its messages
                owners[worker.proc.sentinel] = (pool, pid)
                if worker.results is not None:
                    owners[worker.results] = (pool, pid)
        if owners:
            deadline = time.monotonic() + timeout
            waiting = list(owners)
            ready = wait(waiting, 0 if out else timeout)
            while True:
                for pool, pid in {owners[r] for r in ready}:
                    self._drain(pool, pid, out)
                # Only "started" arrived (a worker began a task): wait on for its result within
                # the same timeout instead of returning nothing (the engine would step for
                # nothing and come back). Not after a death or a closed pipe: settle those.
                left = deadline - time.monotonic()
                if out or not ready or left <= 0 or any(not _is_pipe(r, owners) for r in ready):
                    break
                ready = wait(waiting, left)
        elif self.running:
            time.sleep(min(timeout, 0.05))
        out.extend(self._check_health())
        for pool in self.pools.values():
            self._assign(pool)
        return out

    def _drain(self, pool: _Pool, pid: int, out: list[TaskResult]) -> None:
        """Handle every message waiting on one worker's pipe (without blocking)."""
        worker = pool.workers.get(pid)
        if worker is None or worker.results is None:
            return
        try:
            while worker.results is not None and worker.results.poll():
                self._handle(pool, worker, worker.results.recv(), out)
        except (EOFError, OSError):
            # the worker is gone (its death is settled by _check_health) or wrote half a
            # message as it died: nothing more will come from this pipe
            pool.drop_reader(pid)

    def _handle(self, pool: _Pool, worker: _Worker, message: tuple, out: list[TaskResult]) -> None:
        if message[0] == "started":
            _, trid, attempt, _pid, _at = message
            worker.current = trid
            if trid in self.doomed:  # cancelled while it sat in this worker's pipe
                self.doomed.discard(trid)
                worker.answered(trid)
                self._kill_worker(pool, worker.proc.pid)
                return
            state = self.running.get(trid)
            if state is not None and state.dispatch.attempt == attempt:
                state.started = time.monotonic()
            return
        result: TaskResult = message[1]
        worker.answered(result.task_run_id)
        if len(message) > 2 and message[2] is not None:  # the next one started meanwhile
            self._handle(pool, worker, message[2], out)
        state = self.running.get(result.task_run_id)
        if state is None or state.dispatch.attempt != result.attempt:
            return  # a late result of a task we already gave up on
        del self.running[result.task_run_id]
        if result.started_at and result.finished_at:
            took = max(0.0, result.finished_at - result.started_at)
            self.recent_s = took if self.recent_s is None else 0.8 * self.recent_s + 0.2 * took
        out.append(result)

    def _kill_worker(self, pool: _Pool, pid: int) -> None:
        """Kill a worker; what it held but had not started goes back to the backlog."""
        worker = pool.workers.get(pid)
        if worker is None:
            return
        requeue = [trid for trid, _ in worker.handed if trid != worker.current]
        pool.kill(pid)
        for trid in reversed(requeue):
            state = self.running.get(trid)
            if state is not None and state.pid == pid:
                state.pid = None
                pool.backlog.appendleft(trid)
                self.handed_back += 1
        pool.fill()

    def _check_health(self) -> list[TaskResult]:
        out: list[TaskResult] = []
        now = time.monotonic()
        for trid, state in list(self.running.items()):
            timeout = state.dispatch.timeout
            if state.started is not None and timeout and now - state.started > timeout:
                pool = self.pools.get(state.dispatch.python)
                if pool is not None and state.pid is not None:
                    self._drain(pool, state.pid, out)  # it may have finished just now
                    if trid not in self.running:
                        continue
                self._kill_task(trid, state)
                out.append(
                    self._failed(
                        state,
                        "timeout",
                        f"timed out after {timeout:g}s (the worker process was killed)",
                    )
                )
        for pool in self.pools.values():
            for pid, worker in list(pool.workers.items()):
                if worker.proc.is_alive():
                    continue
                # what it sent before dying counts ("started" is sent before user code runs)
                self._drain(pool, pid, out)
                pool.forget(pid)
                code = worker.proc.exitcode
                requeue: list[int] = []
                for trid, _ in worker.handed:
                    self.doomed.discard(trid)
                    state = self.running.get(trid)
                    if state is None or state.pid != pid:
                        continue
                    begun = trid == worker.current and state.started is not None
                    if not begun and state.handoffs < _HANDOFFS:
                        state.pid = None  # handed over but never begun: another worker takes it
                        requeue.append(trid)
                    else:
                        del self.running[trid]
                        message = f"the worker process died (exit code {code})"
                        if not begun:
                            message += f", {state.handoffs} times before the task could start"
                        out.append(self._failed(state, "crashed", message))
                pool.backlog.extendleft(reversed(requeue))
                self.handed_back += len(requeue)
                pool.fill()
        return out

    def _failed(self, state: _Running, status: str, message: str) -> TaskResult:
        return TaskResult(
            state.dispatch.task_run_id,
            state.dispatch.attempt,
            status,
            error=message,
            started_at=time.time() - (time.monotonic() - (state.started or state.submitted)),
            finished_at=time.time(),
            worker=str(state.pid or ""),
        )

    def _kill_task(self, trid: int, state: _Running) -> None:
        """Stop a task: drop it from the backlog, or kill the worker that runs it (what that
        worker held besides goes to others); one it holds unstarted dies when it starts."""
        self.running.pop(trid, None)
        pool = self.pools.get(state.dispatch.python)
        if pool is None or state.pid is None:
            return
        worker = pool.workers.get(state.pid)
        if worker is None:
            return
        if worker.current == trid:
            self._kill_worker(pool, state.pid)
        elif any(t == trid for t, _ in worker.handed):
            self.doomed.add(trid)

    def cancel(self, task_run_ids: set[int]) -> list[TaskResult]:
        out = []
        for trid in task_run_ids:
            state = self.running.get(trid)
            if state is None:
                continue
            pool = self.pools.get(state.dispatch.python)
            if pool is not None and state.pid is not None:
                self._drain(pool, state.pid, self.pending)  # it may have finished meanwhile
            if trid not in self.running:
                continue
            # handed to a worker (started or about to start): kill it; else it never left here
            self._kill_task(trid, state)
            out.append(self._failed(state, "cancelled", "cancelled"))
        for pool in self.pools.values():
            self._assign(pool)
        return out

    def shutdown(self, wait: bool = True) -> None:
        """Stop every worker; ``wait=False`` tells them to exit and returns at once."""
        for pool in self.pools.values():
            pool.stop(wait)
        self.pools.clear()
        self.started = False


def _is_pipe(ready: Any, owners: dict[Any, tuple[_Pool, int]]) -> bool:
    """Whether ``ready`` (from ``wait``) is a worker's result pipe still open (not a sentinel)."""
    pool, pid = owners[ready]
    worker = pool.workers.get(pid)
    return worker is not None and worker.results is ready


def _worker_main(store: dict[str, Any] | None, *args: Any) -> None:
    """A worker process: told the store its tasks belong to, then the runtime's loop."""
    from mlstudio.workflows.executors.store import hand
    from mlstudio.workflows.runtime import main_loop

    hand(store)
    main_loop(*args)


def from_context(context: Any) -> LocalExecutor:
    """The registry's factory (``--executor local``): tiny tasks are pipelined; the workers
    are handed the settings' store."""
    from mlstudio.workflows.executors.store import address_of

    settings = context.settings
    return LocalExecutor(
        settings.max_workers,
        pipeline=PIPELINE,
        run_as=settings.run_as,
        store=address_of(settings),
    )
