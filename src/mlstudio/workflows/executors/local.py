"""The local executor: a pool of worker processes per interpreter (the host's, or a module's
uv environment). A crashing or hanging task cannot take the engine down: a timeout or a cancel
kills its process and a fresh one takes its place."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from mlstudio.workflows.executors.base import TaskDispatch, TaskResult


@dataclass
class _Running:
    dispatch: TaskDispatch
    pid: int | None = None
    started: float | None = None
    submitted: float = field(default_factory=time.monotonic)


class _Pool:
    def __init__(self, ctx: Any, python: str | None, size: int, results: Any) -> None:
        self.ctx = ctx
        self.python = python
        self.size = size
        self.results = results
        self.tasks = ctx.Queue()
        self.procs: dict[int, Any] = {}
        self.slots: dict[int, Any] = {}  # pid -> shared [task_run_id, attempt] it executes

    def spawn(self) -> None:
        from mlstudio.workflows.runtime import main_loop

        slot = self.ctx.Array("q", 2, lock=False)
        if self.python:
            self.ctx.set_executable(self.python)
        try:
            proc = self.ctx.Process(
                target=main_loop,
                args=(self.tasks, self.results, os.getpid(), slot),
                daemon=True,
                name="mlstudio-worker",
            )
            proc.start()
        finally:
            if self.python:
                self.ctx.set_executable(sys.executable)
        self.procs[proc.pid] = proc
        self.slots[proc.pid] = slot

    def executing(self, pid: int) -> tuple[int, int] | None:
        """(task run id, attempt) the worker ``pid`` took last, or None."""
        slot = self.slots.get(pid)
        if slot is None or not slot[0]:
            return None
        return int(slot[0]), int(slot[1])

    def pid_of(self, task_run_id: int, attempt: int) -> int | None:
        for pid in self.procs:
            if self.executing(pid) == (task_run_id, attempt):
                return pid
        return None

    def fill(self) -> None:
        while len(self.procs) < self.size:
            self.spawn()

    def kill(self, pid: int) -> None:
        proc = self.procs.pop(pid, None)
        self.slots.pop(pid, None)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            proc.join(timeout=5)

    def stop(self) -> None:
        for _ in self.procs:
            with contextlib.suppress(Exception):
                self.tasks.put(None)
        deadline = time.monotonic() + 2
        for proc in self.procs.values():
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=1)
        self.procs.clear()
        self.slots.clear()
        self.tasks.close()
        self.tasks.cancel_join_thread()


class LocalExecutor:
    name = "local"
    supports_cancel = True

    def __init__(self, max_workers: int | None = None, queue_depth: int = 2) -> None:
        self.size = max(1, max_workers or os.cpu_count() or 2)
        self.queue_depth = queue_depth
        self.ctx = mp.get_context("spawn")
        self.results: Any = None
        self.pools: dict[str | None, _Pool] = {}
        self.running: dict[int, _Running] = {}  # task_run_id -> state

    def start(self) -> None:
        if self.results is None:
            self.results = self.ctx.Queue()
            self._pool(None)

    def _pool(self, python: str | None) -> _Pool:
        pool = self.pools.get(python)
        if pool is None:
            pool = self.pools[python] = _Pool(self.ctx, python, self.size, self.results)
            pool.fill()
        return pool

    def capacity(self) -> int:
        return max(0, self.size * self.queue_depth - len(self.running))

    def submit(self, dispatch: TaskDispatch) -> None:
        self.start()
        pool = self._pool(dispatch.python)
        self.running[dispatch.task_run_id] = _Running(dispatch)
        pool.tasks.put(dispatch.to_dict())

    def poll(self, timeout: float) -> list[TaskResult]:
        out: list[TaskResult] = []
        if self.results is None:
            return out
        deadline = time.monotonic() + timeout
        block = True
        while True:
            try:
                wait = max(0.0, deadline - time.monotonic()) if block else 0
                message = (
                    self.results.get(timeout=wait)
                    if block and wait > 0
                    else self.results.get_nowait()
                )
            except queue.Empty:
                break
            except (EOFError, OSError):
                break
            block = False  # after the first message, drain without waiting
            self._handle(message, out)
            if len(out) >= 512:
                break
        out.extend(self._check_health())
        return out

    def _handle(self, message: tuple, out: list[TaskResult]) -> None:
        if message[0] == "started":
            _, trid, attempt, pid, _at = message
            state = self.running.get(trid)
            if state is not None and state.dispatch.attempt == attempt:
                state.pid, state.started = pid, time.monotonic()
            return
        result: TaskResult = message[1]
        state = self.running.get(result.task_run_id)
        if state is None or state.dispatch.attempt != result.attempt:
            return  # a late result of a task we already gave up on
        del self.running[result.task_run_id]
        out.append(result)

    def _check_health(self) -> list[TaskResult]:
        out: list[TaskResult] = []
        now = time.monotonic()
        for trid, state in list(self.running.items()):
            timeout = state.dispatch.timeout
            if state.started is not None and timeout and now - state.started > timeout:
                self._kill_task(trid, state)
                out.append(
                    self._failed(
                        state,
                        "timeout",
                        f"timed out after {timeout:g}s (the worker process was killed)",
                    )
                )
        for pool in self.pools.values():
            for pid, proc in list(pool.procs.items()):
                if proc.is_alive():
                    continue
                pool.procs.pop(pid, None)
                took = pool.executing(pid)
                pool.slots.pop(pid, None)
                code = proc.exitcode
                for trid, state in list(self.running.items()):
                    # a worker that dies at once may never have sent its "started" message
                    if state.pid == pid or took == (trid, state.dispatch.attempt):
                        del self.running[trid]
                        out.append(
                            self._failed(
                                state, "crashed", f"the worker process died (exit code {code})"
                            )
                        )
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
        self.running.pop(trid, None)
        pool = self.pools.get(state.dispatch.python)
        if pool is not None and state.pid is None:
            state.pid = pool.pid_of(trid, state.dispatch.attempt)
        if pool is not None and state.pid is not None:
            pool.kill(state.pid)
            # tasks queued behind it on that process were not started; others will take them
            pool.fill()

    def cancel(self, task_run_ids: set[int]) -> list[TaskResult]:
        out = []
        for trid in task_run_ids:
            state = self.running.get(trid)
            if state is None:
                continue
            pool = self.pools.get(state.dispatch.python)
            if state.pid is None and pool is not None:
                state.pid = pool.pid_of(trid, state.dispatch.attempt)
            if state.pid is not None:
                self._kill_task(trid, state)
            else:
                self.running.pop(trid, None)
            out.append(self._failed(state, "cancelled", "cancelled"))
        return out

    def shutdown(self) -> None:
        for pool in self.pools.values():
            pool.stop()
        self.pools.clear()
        if self.results is not None:
            self.results.close()
            self.results.cancel_join_thread()
            self.results = None
