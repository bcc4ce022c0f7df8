"""Runs: start (plan, record, drive), inspect, logs, cancel, clone, resume; cache stats."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mlstudio.core.clock import utcnow
from mlstudio.core.ids import new_id
from mlstudio.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from mlstudio.governance.domains import check_run, check_view
from mlstudio.workflows.cache import keys as cache_keys
from mlstudio.workflows.cache import readset
from mlstudio.workflows.engine import Engine, EngineConfig, engine_identity, initial_rows
from mlstudio.workflows.executors.registry import ExecutorContext, executors
from mlstudio.workflows.options import RunOptions
from mlstudio.workflows.plan import Plan
from mlstudio.workflows.planner import Planner, parse_workflow_ref
from mlstudio.workflows.records import RUN_TERMINAL, RunRecord
from mlstudio.workflows.sandbox import policy_for as sandbox_policy_for

if TYPE_CHECKING:
    from mlstudio.core.events import EventBus
    from mlstudio.settings import Settings

DEFAULT_OPTIONS = RunOptions()

STALE_ENGINE = timedelta(seconds=15)
MAX_DAYS = 36500  # a cache age beyond 100 years is a mistake, not a date before year 1


def parse_params(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise InvalidInputError(f"invalid parameter {pair!r}", hint="use -p NAME=VALUE")
        out[key.strip()] = value
    return out


@dataclass(frozen=True)
class PreparedRun:
    """A validated, planned run not recorded yet: :meth:`RunService.prepare` makes it,
    :meth:`RunService.record` writes it (once) inside a caller's unit of work."""

    id: str
    actor: str
    workflow: str  # as displayed and stored
    namespace: str | None
    plan: Plan
    options: RunOptions
    parent_id: str | None


class RunService:
    """Runs: plan, record, drive, inspect and control them. Its dependencies are passed in (the
    composition root, ``platform.py``, wires them); authorization is the governance module's
    ``check_run`` / ``check_view``."""

    def __init__(
        self,
        store: Any,
        cas: Any,
        modules: Any,
        envs: Any,
        settings: Settings,
        events: EventBus,
    ) -> None:
        self.store = store
        self.cas = cas
        self.modules = modules
        self.envs = envs
        self.settings = settings
        self.events = events
        self._loader = None

    # --- planning -----------------------------------------------------------------------------
    @property
    def loader(self) -> Any:
        if self._loader is None:
            from mlstudio.workflows.code import CodeLoader

            self._loader = CodeLoader(self.settings.cache_dir, self.cas.get)
        return self._loader

    def planner(self, actor: str | None = None, reference: str = "") -> Planner:
        """A planner whose workflow code runs in the task sandbox; its refusals are audited
        as ``actor``'s, on ``workflow:REFERENCE``."""
        planner = Planner(
            self.modules,
            self.cas,
            self.loader,
            self.envs,
            sandbox=sandbox_policy_for(self.settings),
        )
        if actor is not None:
            from mlstudio.governance.rbac import record_denial

            def audit(workflow: str, error: Any) -> None:
                resource = f"workflow:{reference or workflow}"
                record_denial(self.store, actor, "sandbox.access", resource, error)

            planner.on_denied = audit
        return planner

    def submit(
        self,
        actor: str,
        workflow: str,
        params: dict[str, Any],
        options: RunOptions = DEFAULT_OPTIONS,
        *,
        parent: RunRecord | None = None,
    ) -> RunRecord:
        """Plan (rejecting invalid workflows before anything runs) and record a queued run.

        This is :meth:`prepare` then :meth:`record` in a transaction of its own; a refusal is
        audited (:meth:`record_denial`)."""
        from mlstudio.governance.audit import refusals_audited

        prepared = self.prepare(actor, workflow, params, options, parent=parent)
        resource, context = self._denial_target(prepared)
        with refusals_audited(self.store, actor, "run.start", resource, context):
            return self.store.retrying(lambda uow: self.record(uow, prepared))

    def prepare(
        self,
        actor: str,
        workflow: str,
        params: dict[str, Any],
        options: RunOptions = DEFAULT_OPTIONS,
        *,
        parent: RunRecord | None = None,
    ) -> PreparedRun:
        """The first half of :meth:`submit`: validate and plan the run, writing nothing.

        ``parent`` clones that run (its lock, its parameters). For callers that record the run
        inside a transaction of their own (the scheduler commits a run with its fire): ``run =
        runs.record(uow, prepared)`` in that transaction; on ``PermissionDeniedError``, once it
        has rolled back, ``runs.record_denial(prepared, exc)``."""
        options = options.checked()
        planner = self.planner(actor, parent.workflow if parent else workflow)
        if parent is not None:
            old = Plan.from_json(parent.plan)
            root = old.code[old.root]
            pinned = {ref: old.code[alias] for ref, alias in old.uses.items()}
            pinned_data = {
                req: record
                for record in old.datasets.values()
                for req in record.get("requested", [])
            }
            plan = planner.plan(
                root,
                old.workflow,
                {**old.params, **params},
                pinned_uses=pinned,
                pinned_datasets=pinned_data,
            )
            display = parent.workflow
        else:
            target = parse_workflow_ref(workflow)
            root = planner.root_code(target)
            plan = planner.plan(root, target.workflow, params)
            display = _display(target, root)
        return PreparedRun(
            id=new_id("run"),
            actor=actor,
            workflow=display,
            namespace=(root.get("module") or "").split("/")[0] or None,
            plan=plan,
            options=options,
            parent_id=parent.id if parent else None,
        )

    def check_params(self, workflow: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` checked against ``workflow``'s signature (names, types, element types)
        without planning a run: what a schedule is checked with when it is added."""
        planner = self.planner()
        target = parse_workflow_ref(workflow)
        return planner.check_params(planner.root_code(target), target.workflow, params)

    def record(
        self, uow: Any, prepared: PreparedRun, *, cause: dict[str, Any] | None = None
    ) -> RunRecord:
        """The second half of :meth:`submit`: authorize ``prepared`` and record it as a queued
        run inside the caller's unit of work (it commits with whatever else the caller writes
        there). Raises ``PermissionDeniedError`` when the actor may not run it. ``cause``
        (what started it, e.g. a monitor and its alert) is kept in the plan as
        ``triggered_by`` and shown by ``runs show``."""
        plan, run_id, actor, options = prepared.plan, prepared.id, prepared.actor, prepared.options
        check_run(uow, actor, options.domain, plan)
        self._authorize_persist(uow, actor, plan)
        uow.runs.create_run(
            {
                "id": run_id,
                "workflow": prepared.workflow,
                "namespace": prepared.namespace,
                "state": "queued",
                "params": plan.params,
                "plan": _with_queue(plan.to_json(), options, cause),
                "lock": plan.code,
                "domain": options.domain,
                "trigger": options.trigger,
                "executor": options.executor,
                "no_cache": options.no_cache,
                "fail_fast": options.fail_fast,
                "created_by": actor,
                "created_at": utcnow(),
                "cancel_requested": False,
                "parent_run_id": prepared.parent_id,
                "priority": options.priority,
            }
        )
        uow.runs.insert_task_runs(initial_rows(run_id, plan))
        uow.queue.notify("mlstudio_runs")  # wakes the run drivers (Postgres)
        uow.audit.record(
            actor,
            "run.start",
            f"run:{run_id}",
            details={
                "workflow": prepared.workflow,
                "domain": options.domain,
                "trigger": options.trigger,
                "lock": sorted(plan.code),
            },
        )
        run = uow.runs.get_run(run_id)
        assert run is not None
        return run

    def record_denial(self, prepared: PreparedRun, error: PermissionDeniedError) -> None:
        """Audit that :meth:`record` refused ``prepared``, in a transaction of its own (call it
        after the refused one rolled back)."""
        from mlstudio.governance.audit import record_denial

        resource, context = self._denial_target(prepared)
        record_denial(self.store, prepared.actor, "run.start", resource, error, context)

    @staticmethod
    def _denial_target(prepared: PreparedRun) -> tuple[str, dict[str, Any]]:
        context = {"domain": prepared.options.domain, "trigger": prepared.options.trigger}
        if prepared.parent_id:
            context["parent"] = prepared.parent_id
        return f"workflow:{prepared.workflow}", context

    @staticmethod
    def _authorize_persist(uow: Any, actor: str, plan: Plan) -> None:
        """Tasks that persist named datasets need owner/maintainer on the target namespace."""
        from mlstudio.governance.rbac import Authorizer

        targets = sorted(
            {n.options["persist"] for n in plan.nodes.values() if n.options.get("persist")}
        )
        auth = Authorizer(uow.identity)
        for name in targets:
            namespace = name.split("/")[0]
            if uow.modules.get_namespace(namespace) is None:
                raise NotFoundError(
                    f"namespace {namespace} does not exist (a task persists {name})",
                    hint=f"an admin creates it: mlstudio namespace create {namespace}",
                )
            auth.require_namespace(actor, namespace, f"persist dataset {name}")

    # --- execution ----------------------------------------------------------------------------
    def make_executor(self, name: str, run: RunRecord | None = None) -> Any:
        """An executor by name from the registry (``run``: the run it will serve)."""
        context = ExecutorContext(
            self.settings, self.store, run, engine_identity() if run else None
        )
        return executors.create(name, context)

    def engine(self, executor: Any) -> Engine:
        settings = self.settings
        envs = self.envs

        def env_python(code: dict[str, Any]) -> str | None:
            if not code.get("requirements"):
                return None
            env = envs.ensure(tuple(code["requirements"]))
            return env.python if env else None

        from mlstudio.integrations.features import cached_reads as feature_reads
        from mlstudio.integrations.registry import reads as model_reads
        from mlstudio.workflows.cache.environment import TaskEnvironments

        config = EngineConfig(
            artifact_url=settings.resolved_artifact_url,
            cache_dir=settings.cache_dir,
            logs_dir=settings.home / "logs",
            task_environment=TaskEnvironments(settings.cache_dir, env_python),
            env_python=env_python,
            sandbox=sandbox_policy_for(settings),
            model_reads=model_reads,  # a cache hit's model reads: checked by the registry
            feature_reads=feature_reads,  # its training sets: checked by the feature store
        )
        from mlstudio.workflows.recorder import RunRecorder

        inline = None
        if getattr(executor, "name", "") == "local":  # @task(inline=True) runs in this process
            from mlstudio.workflows.executors.inline import InlineExecutor

            inline = InlineExecutor()
        recorder = RunRecorder(self.events)
        return Engine(self.store, self.cas, executor, config, recorder, inline)

    def execute(
        self,
        run_id: str,
        observe: Callable[[dict[str, Any]], None] | None = None,
        executor: Any = None,
    ) -> RunRecord:
        """Drive a run in this process until it is terminal (or, when a driver got to it
        first, follow it until it is)."""
        run = self.get(run_id)
        if not self._take(run):
            return self._follow(run.id, observe)
        own = executor is None
        executor = executor or self._executor_for(run)
        from mlstudio.workflows.executors.base import ExecutorStopped

        try:
            self.engine(executor).drive(run.id, observe)
        except ExecutorStopped:  # a run driver took the run over (this process stalled)
            return self._follow(run.id, observe)
        finally:
            if own:
                executor.shutdown()
        return self.get(run.id)

    def _executor_for(self, run: RunRecord) -> Any:
        return self.make_executor(run.executor, run)

    def _take(self, run: RunRecord) -> bool:
        """Claim the run for this process's engine (compare-and-set, so a run driver and this
        process never both drive it); False when another live engine has it."""
        if run.engine_id is not None and not self._engine_gone(run):
            return False
        with self.store.transaction() as uow:
            return uow.queue.claim_run(run.id, engine_identity(), run.engine_id, run.heartbeat_at)

    def _follow(self, run_id: str, observe: Callable[[dict[str, Any]], None] | None) -> RunRecord:
        import time

        started = time.monotonic()
        while True:
            run = self.get(run_id)
            if observe:
                with self.store.read() as uow:
                    counts = uow.runs.task_counts([run_id]).get(run_id, {})
                observe(
                    {
                        "counts": counts,
                        "elapsed_s": time.monotonic() - started,
                        "total": sum(counts.values()),
                    }
                )
            if run.state in RUN_TERMINAL:
                return run
            time.sleep(0.2)

    def detach(self, run_id: str, actor: str) -> int:
        """Drive the run in a background process (as ``actor``, the embedded identity); returns
        its pid."""
        settings = self.settings
        log_dir = settings.home / "logs" / run_id
        log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            {
                "MLSTUDIO_HOME": str(settings.home),
                "MLSTUDIO_DATABASE_URL": settings.resolved_database_url,
                "MLSTUDIO_ARTIFACT_URL": settings.resolved_artifact_url,
                "MLSTUDIO_USER": actor,
            }
        )
        with open(log_dir / "engine.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mlstudio.app.runner", run_id],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        return proc.pid

    # --- inspection ---------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        from mlstudio.workflows.lookup import find_run

        with self.store.read() as uow:
            return find_run(uow, run_id)

    def list(self, actor: str, served: bool = False, **filters: Any) -> list[dict[str, Any]]:
        """Runs the actor may view (viewer or runner on their domain; admins see all); an
        active run says whether its engine is alive (``engine_check``)."""
        from mlstudio.governance.rbac import Authorizer

        with self.store.read() as uow:
            auth = Authorizer(uow.identity)
            if not auth.is_admin(actor):
                visible = [
                    d["name"]
                    for d in uow.domains.list()
                    if auth.has_domain_role(actor, d["name"], ("viewer", "runner"))
                ]
                filters["domains"] = visible
            runs = uow.runs.list_runs(**filters)
            counts = uow.runs.task_counts([r.id for r in runs])
            from mlstudio.scheduling.queue import waiting_reasons

            waiting = waiting_reasons(uow, runs)
            costs = uow.genai.run_costs([r.id for r in runs])
        out = []
        for r in runs:
            item = {**r.summary(), "tasks": counts.get(r.id, {}), **self.engine_check(r, served)}
            if r.id in waiting:
                item["waiting"] = waiting[r.id]
            item["cost"] = costs.get(r.id)  # what its model calls cost, or None
            out.append(item)
        return out

    def _viewable(self, actor: str, run_id: str, action: str) -> RunRecord:
        """The run, if ``actor`` may view it; a refusal is audited as ``action``."""
        from mlstudio.governance.audit import guarded_read

        run = self.get(run_id)

        def work(uow: Any) -> None:
            check_view(uow, actor, run.domain)

        guarded_read(self.store, actor, action, f"run:{run.id}", work, {"domain": run.domain})
        return run

    def show(
        self, run_id: str, *, actor: str, explain: bool = False, served: bool = False
    ) -> dict[str, Any]:
        """A run with its tasks and output (needs viewer or runner on the run's domain)."""
        from mlstudio.workflows.pins import pin_view
        from mlstudio.workflows.run_views import plan_dependencies, task_view

        run = self._viewable(actor, run_id, "run.show")
        with self.store.read() as uow:
            tasks = uow.runs.task_runs_of(run.id)
            pinned = pin_view(uow, run.id)
            cost = uow.genai.run_costs([run.id]).get(run.id)
            explanations: dict[str, Any] = {}
            if explain:
                for t in tasks:
                    if t.cache_components is None or t.cache_hit:
                        continue
                    stale_run, stale = readset.explain(t.read_set)
                    if stale:  # same key, but the files it read (or its expiry) said no
                        explanations[t.node_id] = {"compared_with_run": stale_run, "reasons": stale}
                        continue
                    previous = uow.runs.last_components(run.workflow, t.node_id, run.created_at)
                    explanations[t.node_id] = {
                        "compared_with_run": previous[0] if previous else None,
                        "reasons": cache_keys.explain(
                            previous[1] if previous else None, t.cache_components
                        ),
                    }
        out = run.summary()
        out.update(self.engine_check(run, served))
        out["lock"] = run.lock
        out["output_value"] = self.output_value(run)
        out["pinned"] = pinned
        out["triggered_by"] = run.plan.get("triggered_by")  # e.g. {monitor, alert}, or None
        out["cost"] = cost  # what its model calls spent (USD), or None
        deps = plan_dependencies(run.plan)
        out["tasks"] = [task_view(t, deps, explanations) for t in tasks]
        return out

    def states(self, run_id: str, *, actor: str) -> dict[str, Any]:
        """The run's state and each task's, in one narrow read (what a live view polls; the
        same view rights as ``show``)."""
        run = self._viewable(actor, run_id, "run.show")
        with self.store.read() as uow:
            rows = uow.runs.task_states_of(run.id)
        return {
            "id": run.id,
            "state": run.state,
            "tasks": [{"node": n, "state": s, "cache_hit": hit} for n, s, hit in rows],
        }

    def output_value(self, run: RunRecord) -> Any:
        """The workflow's return value when it is small and inline (else a description)."""
        if not run.output:
            return None
        return _inline_view(run.output)

    def logs(self, run_id: str, *, actor: str, task: str | None = None) -> list[dict[str, Any]]:
        """Every attempt's output so far (read from its file while it runs)."""
        from mlstudio.workflows import logtail

        run = self._viewable(actor, run_id, "run.logs")
        tasks = self._log_tasks(run, task)
        gone = self.engine_check(run)["engine_alive"] is False
        return logtail.whole(tasks, task, gone)

    def log_tail(
        self,
        run_id: str,
        *,
        actor: str,
        task: str | None = None,
        cursor: str | None = None,
        served: bool = False,
    ) -> dict[str, Any]:
        """What the run's (or ``task``'s) attempts printed since ``cursor`` (``runs logs
        --follow``): see :func:`mlstudio.workflows.logtail.since`."""
        from mlstudio.workflows import logtail

        logtail.decode_cursor(cursor)  # a bad cursor is refused before anything is read
        run = self._viewable(actor, run_id, "run.logs")
        tasks = self._log_tasks(run, task)
        current = self.get(run.id)  # read after its tasks: ended means their files are whole
        engine = self.engine_check(current, served)
        ended = current.state in RUN_TERMINAL
        gone = engine["engine_alive"] is False
        out = logtail.since(tasks, task, cursor, current.state, ended, gone)
        if not out["done"]:
            out.update(engine)
        return out

    def _log_tasks(self, run: RunRecord, task: str | None) -> list[Any]:
        with self.store.read() as uow:
            tasks = uow.runs.task_runs_of(run.id)
        if task and not any(t.node_id == task or t.task == task for t in tasks):
            raise NotFoundError(
                f"run {run.id} has no task {task!r}", hint="see: mlstudio runs show RUN"
            )
        return tasks

    def engine_check(self, run: RunRecord, served: bool = False) -> dict[str, Any]:
        """Whether the engine of an active run is alive, from its process (same host) or its
        heartbeat: ``{"engine_alive": bool | None, "engine_note": str | None}`` (``None``
        for a run no engine should be driving: queued, or ended)."""
        if run.state not in ("running", "cancelling"):
            return {"engine_alive": None, "engine_note": None}
        if not self._engine_gone(run):
            return {"engine_alive": True, "engine_note": None}
        beat = run.heartbeat_at
        ago = f", last heartbeat {int((utcnow() - beat).total_seconds())}s ago" if beat else ""
        what = f"its engine {run.engine_id} is gone" if run.engine_id else "no engine drives it"
        from mlstudio.store.metadata.repositories.queue import IN_PROCESS_TRIGGERS

        resume = f"mlstudio runs resume {run.id}"
        drivable = run.executor == "queue" or (
            run.executor == "ray" and run.trigger not in IN_PROCESS_TRIGGERS
        )
        if drivable and served:
            fix = (
                "this server's run driver takes such runs over (unless it runs with "
                f"--no-workers); or finish it now with: {resume}"
            )
        elif drivable:
            fix = (
                "a server's run driver (mlstudio server, mlstudio worker --drive) takes it "
                f"over; or finish it now with: {resume}"
            )
        else:
            fix = f"finish it with: {resume}"
        return {"engine_alive": False, "engine_note": f"{what}{ago} — {fix}"}

    # --- control ------------------------------------------------------------------------------
    def cancel(self, actor: str, run_id: str) -> RunRecord:
        """Cancel a queued or running run.

        A run no live engine drives (queued and not picked up, or its engine died) is taken
        (compare-and-set, so no engine can start driving it meanwhile) and cancelled here, with
        its ``run.cancelled`` event in the same transaction. A run an engine drives is flagged;
        that engine cancels its tasks and emits the event when it stops.
        """
        run = self.get(run_id)
        if run.state in RUN_TERMINAL:
            raise _already(run)

        def work(uow: Any) -> None:
            check_run(uow, actor, run.domain, None)
            current = uow.runs.get_run(run.id)
            if current.state in RUN_TERMINAL:  # it finished meanwhile
                raise _already(current)
            undriven = current.engine_id is None or self._engine_gone(current)
            if undriven and uow.queue.claim_run(
                current.id, engine_identity(), current.engine_id, current.heartbeat_at
            ):
                _cancel_undriven(uow, current.id, self.events)
            # else ask its engine; a run that finished meanwhile stays as it ended
            elif not uow.runs.update_active_run(
                current.id, cancel_requested=True, state="cancelling"
            ):
                raise _already(uow.runs.get_run(current.id))
            uow.audit.record(actor, "run.cancel", f"run:{run.id}")

        from mlstudio.governance.audit import guarded

        guarded(self.store, actor, "run.cancel", f"run:{run.id}", work, {"domain": run.domain})
        return self.get(run.id)

    def _engine_gone(self, run: RunRecord) -> bool:
        if run.engine_id is None:
            return True
        host, _, pid = run.engine_id.rpartition(":")
        if host == engine_identity().rpartition(":")[0] and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
        return run.heartbeat_at is None or utcnow() - run.heartbeat_at > STALE_ENGINE

    def prepare_resume(self, actor: str, run_id: str) -> RunRecord:
        run = self.get(run_id)
        if run.state in RUN_TERMINAL:
            raise StateError(
                f"run {run.id} already {run.state}",
                hint=f"start a new one with: mlstudio runs clone {run.id}",
            )
        if not self._engine_gone(run):
            raise StateError(
                f"run {run.id} is still being driven by {run.engine_id}",
                hint="wait for it, or cancel it with: mlstudio runs cancel RUN",
            )
        from mlstudio.governance.audit import guarded

        def work(uow: Any) -> None:
            check_run(uow, actor, run.domain, None)
            uow.audit.record(actor, "run.resume", f"run:{run.id}")

        guarded(self.store, actor, "run.resume", f"run:{run.id}", work, {"domain": run.domain})
        return run

    def clone(
        self,
        actor: str,
        run_id: str,
        params: dict[str, Any],
        options: RunOptions | None = None,
        **changes: Any,
    ) -> RunRecord:
        """A new run with ``run_id``'s resolved versions and parameters (``params`` override
        some). It starts with the parent's options (domain, executor, pool, priority,
        fail-fast, preemptible) unless ``options`` are given; ``changes`` then replace fields
        of those (``no_cache=True``)."""
        parent = self.get(run_id)
        base = options or RunOptions.of_run(parent)
        return self.submit(
            actor,
            parent.workflow,
            params,
            base.replace(trigger="clone", **changes),
            parent=parent,
        )

    # --- cache --------------------------------------------------------------------------------
    def cache_stats(self) -> dict[str, Any]:
        with self.store.read() as uow:
            raw = uow.runs.cache_stats()
        per = raw["per_workflow"]
        hits = sum(v["hits"] for v in per.values())
        misses = sum(v["misses"] for v in per.values())
        saved = sum(v["saved_s"] for v in per.values())
        return {
            "hits": hits,
            "misses": misses,
            "hit_ratio": hits / (hits + misses) if hits + misses else 0.0,
            "saved_s": round(saved, 3),
            "entries": raw["entries"],
            "per_workflow": {
                wf: {
                    **v,
                    "saved_s": round(v["saved_s"], 3),
                    "computed_s": round(v["computed_s"], 3),
                    "hit_ratio": v["hits"] / (v["hits"] + v["misses"])
                    if v["hits"] + v["misses"]
                    else 0.0,
                }
                for wf, v in sorted(per.items())
            },
        }

    def cache_clear(
        self,
        actor: str,
        workflow: str | None = None,
        task: str | None = None,
        older_than_days: float | None = None,
    ) -> int:
        older = None
        if older_than_days is not None:
            days = older_than_days
            if (
                isinstance(days, bool)
                or not isinstance(days, int | float)
                or not 0 <= days <= MAX_DAYS
            ):
                raise InvalidInputError(
                    f"invalid age {older_than_days!r} days: it is 0 to {MAX_DAYS} days",
                    hint=f"give a number of days from 0 to {MAX_DAYS}",
                )
            older = utcnow() - timedelta(days=days)

        def work(uow: Any) -> int:
            removed = uow.runs.cache_clear(workflow=workflow, task=task, older_than=older)
            uow.audit.record(
                actor, "cache.clear", workflow or "*", details={"task": task, "removed": removed}
            )
            return removed

        return self.store.retrying(work)


def _already(run: RunRecord) -> StateError:
    return StateError(
        f"run {run.id} is already {run.state}",
        hint="only queued or running runs can be cancelled",
    )


def _cancel_undriven(uow: Any, run_id: str, events: Any) -> None:
    """End a run that this process has just taken (no engine drives it): the run and its
    unfinished task runs become cancelled, and ``run.cancelled`` is published, in ``uow``."""
    from mlstudio.core.events import RunEnded
    from mlstudio.core.states import RunState

    now = utcnow()
    uow.runs.update_run(
        run_id, cancel_requested=True, state="cancelled", finished_at=now, engine_id=None
    )
    uow.runs.update_task_runs(
        [
            {"id": r.id, "state": "cancelled", "finished_at": r.finished_at or now}
            for r in uow.runs.task_runs_of(run_id)
            if r.state in ("pending", "running")
        ]
    )
    events.publish(uow, [RunEnded(run_id, RunState.CANCELLED)])


def _with_queue(
    plan: dict[str, Any], options: RunOptions, cause: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A queue run keeps where its tasks go in its plan (read by the drivers)."""
    if cause:
        plan["triggered_by"] = cause
    if options.executor == "queue":
        plan["queue"] = {"pool": options.pool or "default", "preemptible": options.preemptible}
    if options.experiment:
        plan["experiment"] = options.experiment  # tracking (integrations.tracking)
    return plan


def _display(target: Any, root: dict[str, Any]) -> str:
    if target.module_ref is not None:
        return f"{root['module']}/{target.workflow}"
    return target.display


def _inline_view(spec: dict[str, Any]) -> Any:
    if "c" in spec:
        return spec["c"]
    if "v" in spec:
        ref = spec["v"]
        if "inline" in ref:
            value = ref["inline"]
            try:
                for key in spec.get("p", []):
                    value = value[key]
            except (KeyError, IndexError, TypeError):
                return None
            return value
        return {
            "artifact": ref["digest"],
            "type": ref.get("type"),
            "format": ref.get("format"),
            "size": ref.get("size"),
        }
    if "l" in spec:
        return [_inline_view(s) for s in spec["l"]]
    if "d" in spec:
        return {k: _inline_view(s) for k, s in spec["d"].items()}
    return None
