"""``RunOptions``: how a run is started, carried as one frozen value from the edge (CLI flags,
an API body, a schedule, a clone) through planning to the run's row."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Where and how a run executes.

    ``pool`` (or executor ``queue``) sends its tasks to the workers of that pool; a higher
    ``priority`` is served first; a ``preemptible`` run's tasks give way to higher-priority work
    when a pool is full; ``fail_fast`` cancels the rest when a task fails."""

    domain: str = "experimentation"
    executor: str = "local"
    no_cache: bool = False
    fail_fast: bool = False
    trigger: str = "cli"
    pool: str | None = None
    priority: int = 0
    preemptible: bool = False
    experiment: str | None = None  # tracking experiment of its task runs (default: workflow)

    def checked(self) -> RunOptions:
        """These options with the executor a pool implies, or a one-line error."""
        executor = self.executor
        if (self.pool is not None or self.preemptible) and executor == "local":
            executor = "queue"
        from mlstudio.workflows.executors.registry import executors

        executors.check(executor)  # the registered ones (local, queue, ray, plugins)
        if self.pool is not None and executor != "queue":
            raise InvalidInputError(
                f"--pool needs the queue executor, not {executor}", hint="leave out --executor"
            )
        if self.pool is not None and not self.pool.replace("-", "").replace("_", "").isalnum():
            raise InvalidInputError(
                f"invalid pool name {self.pool!r}", hint="use letters, digits, - and _"
            )
        priority = self.priority
        if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > 1000:
            raise InvalidInputError(
                f"invalid priority {priority!r}", hint="use a whole number from -1000 to 1000"
            )
        experiment = self.experiment
        if experiment is not None:
            experiment = experiment.strip()
            if not experiment or len(experiment) > 256 or any(ord(c) < 32 for c in experiment):
                raise InvalidInputError(
                    f"invalid experiment name {self.experiment!r}",
                    hint="use 1 to 256 printable characters",
                )
        return self.replace(executor=executor, experiment=experiment)

    def replace(self, **changes: Any) -> RunOptions:
        return dataclasses.replace(self, **changes)

    @classmethod
    def of_run(cls, run: Any) -> RunOptions:
        """The options ``run`` (a ``RunRecord``) was started with: a clone inherits them."""
        queue = (run.plan or {}).get("queue") or {}
        return cls(
            domain=run.domain,
            executor=run.executor,
            no_cache=bool(run.no_cache),
            fail_fast=bool(run.fail_fast),
            trigger=run.trigger,
            pool=queue.get("pool") if run.executor == "queue" else None,
            priority=int(run.priority or 0),
            preemptible=bool(queue.get("preemptible", False)),
            experiment=(run.plan or {}).get("experiment"),
        )
