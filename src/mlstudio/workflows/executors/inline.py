"""In-process execution for tasks declared ``@task(inline=True)``.

The engine hands such a task to this executor instead of a worker process: no process round
trip, which is what a tiny pure task costs most. Everything else is the same code path as a
worker's (:class:`mlstudio.workflows.runtime.Runtime`): the task is marked running before it
runs, its inputs are read and its output classified, checked against the domain and stored
the same way, and its result is recorded and cached like any other. What it gives up is
isolation: it runs in the engine's process, so it has no timeout (``inline`` and ``timeout``
are refused together) and a crash takes the engine down (the run stays resumable).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from mlstudio.workflows.executors.base import TaskDispatch, TaskResult

SLICE_S = 0.05  # run queued inline tasks for at most this long per poll (then record them)


class InlineExecutor:
    name = "inline"
    supports_cancel = True

    def __init__(self, max_queued: int = 256) -> None:
        self.max_queued = max_queued
        self.queue: deque[TaskDispatch] = deque()
        self._runtime: Any = None

    def start(self) -> None:
        pass

    def capacity(self) -> int:
        return max(0, self.max_queued - len(self.queue))

    def submit(self, dispatch: TaskDispatch) -> None:
        self.queue.append(dispatch)

    def poll(self, timeout: float) -> list[TaskResult]:
        """Run queued tasks (for up to ``SLICE_S``) and return their results."""
        if self._runtime is None and self.queue:
            from mlstudio.workflows.runtime import Runtime

            self._runtime = Runtime()
        out: list[TaskResult] = []
        deadline = time.monotonic() + SLICE_S
        while self.queue and (not out or time.monotonic() < deadline):
            dispatch = self.queue.popleft()
            result = self._runtime.execute(dispatch)
            result.worker = "inline"
            out.append(result)
        return out

    def cancel(self, task_run_ids: set[int]) -> list[TaskResult]:
        kept = [d for d in self.queue if d.task_run_id not in task_run_ids]
        dropped = [d for d in self.queue if d.task_run_id in task_run_ids]
        self.queue = deque(kept)
        now = time.time()
        return [
            TaskResult(d.task_run_id, d.attempt, "cancelled", error="cancelled", finished_at=now)
            for d in dropped
        ]

    def shutdown(self) -> None:
        self.queue.clear()
