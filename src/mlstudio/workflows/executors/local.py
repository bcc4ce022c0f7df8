"""The local executor: a pool of worker processes per interpreter (the host's, or a module's
uv environment). A crashing or hanging task cannot take the engine down: a timeout or a cancel
kills its process and a fresh one takes its place.

Each worker reports on a pipe of its own, written synchronously by its main thread. A shared
``multiprocessing.Queue`` would not do: its writers share a lock, taken by a background feeder
thread, and a worker killed (or calling ``os._exit``) while that thread holds it would block
every other worker's results forever.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
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
    def __init__(self, ctx: Any, python: str | None, size: int) -> None:
        self.ctx = ctx
        self.python = python
        self.size = size
        self.tasks = ctx.Queue()
        self.procs: dict[int, Any] = {}
        self.readers: dict[int, Any] = {}  # pid -> receiving end of that worker's result pipe

    def spawn(self) -> None:
        from mlstudio.workflows.runtime import main_loop

        reader, writer = self.ctx.Pipe(duplex=False)
        if self.python:
            self.ctx.set_executable(self.python)
        try:
            proc = self.ctx.Process(
                target=main_loop,
                args=(self.tasks, writer, os.getpid()),
                daemon=True,
                name="mlstudio-worker",
            )
            proc.start()
        finally:
            if self.python:
                self.ctx.set_executable(sys.executable)
            writer.close()  # the worker holds the only writing end: EOF once it is gone
        self.procs[proc.pid] = proc
        self.readers[proc.pid] = reader

    def fill(self) -> None:
        while len(self.procs) < self.size:
            self.spawn()

    def drop_reader(self, pid: int) -> None:
        reader = self.readers.pop(pid, None)
        if reader is not None:
            reader.close()

    def kill(self, pid: int) -> None:
        proc = self.procs.pop(pid, None)
        self.drop_reader(pid)
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
        for pid in list(self.readers):
            self.drop_reader(pid)
        self.tasks.close()
        self.tasks.cancel_join_thread()


class LocalExecutor:
    name = "local"
    supports_cancel = True

    def __init__(self, max_workers: int | None = None, queue_depth: int = 2) -> None:
        self.size = max(1, max_workers or os.cpu_count() or 2)
        self.queue_depth = queue_depth
        self.ctx = mp.get_context("spawn")
        self.started = False
        self.pools: dict[str | None, _Pool] = {}
        self.running: dict[int, _Running] = {}  # task_run_id -> state
        self.pending: list[TaskResult] = []  # results read early (by cancel), returned by poll

    def start(self) -> None:
        if not self.started:
            self.started = True
            self._pool(None)

    def _pool(self, python: str | None) -> _Pool:
        pool = self.pools.get(python)
        if pool is None:
            pool = self.pools[python] = _Pool(self.ctx, python, self.size)
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
        from multiprocessing.connection import wait

        out, self.pending = self.pending, []
        owners = {
            reader: (pool, pid)
            for pool in self.pools.values()
            for pid, reader in pool.readers.items()
        }
        if owners:
            for reader in wait(list(owners), timeout):
                pool, pid = owners[reader]
                self._drain(pool, pid, out)
        elif self.running:
            time.sleep(min(timeout, 0.05))  # every worker is gone: the health check respawns
        out.extend(self._check_health())
        return out

    def _drain(self, pool: _Pool, pid: int, out: list[TaskResult]) -> None:
        """Handle every message waiting on one worker's pipe (without blocking)."""
        reader = pool.readers.get(pid)
        if reader is None:
            return
        try:
            while reader.poll():
                self._handle(reader.recv(), out)
        except (EOFError, OSError):
            # the worker is gone (its death is settled by _check_health) or wrote half a
            # message as it died: nothing more will come from this pipe
            pool.drop_reader(pid)

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
            for pid, proc in list(pool.procs.items()):
                if proc.is_alive():
                    continue
                pool.procs.pop(pid, None)
                # what it sent before dying counts ("started" is sent before user code runs)
                self._drain(pool, pid, out)
                pool.drop_reader(pid)
                code = proc.exitcode
                for trid, state in list(self.running.items()):
                    if state.pid == pid:
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
            if state.pid is None:  # it may have started without our having read that yet
                pool = self.pools.get(state.dispatch.python)
                for pid in list(pool.readers) if pool is not None else []:
                    self._drain(pool, pid, self.pending)
            if trid not in self.running:
                continue  # finished meanwhile
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
        self.started = False
