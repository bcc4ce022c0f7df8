"""The Ray executor: the same dispatches as the local executor, run as Ray tasks.

Dispatches are plain data and workers read inputs from / write outputs to the artifact store,
so a Ray worker needs only mlstudio installed and the artifact URL reachable. Connects to
``MLSTUDIO_RAY_ADDRESS`` (or ``RAY_ADDRESS``) when set, else starts a local Ray instance.
With ``MLSTUDIO_RAY_POOL`` the tasks run on warm detached actors that outlive the run
(:mod:`.ray_pool`), for a long-lived cluster. Ray is an optional extra (``pip install
'mlstudio[ray]'``) imported only here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import ConfigurationError
from mlstudio.workflows.executors.base import TaskDispatch, TaskResult


def _execute(dispatch: dict[str, Any]) -> TaskResult:
    from mlstudio.workflows.runtime import Runtime

    global _RUNTIME
    try:
        runtime = _RUNTIME
    except NameError:
        from mlstudio.workflows import sandbox

        sandbox.install()
        sandbox.drop_credentials()  # the store its environment names is kept (executors.store)
        runtime = _RUNTIME = Runtime()  # warm per Ray worker process: code and stores cached
    result = runtime.execute(TaskDispatch(**dispatch))
    result.worker = f"ray:{os.getpid()}"
    return result


@dataclass
class _InFlight:
    dispatch: TaskDispatch
    ref: Any
    submitted: float


class RayExecutor:
    name = "ray"
    supports_cancel = True

    def __init__(self, address: str | None = None, max_in_flight: int | None = None) -> None:
        self.address = (
            address or os.environ.get("MLSTUDIO_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS")
        )
        self.max_in_flight = max_in_flight
        self.ray: Any = None
        self.remote: Any = None
        self.in_flight: dict[Any, _InFlight] = {}  # ObjectRef -> dispatch
        self.pool: Any = None  # the warm actors (MLSTUDIO_RAY_POOL), or None: plain tasks

    def start(self) -> None:
        if self.ray is not None:
            return
        try:
            import ray
        except ImportError as exc:
            raise ConfigurationError(
                "the Ray executor needs Ray",
                hint="pip install 'mlstudio[ray]', or run with --executor local",
            ) from exc
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            else:  # "local": never join a cluster some other process left running
                kwargs.update(
                    address="local", include_dashboard=False, num_cpus=os.cpu_count() or 2
                )
            ray.init(**kwargs)
        self.ray = ray
        self.remote = ray.remote(max_retries=0)(_execute)
        cpus = int(ray.cluster_resources().get("CPU", 2))
        from mlstudio.workflows.executors.ray_pool import ActorPool, pool_settings

        pool = pool_settings()
        if pool is not None:
            self.pool = ActorPool(ray, pool[0], pool[1] or max(1, cpus))
        if self.max_in_flight is None:
            self.max_in_flight = max(2, cpus * 2)

    def capacity(self) -> int:
        if self.pool is not None:
            return self.pool.capacity()
        return max(0, (self.max_in_flight or 2) - len(self.in_flight))

    def submit(self, dispatch: TaskDispatch) -> None:
        self.start()
        ref = self.pool.submit(dispatch) if self.pool is not None else None
        if ref is None:  # plain tasks (or every actor of that environment busy)
            resources = {}
            if dispatch.python:  # a module environment: run it where that interpreter is
                resources["runtime_env"] = {"py_executable": dispatch.python}
            ref = self.remote.options(**resources).remote(dispatch.to_dict())
        self.in_flight[ref] = _InFlight(dispatch, ref, time.monotonic())

    def _stop(self, ref: Any) -> None:
        """Stop the task ``ref`` runs: a plain task is cancelled; an actor's method cannot be
        interrupted, so its actor is killed (and restarted by Ray for the next task)."""
        if self.pool is None or not self.pool.release(ref, kill=True):
            self.ray.cancel(ref, force=True)

    def poll(self, timeout: float) -> list[TaskResult]:
        if not self.in_flight:
            return []
        ready, _ = self.ray.wait(
            list(self.in_flight), num_returns=len(self.in_flight), timeout=timeout
        )
        out: list[TaskResult] = []
        for ref in ready:
            state = self.in_flight.pop(ref)
            if self.pool is not None:
                self.pool.release(ref)
            try:
                out.append(self.ray.get(ref))
            except Exception as exc:  # the Ray worker died or the task was cancelled
                out.append(
                    self._failed(
                        state, "crashed", f"the Ray worker failed: {type(exc).__name__}: {exc}"
                    )
                )
        now = time.monotonic()
        for ref, state in list(self.in_flight.items()):
            limit = state.dispatch.timeout
            if limit and now - state.submitted > limit:
                self._stop(ref)
                del self.in_flight[ref]
                out.append(
                    self._failed(
                        state, "timeout", f"timed out after {limit:g}s (the Ray task was killed)"
                    )
                )
        return out

    @staticmethod
    def _failed(state: _InFlight, status: str, message: str) -> TaskResult:
        return TaskResult(
            state.dispatch.task_run_id,
            state.dispatch.attempt,
            status,
            error=message,
            started_at=time.time() - (time.monotonic() - state.submitted),
            finished_at=time.time(),
        )

    def cancel(self, task_run_ids: set[int]) -> list[TaskResult]:
        out = []
        for ref, state in list(self.in_flight.items()):
            if state.dispatch.task_run_id in task_run_ids:
                self._stop(ref)
                del self.in_flight[ref]
                out.append(self._failed(state, "cancelled", "cancelled"))
        return out

    def shutdown(self) -> None:
        for ref in list(self.in_flight):
            self._stop(ref)
        self.in_flight.clear()


def from_context(context: Any) -> RayExecutor:
    """The registry's factory (``--executor ray``)."""
    return RayExecutor()
