"""Runs (start, drive or follow, inspect, control) and the task cache."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstudio.app.local.base import SERVER_EXECUTOR, Area, check_page
from mlstudio.workflows.options import RunOptions

if TYPE_CHECKING:
    from mlstudio.app.interface import Observer
    from mlstudio.app.views import (
        CacheClearView,
        CacheStatsView,
        DetachedView,
        LogTailView,
        LogView,
        OutputView,
        PinView,
        RunShowView,
        RunStatesView,
        RunView,
    )


class LocalRuns(Area):
    executor: Any = None  # workers started ahead of the run (the CLI boots them early)

    def start(
        self, workflow: str, params: dict[str, Any], options: RunOptions = RunOptions()
    ) -> RunView:
        if self.served:
            self.refuse_working_copy(workflow, "start")
            options = options.replace(executor=SERVER_EXECUTOR, trigger="api")
        record = self.platform.runs.submit(self.actor, workflow, params, options)
        return record.summary()  # type: ignore[return-value]

    def wait(self, run_id: str, observe: Observer | None = None) -> RunShowView:
        """Drive the run in this process (or follow the engine that has it) until it ends."""
        self.platform.runs.execute(run_id, observe, executor=self.executor)
        return self.show(run_id)

    def detach(self, run_id: str) -> DetachedView:
        """Drive the run in a background engine process; ``detached_pid`` is that process."""
        pid = self.platform.runs.detach(run_id, self.actor)
        return {"id": run_id, "state": "queued", "detached_pid": pid}

    def list(
        self,
        *,
        state: str | None = None,
        workflow: str | None = None,
        user: str | None = None,
        domain: str | None = None,
        namespace: str | None = None,
        since: datetime | None = None,
        limit: int | None = 20,
        offset: int = 0,
    ) -> list[RunView]:
        check_page(limit, offset)
        return self.platform.runs.list(  # type: ignore[return-value]
            self.actor,
            served=self.served,
            state=state,
            workflow=workflow,
            user=user,
            domain=domain,
            namespace=namespace,
            since=since,
            limit=limit,
            offset=offset,
        )

    def show(self, run_id: str, *, explain: bool = False) -> RunShowView:
        return self.platform.runs.show(  # type: ignore[return-value]
            run_id, actor=self.actor, explain=explain, served=self.served
        )

    def states(self, run_id: str) -> RunStatesView:
        return self.platform.runs.states(run_id, actor=self.actor)  # type: ignore[return-value]

    def logs(self, run_id: str, *, task: str | None = None) -> list[LogView]:
        return self.platform.runs.logs(run_id, actor=self.actor, task=task)  # type: ignore[return-value]

    def log_tail(
        self, run_id: str, *, task: str | None = None, cursor: str | None = None
    ) -> LogTailView:
        return self.platform.runs.log_tail(  # type: ignore[return-value]
            run_id, actor=self.actor, task=task, cursor=cursor, served=self.served
        )

    def cancel(self, run_id: str) -> RunView:
        return self.platform.runs.cancel(self.actor, run_id).summary()  # type: ignore[return-value]

    def clone(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        *,
        no_cache: bool = False,
        executor: str | None = None,
    ) -> RunView:
        """A new queued run of ``run_id``'s versions with the same options (and ``params``
        changed); ``executor`` moves it elsewhere (a server clones onto its queue)."""
        changes: dict[str, Any] = {"no_cache": no_cache}
        if executor is not None or self.served:
            changes["executor"] = SERVER_EXECUTOR if self.served else executor
        record = self.platform.runs.clone(self.actor, run_id, params or {}, **changes)
        return record.summary()  # type: ignore[return-value]

    def resume(self, run_id: str) -> RunView:
        return self.platform.runs.prepare_resume(self.actor, run_id).summary()  # type: ignore[return-value]

    def output(
        self,
        run_id: str,
        file: str | Path,
        *,
        task: str | None = None,
        domain: str | None = None,
        fmt: str | None = None,
    ) -> OutputView:
        from mlstudio.workflows.outputs import RunOutputs

        outputs = RunOutputs(self.platform.store, self.platform.cas, self.platform.runs)
        return outputs.write(self.actor, run_id, file, task=task, domain=domain, fmt=fmt)  # type: ignore[return-value]

    def pin(self, run_id: str, reason: str = "") -> PinView:
        from mlstudio.workflows.pins import pin

        return pin(self.platform.store, self.platform.runs, self.actor, run_id, reason)  # type: ignore[return-value]

    def unpin(self, run_id: str) -> PinView:
        from mlstudio.workflows.pins import unpin

        return unpin(self.platform.store, self.platform.runs, self.actor, run_id)  # type: ignore[return-value]


class LocalCache(Area):
    def stats(self) -> CacheStatsView:
        return self.platform.runs.cache_stats()  # type: ignore[return-value]

    def clear(
        self,
        workflow: str | None = None,
        task: str | None = None,
        older_than_days: float | None = None,
    ) -> CacheClearView:
        removed = self.platform.runs.cache_clear(self.actor, workflow, task, older_than_days)
        return {"removed": removed}
