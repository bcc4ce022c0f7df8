"""The durable engine loop: drives one run to a terminal state.

Every state change is committed to the metadata store *before* it is acted on (a task is marked
running before it is dispatched; a result is recorded before dependents are released), so a
killed engine loses nothing: ``resume`` rebuilds the state from the database, re-dispatches only
what was in flight and never redoes a finished task. The engine imports no storage or Ray code:
it gets a metadata store, a content store and an executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlstudio.core.clock import utcnow
from mlstudio.core.ids import process_identity
from mlstudio.integrations.webhooks import emit_run_event
from mlstudio.workflows.cache import keys as cache_keys
from mlstudio.workflows.engine_governance import EngineGovernance, closed_policy
from mlstudio.workflows.engine_state import (  # noqa: F401  (initial_rows is re-exported)
    _deps,
    _parent_of,
    _row,
    _safe,
    _State,
    initial_rows,
)
from mlstudio.workflows.engine_values import EngineValues
from mlstudio.workflows.executors.base import (
    Executor,
    ExecutorStopped,
    TaskDispatch,
    TaskResult,
)
from mlstudio.workflows.plan import CHOOSE, MAP, TASK, Node, Plan
from mlstudio.workflows.records import TASK_BAD, TASK_TERMINAL, TaskRunRecord

HEARTBEAT_S = 2.0
LOST_ATTEMPTS = 3  # re-dispatches after lost worker leases, on top of the task's own retries
CANCEL_CHECK_S = 0.3


def engine_identity() -> str:
    return process_identity()


@dataclass
class EngineConfig:
    artifact_url: str
    cache_dir: Path
    logs_dir: Path
    host_env: str
    env_python: Callable[[dict[str, Any]], str | None] = lambda code: None


class Engine(EngineGovernance, EngineValues):
    def __init__(self, store: Any, cas: Any, executor: Executor, config: EngineConfig) -> None:
        self.store = store
        self.cas = cas
        self.executor = executor
        self.config = config
        self.engine_id = engine_identity()

    # --- setup --------------------------------------------------------------------------------
    def _load(self, run_id: str) -> tuple[Any, Plan, dict[str, _State]]:
        with self.store.transaction() as uow:
            run = uow.runs.get_run(run_id)
            assert run is not None
            uow.runs.update_run(
                run_id,
                state="running" if not run.cancel_requested else "cancelling",
                engine_id=self.engine_id,
                heartbeat_at=utcnow(),
                started_at=run.started_at or utcnow(),
            )
            if run.started_at is None:  # the first start, not a resume
                emit_run_event(uow, "run.started", run_id)
            rows = uow.runs.task_runs_of(run_id)
            policy = uow.domains.get(run.domain)
            plan = Plan.from_json(run.plan)
            pairs = sorted(
                {
                    (plan.code[n.code].get("module") or "", n.task)
                    for n in plan.nodes.values()
                    if n.code in plan.code
                }
            )
            declassifiers = [
                d.to_dict() for d in uow.declassifiers.applicable([p for p in pairs if p[0]])
            ]
        from mlstudio.governance.policy import DomainPolicy

        # A domain deleted after the run was planned reads nothing (fail closed).
        self._policy = DomainPolicy.from_dict(policy) if policy else closed_policy(run.domain)
        self._policy_dict = self._policy.to_dict()
        self._declassifiers = declassifiers
        self._plan = plan
        self._audits: list[tuple[str, str, str, str, dict[str, Any]]] = []
        self._persist: list[dict[str, Any]] = []
        states: dict[str, _State] = {}
        by_node = {r.node_id: r for r in rows}
        for node in plan.nodes.values():
            row = by_node.get(node.id)
            if row is not None:
                states[node.id] = self._from_row(row, node)
        # dynamic children of MAP nodes were persisted when they were expanded
        for row in rows:
            if row.node_id not in states and row.parent_node in plan.nodes:
                parent = plan.nodes[row.parent_node]
                index = int(row.node_id.rsplit("[", 1)[1].rstrip("]"))
                child = self._child(parent, index)
                plan.nodes[child.id] = child
                states[child.id] = self._from_row(row, child)
        return run, plan, states

    @staticmethod
    def _from_row(row: TaskRunRecord, node: Node) -> _State:
        return _State(
            id=row.id,
            node=node,
            state=row.state,
            attempt=row.attempt,
            max_attempts=row.max_attempts,
            output=row.output,
            cache_key=row.cache_key,
            components=row.cache_components,
            logs=list(row.logs or []),
            duration_s=row.duration_s,
        )

    # --- the loop -----------------------------------------------------------------------------
    def drive(self, run_id: str, observe: Callable[[dict[str, Any]], None] | None = None) -> str:
        """Run until the run is terminal; returns its final state."""
        run, plan, states = self._load(run_id)
        self.executor.start()
        # A previous engine may have died with tasks in flight. An executor whose attempts
        # outlive their engine (the queue) takes them over; the others' attempts are lost and
        # run again as new attempts.
        in_flight = [s for s in states.values() if s.state == "running" and s.node.kind == TASK]
        reattach = getattr(self.executor, "reattach", None)
        taken: set[int] = set()
        if in_flight and reattach is not None:
            taken = reattach(run_id, [(s.id, s.attempt) for s in in_flight])
        lost = [s for s in in_flight if s.id not in taken]
        if lost:
            self._commit([self._set(s, "pending") for s in lost])
        self._index(plan, states)
        self._in_flight = len(taken)
        started = time.monotonic()
        last_beat = last_cancel = last_observe = time.monotonic()
        cancelling = run.cancel_requested
        try:
            self._progress(run, plan, states)
            while True:
                now = time.monotonic()
                if now - last_cancel > CANCEL_CHECK_S:
                    last_cancel = now
                    if not cancelling and self._cancel_requested(run_id):
                        cancelling = True
                if cancelling:
                    return self._cancel(run_id, plan, states)
                if now - last_beat > HEARTBEAT_S:
                    last_beat = now
                    self._beat(run_id)
                if observe and now - last_observe > 0.1:
                    last_observe = now
                    observe(self._snapshot(states, now - started))
                if self._in_flight == 0 and not self._ready and not self._delayed:
                    return self._finish(run_id, plan, states)
                if self._in_flight == 0:
                    wait = min(s.not_before for s in self._delayed) - time.time()
                    time.sleep(min(max(wait, 0.0), CANCEL_CHECK_S))
                    self._progress(run, plan, states)
                    continue
                results = self.executor.poll(timeout=CANCEL_CHECK_S)
                if results:
                    self._record(run, plan, states, results)
                self._progress(run, plan, states)
        finally:
            if observe:
                observe(self._snapshot(states, time.monotonic() - started))

    def _beat(self, run_id: str) -> None:
        """Renew this engine's hold on the run; stop driving it if another process took it
        (a driver after this engine stalled past its heartbeat, or `runs cancel`)."""
        with self.store.transaction() as uow:
            held = uow.runs.update_active_run(run_id, held_by=self.engine_id, heartbeat_at=utcnow())
        if not held:
            raise ExecutorStopped(f"run {run_id} is no longer driven by {self.engine_id}")

    def _index(self, plan: Plan, states: dict[str, _State]) -> None:
        """Dependency counters: a node is examined only when its last dependency settles."""
        self._dependents: dict[str, list[str]] = {}
        self._missing: dict[str, int] = {}
        self._children: dict[str, list[_State]] = {}
        self._ready: list[_State] = []
        self._delayed: list[_State] = []
        self._worklist: list[str] = []
        self._in_flight = 0
        for node_id, s in states.items():
            parent = _parent_of(node_id)
            if parent in states and s.node.kind == TASK and parent != node_id:
                self._children.setdefault(parent, []).append(s)
        self._maps_to_check: set[str] = set()
        for node_id, s in states.items():
            deps = s.node.deps()
            missing = 0
            for dep in deps:
                self._dependents.setdefault(dep, []).append(node_id)
                if states[dep].state not in TASK_TERMINAL:
                    missing += 1
            self._missing[node_id] = missing
            if s.state == "pending" and missing == 0:
                self._worklist.append(node_id)
            elif s.state == "running" and s.node.kind == MAP:
                self._check_map(s, states)
        for children in self._children.values():
            children.sort(key=lambda c: int(c.node.id.rsplit("[", 1)[1].rstrip("]")))

    def _terminal(self, node_id: str) -> None:
        for dependent in self._dependents.get(node_id, ()):
            self._missing[dependent] -= 1
            if self._missing[dependent] == 0:
                self._worklist.append(dependent)
        parent = _parent_of(node_id)
        if parent is not None and parent in self._children and parent != node_id:
            self._maps_to_check.add(parent)

    def _snapshot(self, states: dict[str, _State], elapsed: float) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for s in states.values():
            if s.node.kind != TASK:
                continue
            counts[s.state] = counts.get(s.state, 0) + 1
        return {"counts": counts, "elapsed_s": elapsed, "total": sum(counts.values())}

    def _cancel_requested(self, run_id: str) -> bool:
        with self.store.read() as uow:
            run = uow.runs.get_run(run_id)
        return bool(run and run.cancel_requested)

    def _commit(
        self,
        changes: list[dict[str, Any]],
        cache_rows: list[dict[str, Any]] | None = None,
        hits: list[str] | None = None,
    ) -> None:
        audits, self._audits = self._audits, []
        persist, self._persist = self._persist, []
        if not changes and not cache_rows and not hits and not audits and not persist:
            return
        with self.store.transaction() as uow:
            if changes:
                uow.runs.update_task_runs(changes)
            for actor, action, resource, decision, details in audits:
                uow.audit.record(actor, action, resource, decision=decision, details=details)
            for values in persist or []:
                record = uow.datasets.create_version(values)
                uow.audit.record(
                    values["created_by"],
                    "data.write",
                    record.ref,
                    details={
                        "run": values["source"]["run_id"],
                        "node": values["source"]["node"],
                        "domain": record.domain,
                    },
                )
            if cache_rows:
                uow.runs.cache_put(cache_rows)
            if hits:
                uow.runs.cache_hits(hits)

    def _progress(self, run: Any, plan: Plan, states: dict[str, _State]) -> None:
        """Settle every node whose dependencies are done, take cache hits, dispatch what fits."""
        while True:
            changes: list[dict[str, Any]] = []
            while self._worklist or self._maps_to_check:
                while self._worklist:
                    s = states[self._worklist.pop()]
                    if s.state != "pending":
                        continue
                    outcome = self._settle(s, plan, states)
                    if outcome == "ready":
                        self._ready.append(s)
                    elif outcome == "expand":
                        self._commit(changes)
                        changes = []
                        self._expand(run, plan, states, s)
                    elif isinstance(outcome, dict):
                        changes.append(outcome)
                        self._terminal(s.node.id)
                for parent in list(self._maps_to_check):
                    self._maps_to_check.discard(parent)
                    change = self._check_map(states[parent], states)
                    if change:
                        changes.append(change)
            now = time.time()
            if self._delayed:
                due = [s for s in self._delayed if s.not_before <= now]
                if due:
                    self._delayed = [s for s in self._delayed if s.not_before > now]
                    self._ready.extend(due)
            dispatches: list[TaskDispatch] = []
            hits: list[str] = []
            if self._ready:
                dispatches, hit_changes, hits = self._prepare(run, plan, states)
                changes.extend(hit_changes)
            self._commit(changes, hits=hits)
            for d in dispatches:
                self.executor.submit(d)
            self._in_flight += len(dispatches)
            if not (self._worklist or self._maps_to_check):
                return

    def _settle(
        self, s: _State, plan: Plan, states: dict[str, _State]
    ) -> dict[str, Any] | str | None:
        """Decide a pending node whose dependencies are all settled."""
        node = s.node
        for guard_node, path, expected in node.guards:
            g = states[guard_node]
            if g.state in TASK_BAD:
                return self._set(
                    s,
                    "upstream_failed",
                    error=f"condition {guard_node} did not complete",
                    finished_at=utcnow(),
                )
            if g.state == "skipped":
                return self._set(s, "skipped", finished_at=utcnow())
            value = self._value(self._resolve({"r": guard_node, "p": path}, states))
            if bool(value) != expected:
                return self._set(s, "skipped", finished_at=utcnow())
        if node.kind == CHOOSE:
            cond = node.inputs["cond"]
            if "r" in cond:
                c = states[cond["r"]]
                if c.state in TASK_BAD:
                    return self._set(
                        s, "upstream_failed", error="the condition failed", finished_at=utcnow()
                    )
                if c.state == "skipped":
                    return self._set(s, "skipped", finished_at=utcnow())
            branch = "then" if self._value(self._resolve(cond, states)) else "else"
            deps = _deps(node.inputs[branch])
            if any(states[d].state in TASK_BAD for d in deps):
                return self._set(
                    s, "upstream_failed", error="the chosen branch failed", finished_at=utcnow()
                )
            if any(states[d].state == "skipped" for d in deps):
                return self._set(s, "skipped", finished_at=utcnow())
            s.output = self._resolve(node.inputs[branch], states)
            return self._set(s, "succeeded", output=s.output, finished_at=utcnow())
        deps = node.deps() - {g[0] for g in node.guards}
        failed = sorted(d for d in deps if states[d].state in TASK_BAD)
        if failed:
            return self._set(
                s,
                "upstream_failed",
                error=f"upstream failed: {', '.join(failed[:3])}",
                finished_at=utcnow(),
            )
        if any(states[d].state == "skipped" for d in deps):
            return self._set(s, "skipped", finished_at=utcnow())
        return "expand" if node.kind == MAP else "ready"

    @staticmethod
    def _set(s: _State, state: str, **values: Any) -> dict[str, Any]:
        s.state = state
        return {"id": s.id, "state": state, **values}

    def _expand(self, run: Any, plan: Plan, states: dict[str, _State], s: _State) -> None:
        node = s.node
        items = self._value(self._resolve(node.inputs[node.mapped or ""], states))
        if not isinstance(items, list | tuple):
            self._commit(
                [
                    self._set(
                        s,
                        "failed",
                        error=f"{node.id}: map input is {type(items).__name__}, not a list",
                        finished_at=utcnow(),
                    )
                ]
            )
            self._terminal(node.id)
            return
        children = [self._child(node, index) for index in range(len(items))]
        rows = [_row(run.id, child, node.id, plan) for child in children]
        with self.store.transaction() as uow:
            uow.runs.insert_task_runs(rows)
            uow.runs.update_task_runs([self._set(s, "running", started_at=utcnow())])
            created = (
                {r.node_id: r for r in uow.runs.task_runs_of(run.id, [c.id for c in children])}
                if children
                else {}
            )
        made = []
        for child in children:
            plan.nodes[child.id] = child
            state = self._from_row(created[child.id], child)
            states[child.id] = state
            self._missing[child.id] = 0
            made.append(state)
            self._worklist.append(child.id)
        self._children[node.id] = made
        self._maps_to_check.add(node.id)

    def _check_map(self, parent: _State, states: dict[str, _State]) -> dict[str, Any] | None:
        if parent.state != "running":
            return None
        children = self._children.get(parent.node.id, [])
        if not all(c.state in TASK_TERMINAL for c in children):
            return None
        bad = [c.node.id for c in children if c.state in TASK_BAD]
        if bad:
            change = self._set(
                parent,
                "failed",
                error=f"{len(bad)} mapped task(s) failed: {', '.join(bad[:3])}",
                finished_at=utcnow(),
            )
        elif any(c.state == "skipped" for c in children):
            change = self._set(parent, "skipped", finished_at=utcnow())
        else:
            parent.output = {"l": [c.output for c in children]}
            change = self._set(parent, "succeeded", output=parent.output, finished_at=utcnow())
        self._terminal(parent.node.id)
        return change

    def _prepare(
        self, run: Any, plan: Plan, states: dict[str, _State]
    ) -> tuple[list[TaskDispatch], list[dict[str, Any]], list[str]]:
        """Compute cache keys once, take hits, and mark what fits the executor running."""
        fresh = [s for s in self._ready if s.inputs is None or not s.looked_up]
        for s in fresh:
            if s.inputs is None:
                code = plan.code[s.node.code]
                s.inputs = {k: self._resolve(b, states) for k, b in s.node.inputs.items()}
                env = code.get("env_digest") or self.config.host_env
                s.components = cache_keys.components(
                    code["digest"],
                    s.node.task,
                    s.inputs,
                    env,
                    s.node.options.get("cache_version", ""),
                )
                lowering = self._declassifiers_for(code, s.node.task)
                if lowering:
                    # a result lowered by a declassifier is only reused while it stays approved
                    s.components["declassifiers"] = sorted(d["id"] for d in lowering)
                s.cache_key = cache_keys.cache_key(s.components)
        denied: list[dict[str, Any]] = []
        for s in fresh:
            if s.looked_up:
                continue
            problem = self._check_reads(run, s)
            if problem:
                denied.append(self._set(s, "failed", error=problem, finished_at=utcnow()))
                self._terminal(s.node.id)
        if denied:
            self._ready = [s for s in self._ready if s.state == "pending"]
            fresh = [s for s in fresh if s.state == "pending"]
        lookup = [s.cache_key for s in fresh if not s.looked_up and self._cacheable(run, s)]
        found: dict[str, Any] = {}
        if lookup:
            with self.store.read() as uow:
                found = uow.runs.cache_lookup(lookup)
        for s in fresh:
            s.looked_up = True
        changes: list[dict[str, Any]] = list(denied)
        hits: list[str] = []
        stale: list[str] = []
        remaining: list[_State] = []
        for s in self._ready:
            entry = found.pop(s.cache_key, None) if s.cache_key in found else None
            if entry is not None and not self._blob_present(entry.output):
                stale.append(entry.key)
                entry = None
            if entry is not None:
                problem = self._check_cached(run, s, entry.output)
                if problem:
                    changes.append(self._set(s, "failed", error=problem, finished_at=utcnow()))
                    self._terminal(s.node.id)
                    continue
                self._persist_later(run, s, entry.output)
                s.output = entry.output
                hits.append(entry.key)
                now = utcnow()
                changes.append(
                    self._set(
                        s,
                        "cached",
                        cache_hit=True,
                        cache_key=s.cache_key,
                        cache_components=s.components,
                        output=entry.output,
                        duration_s=entry.duration_s,
                        started_at=now,
                        finished_at=now,
                    )
                )
                self._terminal(s.node.id)
                continue
            remaining.append(s)
        capacity = self.executor.capacity()
        dispatches: list[TaskDispatch] = []
        self._ready = []
        for s in remaining:
            if capacity <= 0:
                self._ready.append(s)
                continue
            capacity -= 1
            code = plan.code[s.node.code]
            s.attempt += 1
            log_path = self.config.logs_dir / run.id / f"{_safe(s.node.id)}.{s.attempt}.log"
            s.logs.append({"attempt": s.attempt, "path": str(log_path)})
            changes.append(
                self._set(
                    s,
                    "running",
                    attempt=s.attempt,
                    cache_key=s.cache_key,
                    cache_components=s.components,
                    started_at=utcnow(),
                    logs=list(s.logs),
                    error=None,
                )
            )
            dispatches.append(
                TaskDispatch(
                    run_id=run.id,
                    task_run_id=s.id,
                    node_id=s.node.id,
                    task=s.node.task,
                    attempt=s.attempt,
                    code=code,
                    inputs=s.inputs or {},
                    timeout=s.node.options.get("timeout"),
                    artifact_url=self.config.artifact_url,
                    cache_dir=str(self.config.cache_dir),
                    log_path=str(log_path),
                    python=self.config.env_python(code),
                    governance=self._governance(run, s, code),
                )
            )
        if stale:
            with self.store.transaction() as uow:
                uow.runs.cache_delete(stale)
        return dispatches, changes, hits

    @staticmethod
    def _cacheable(run: Any, s: _State) -> bool:
        return not run.no_cache and s.node.options.get("cache", "default") == "default"

    def _blob_present(self, spec: dict[str, Any]) -> bool:
        if "v" in spec:
            ref = spec["v"]
            return "inline" in ref or self.cas.touch(ref["digest"])  # a reuse is a write for gc
        if "l" in spec:
            return all(self._blob_present(s) for s in spec["l"])
        if "d" in spec:
            return all(self._blob_present(s) for s in spec["d"].values())
        return True

    def _record(
        self, run: Any, plan: Plan, states: dict[str, _State], results: list[TaskResult]
    ) -> None:
        by_id = self._by_id(states)
        changes: list[dict[str, Any]] = []
        cache_rows: list[dict[str, Any]] = []
        for result in results:
            s = by_id.get(result.task_run_id)
            if s is None or s.state != "running" or s.attempt != result.attempt:
                continue
            self._in_flight -= 1
            duration = (
                (result.finished_at - result.started_at)
                if result.started_at and result.finished_at
                else None
            )
            if s.logs and result.extra.get("log"):
                s.logs[-1]["text"] = result.extra["log"][-20000:]
            if result.ok:
                s.output = {"v": result.output}
                s.duration_s = duration
                self._audit_output(run, s, result.output)
                self._persist_later(run, s, s.output)
                changes.append(
                    self._set(
                        s,
                        "succeeded",
                        output=s.output,
                        duration_s=duration,
                        finished_at=utcnow(),
                        logs=list(s.logs),
                    )
                )
                if s.node.options.get("cache", "default") != "off" and s.cache_key:
                    cache_rows.append(
                        {
                            "key": s.cache_key,
                            "output": s.output,
                            "workflow": run.workflow,
                            "module": plan.code.get(s.node.code, {}).get("module"),
                            "task": s.node.task,
                            "domain": run.domain,
                            "run_id": run.id,
                            "duration_s": duration or 0.0,
                            "created_at": utcnow(),
                            "hits": 0,
                        }
                    )
                self._terminal(s.node.id)
                continue
            message = result.error or result.status
            if result.status == "denied":
                self._audits.append(
                    (
                        run.created_by,
                        "data.write",
                        f"run:{run.id}/{s.node.id}",
                        "deny",
                        {"error": message, "domain": run.domain},
                    )
                )
            # A worker that vanished (lease lost) did not fail the task: run it again without
            # spending its retry budget (the attempt number still goes up), a few times at most.
            lost = result.status == "lost" and s.attempt < s.max_attempts + LOST_ATTEMPTS
            retries_left = lost or (
                s.attempt < s.max_attempts
                and result.retryable
                and result.status not in ("cancelled", "denied", "lost")
            )
            if retries_left:
                delay = (
                    0.0
                    if lost
                    else float(s.node.options.get("retry_delay", 1.0)) * (2 ** (s.attempt - 1))
                )
                s.not_before = time.time() + delay
                self._delayed.append(s)
                changes.append(
                    self._set(
                        s,
                        "pending",
                        error=f"attempt {s.attempt}: {message}",
                        traceback=result.traceback,
                        not_before=utcnow() + timedelta(seconds=delay),
                        logs=list(s.logs),
                    )
                )
            else:
                changes.append(
                    self._set(
                        s,
                        "failed",
                        error=message,
                        traceback=result.traceback,
                        duration_s=duration,
                        finished_at=utcnow(),
                        logs=list(s.logs),
                    )
                )
                self._terminal(s.node.id)
                if run.fail_fast:
                    self._request_cancel(run.id, f"{s.node.id} failed (fail-fast)")
        for parent in list(self._maps_to_check):
            self._maps_to_check.discard(parent)
            change = self._check_map(states[parent], states)
            if change:
                changes.append(change)
        self._commit(changes, cache_rows=cache_rows)

    def _by_id(self, states: dict[str, _State]) -> dict[int, _State]:
        if len(getattr(self, "_id_index", {})) != len(states):
            self._id_index = {s.id: s for s in states.values()}
        return self._id_index

    def _request_cancel(self, run_id: str, reason: str) -> None:
        with self.store.transaction() as uow:
            uow.runs.update_run(run_id, cancel_requested=True, error=reason)

    def _cancel(self, run_id: str, plan: Plan, states: dict[str, _State]) -> str:
        running = {s.id for s in states.values() if s.state == "running" and s.node.kind == TASK}
        self.executor.cancel(running)
        changes = [
            self._set(s, "cancelled", finished_at=utcnow())
            for s in states.values()
            if s.state in ("pending", "running")
        ]
        self._commit(changes)
        with self.store.transaction() as uow:
            run = uow.runs.get_run(run_id)
            final = "failed" if run and run.error and "fail-fast" in run.error else "cancelled"
            return self._end(uow, run_id, final)

    def _finish(self, run_id: str, plan: Plan, states: dict[str, _State]) -> str:
        bad = sorted(s.node.id for s in states.values() if s.state in ("failed",))
        output = None
        error = None
        if bad:
            state = "failed"
            first = states[bad[0]]
            error = f"{len(bad)} task(s) failed: {', '.join(bad[:5])}"
            with self.store.read() as uow:
                row = uow.runs.task_runs_of(run_id, [first.node.id])
            if row and row[0].error:
                error += f" — {first.node.id}: {row[0].error}"
        else:
            state = "succeeded"
            try:
                output = self._resolve(plan.output, states)
            except (KeyError, IndexError, TypeError):
                output = None
        with self.store.transaction() as uow:
            return self._end(uow, run_id, state, output=output, error=error)

    def _end(self, uow: Any, run_id: str, state: str, **values: Any) -> str:
        """Record the run's final state and its event, only if this engine still holds the run.

        A run that `runs cancel` ended while this engine looked dead, or that a driver took
        over after this engine stalled past its heartbeat, stays as the other process left it
        (with its one event); returns the state the run is in."""
        values.update(state=state, finished_at=utcnow(), engine_id=None)
        if uow.runs.update_active_run(run_id, held_by=self.engine_id, **values):
            emit_run_event(uow, f"run.{state}", run_id)
            return state
        run = uow.runs.get_run(run_id)
        return run.state if run is not None else state
