"""Warm Ray actors for a long-lived cluster: ``MLSTUDIO_RAY_POOL=NAME``.

Plain Ray tasks run in worker processes that belong to the driver: when ``mlstudio run`` exits,
they go, and the next run imports everything again. A pool instead keeps *detached* actors
(``lifetime="detached"``, in Ray namespace ``mlstudio``), named ``NAME:ENV:I``: one set per
module-version environment (``ENV``: the interpreter the dispatch names, or ``default``),
``MLSTUDIO_RAY_POOL_SIZE`` of them (default: the cluster's CPUs). A run on a warm cluster
finds them by name (``get_if_exists``), so its first task starts without a new process and
without importing the module code again (each actor keeps one ``Runtime``, its code and stores
cached).

One task at a time per actor. The actors reserve no CPU (``num_cpus=0``, spread over the
nodes): the pool's size bounds what it runs at once, and idle actors do not starve other work on
the cluster. A task that is cancelled or times out kills its actor
(``ray.kill``: a running actor method cannot be interrupted otherwise); the actor is restarted
by Ray (``max_restarts=-1``) for the next task. A task whose actor dies (its process killed,
its node lost) ends ``crashed``, and the engine retries it as configured.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from mlstudio.workflows.executors.base import TaskDispatch, TaskResult

NAMESPACE = "mlstudio"


class _Worker:
    """The actor: one warm Runtime per process."""

    def __init__(self) -> None:
        from mlstudio.workflows import sandbox
        from mlstudio.workflows.runtime import Runtime

        sandbox.install()
        sandbox.drop_credentials()
        self.runtime = Runtime()

    def execute(self, dispatch: dict[str, Any]) -> TaskResult:
        result = self.runtime.execute(TaskDispatch(**dispatch))
        result.worker = f"ray-actor:{os.getpid()}"
        return result

    def pid(self) -> int:
        return os.getpid()


@dataclass
class _Slot:
    name: str
    handle: Any
    busy: Any = None  # the ObjectRef of the task it runs


def env_key(python: str | None) -> str:
    return "default" if not python else hashlib.sha256(python.encode()).hexdigest()[:12]


class ActorPool:
    """The pool's slots per environment, created (or found) on first use."""

    def __init__(self, ray: Any, pool: str, size: int) -> None:
        self.ray = ray
        self.pool = pool
        self.size = size
        self.actor = ray.remote(max_restarts=-1, max_task_retries=0, max_concurrency=1)(_Worker)
        self.slots: dict[str, list[_Slot]] = {}

    def _slots(self, python: str | None) -> list[_Slot]:
        key = env_key(python)
        found = self.slots.get(key)
        if found is None:
            options: dict[str, Any] = {
                "namespace": NAMESPACE,
                "lifetime": "detached",
                "get_if_exists": True,
                # no CPU reserved: the pool's size bounds its concurrency, and other Ray work
                # on the cluster (plain tasks, other pools) is not starved by idle actors
                "num_cpus": 0,
                "scheduling_strategy": "SPREAD",
            }
            if python:
                options["runtime_env"] = {"py_executable": python}
            found = []
            for i in range(self.size):
                name = f"{self.pool}:{key}:{i}"
                found.append(_Slot(name, self.actor.options(name=name, **options).remote()))
            self.slots[key] = found
        return found

    def busy(self) -> int:
        return sum(1 for slots in self.slots.values() for s in slots if s.busy is not None)

    def capacity(self) -> int:
        return max(0, self.size - self.busy())

    def submit(self, dispatch: TaskDispatch) -> Any:
        """The ObjectRef of ``dispatch`` on an idle actor of its environment, or None."""
        for slot in self._slots(dispatch.python):
            if slot.busy is None:
                slot.busy = slot.handle.execute.remote(dispatch.to_dict())
                return slot.busy
        return None

    def release(self, ref: Any, *, kill: bool = False) -> bool:
        """Free the actor running ``ref`` (killing it first with ``kill``); False when no
        actor of the pool runs it (a plain task)."""
        for slots in self.slots.values():
            for slot in slots:
                if slot.busy is not None and slot.busy == ref:
                    slot.busy = None
                    if kill:  # Ray restarts it (max_restarts) for the next task
                        self.ray.kill(slot.handle, no_restart=False)
                    return True
        return False

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"name": s.name, "busy": s.busy is not None}
            for slots in self.slots.values()
            for s in slots
        ]


def pool_settings() -> tuple[str, int | None] | None:
    """``(name, size)`` from ``MLSTUDIO_RAY_POOL`` / ``MLSTUDIO_RAY_POOL_SIZE``, or None."""
    name = os.environ.get("MLSTUDIO_RAY_POOL", "").strip()
    if not name:
        return None
    from mlstudio.errors import ConfigurationError

    if not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigurationError(
            f"MLSTUDIO_RAY_POOL={name!r} is not a pool name",
            hint="use letters, digits, '-' or '_', e.g. MLSTUDIO_RAY_POOL=warm",
        )
    size = os.environ.get("MLSTUDIO_RAY_POOL_SIZE", "").strip()
    if size and (not size.isdigit() or int(size) < 1):
        raise ConfigurationError(
            f"MLSTUDIO_RAY_POOL_SIZE={size!r} is not a number of actors",
            hint="give a whole number >= 1, e.g. MLSTUDIO_RAY_POOL_SIZE=4",
        )
    return name, int(size) if size else None
