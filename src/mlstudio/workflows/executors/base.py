"""The executor contract. A dispatch is plain data (never a closure): code by digest, the task
name, inputs by artifact reference and parameters; workers read and write the artifact store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


class ExecutorStopped(Exception):
    """The process driving a run stops driving it (it is shutting down, or another engine took
    the run over); the run stays resumable."""


@dataclass
class TaskDispatch:
    run_id: str
    task_run_id: int
    node_id: str
    task: str
    attempt: int
    code: dict[str, Any]  # lock entry: digest, archive digest, entrypoints, requirements
    inputs: dict[str, Any]  # arg -> resolved input spec (value refs, constants)
    timeout: float | None
    artifact_url: str
    cache_dir: str
    log_path: str | None = None
    python: str | None = None  # module environment interpreter; None = the host's
    governance: dict[str, Any] | None = None  # domain policy, input tags, projection (data.io)
    sandbox: dict[str, Any] | None = None  # protected roots (workflows.sandbox); None: off

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TaskResult:
    task_run_id: int
    attempt: int
    status: str  # ok | error | denied | timeout | crashed | lost | cancelled
    output: dict[str, Any] | None = None
    error: str | None = None
    traceback: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    worker: str = ""
    retryable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    read_set: dict[str, Any] | None = None  # files it read (workflows.cache.readset)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class Executor(Protocol):
    name: str
    supports_cancel: bool

    def start(self) -> None: ...
    def capacity(self) -> int:
        """How many more dispatches it accepts right now."""
        ...

    def submit(self, dispatch: TaskDispatch) -> None: ...
    def poll(self, timeout: float) -> list[TaskResult]:
        """Results that arrived (waits up to ``timeout`` for the first)."""
        ...

    def cancel(self, task_run_ids: set[int]) -> None: ...
    def shutdown(self) -> None: ...
