"""The durable engine loop: drives one run to a terminal state.

Every state change is committed to the metadata store *before* it is acted on (a task is marked
running before it is dispatched; a result is recorded before dependents are released), so a
killed engine loses nothing: ``resume`` rebuilds the state from the database, re-dispatches only
what was in flight and never redoes a finished task.

The loop works in steps: one step records the results that arrived, settles every node they
release, takes cache hits and marks what fits the executor running, all in *one* transaction
(written by the :class:`~mlstudio.workflows.recorder.RunRecorder`, which publishes the step's
events to their subscribers in that transaction), and only then dispatches. The engine imports
no storage, Ray, audit or webhook code: it gets a metadata store, a content store, an executor,
a recorder, and builds a :class:`GovernanceGate` and a :class:`ValueResolver` per run.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from mlstudio.core.clock import utcnow
from mlstudio.core.events import CacheHit, RunEnded, RunStarted, TaskChanged, TaskTracked
from mlstudio.core.ids import process_identity
from mlstudio.core.states import (
    TASK_BAD,
    TASK_TERMINAL,
    ResultStatus,
    RunState,
    TaskState,
)
from mlstudio.workflows.cache import keys as cache_keys
from mlstudio.workflows.cache import readset
from mlstudio.workflows.engine_attempts import denial, retry_delay
from mlstudio.workflows.engine_cache import (
    blob_present,
    cache_entry,
    cacheable,
    hit_problems,
    record_reads,
)
from mlstudio.workflows.engine_config import EngineConfig  # the Engine takes one; re-exported
from mlstudio.workflows.engine_governance import GovernanceGate
from mlstudio.workflows.engine_state import (  # noqa: F401  (initial_rows is re-exported)
    StepTransaction,
    _deps,
    _parent_of,
    _row,
    _safe,
    _State,
    initial_rows,
    snapshot,
    state_from_row,
    worker_code,
)
from mlstudio.workflows.engine_tracking import tracked
from mlstudio.workflows.engine_values import ValueResolver
from mlstudio.workflows.executors.base import (
    Executor,
    ExecutorStopped,
    TaskDispatch,
    TaskResult,
)
from mlstudio.workflows.plan import CHOOSE, MAP, TASK, Plan
from mlstudio.workflows.recorder import PendingWrites, RunRecorder

HEARTBEAT_S = 2.0
CANCEL_CHECK_S = 0.3


def engine_identity() -> str:
    return process_identity()


class Engine:
    def __init__(
        self,
        store: Any,
        cas: Any,
        executor: Executor,
        config: EngineConfig,
        recorder: RunRecorder | None = None,
        inline: Executor | None = None,
    ) -> None:
        self.store = store
        self.cas = cas
        self.executor = executor
        self.inline = inline  # runs tasks declared @task(inline=True) in this process
        self.config = config
        self.recorder = recorder or RunRecorder()
        self.engine_id = engine_identity()
        self._pending = PendingWrites()
        self._task_events = self.recorder.bus.wants(TaskChanged)
        self._tracked = self.recorder.bus.wants(TaskTracked)
        self._plan_code: dict[str, Any] = {}
        self._steps: Any = None  # the connection the steps' transactions use (while driving)
        self._sent_code: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    # --- setup --------------------------------------------------------------------------------
    def _load(self, run_id: str) -> tuple[Any, Plan, dict[str, _State]]:
        with self.store.transaction() as uow:
            run = uow.runs.get_run(run_id)
            assert run is not None
            uow.runs.update_run(
                run_id,
                state=RunState.RUNNING if not run.cancel_requested else RunState.CANCELLING,
                engine_id=self.engine_id,
                heartbeat_at=utcnow(),
                started_at=run.started_at or utcnow(),
            )
            if run.started_at is None:  # the first start, not a resume
                self.recorder.publish(uow, RunStarted(run_id))
            rows = uow.runs.task_runs_of(run_id)
            plan = Plan.from_json(run.plan)
            self.gate = GovernanceGate.for_run(uow, run, plan, self._pending.events.append)
        self.values = ValueResolver(self.cas, plan)
        self._stale_notes: dict[int, dict[str, Any]] = {}  # task run id -> unusable cache hit
        states: dict[str, _State] = {}
        by_node = {r.node_id: r for r in rows}
        for node in plan.nodes.values():
            row = by_node.get(node.id)
            if row is not None:
                states[node.id] = state_from_row(row, node)
        # dynamic children of MAP nodes were persisted when they were expanded
        for row in rows:
            if row.node_id not in states and row.parent_node in plan.nodes:
                parent = plan.nodes[row.parent_node]
                index = int(row.node_id.rsplit("[", 1)[1].rstrip("]"))
                child = ValueResolver.child(parent, index)
                plan.nodes[child.id] = child
                states[child.id] = state_from_row(row, child)
        return run, plan, states

    # --- the loop -----------------------------------------------------------------------------
    def drive(self, run_id: str, observe: Callable[[dict[str, Any]], None] | None = None) -> str:
        """Run until the run is terminal; returns its final state."""
        run, plan, states = self._load(run_id)
        self._plan_code = plan.code
        self.executor.start()
        # A previous engine may have died with tasks in flight. An executor whose attempts
        # outlive their engine (the queue) takes them over; the others' attempts are lost and
        # run again as new attempts.
        in_flight = [
            s for s in states.values() if s.state == TaskState.RUNNING and s.node.kind == TASK
        ]
        reattach = getattr(self.executor, "reattach", None)
        taken: set[int] = set()
        if in_flight and reattach is not None:
            taken = reattach(run_id, [(s.id, s.attempt) for s in in_flight])
        for s in in_flight:
            if s.id not in taken:
                self._set(run, s, TaskState.PENDING)
        self._index(run, plan, states)
        self._in_flight = len(taken)
        self._inline_ids: set[int] = set()
        started = time.monotonic()
        last_beat = last_cancel = last_observe = time.monotonic()
        cancelling = run.cancel_requested
        held = getattr(self.store, "held", None)  # one connection for every step's transaction
        self._steps = held() if held is not None else None
        try:
            self._step(run, plan, states, [])
            while True:
                now = time.monotonic()
                if now - last_cancel > CANCEL_CHECK_S:
                    last_cancel = now
                    if not cancelling and self._cancel_requested(run_id):
                        cancelling = True
                if cancelling:
                    return self._cancel(run, plan, states)
                if now - last_beat > HEARTBEAT_S:
                    last_beat = now
                    self._beat(run_id)
                if observe and now - last_observe > 0.1:
                    last_observe = now
                    observe(snapshot(states, now - started))
                if self._in_flight == 0 and not self._has_ready() and not self._delayed:
                    return self._finish(run_id, plan, states)
                if self._in_flight == 0:
                    wait = min(s.not_before for s in self._delayed) - time.time()
                    time.sleep(min(max(wait, 0.0), CANCEL_CHECK_S))
                    self._step(run, plan, states, [])
                    continue
                self._step(run, plan, states, self._poll())
        finally:
            if self._steps is not None:
                steps, self._steps = self._steps, None
                steps.close()
            if observe:
                observe(snapshot(states, time.monotonic() - started))

    def _poll(self) -> list[TaskResult]:
        """Results from the executor (and the inline tasks, run here meanwhile)."""
        if not self._inline_ids:
            return self.executor.poll(timeout=CANCEL_CHECK_S)
        assert self.inline is not None
        results = self.executor.poll(timeout=0) if self._in_flight > len(self._inline_ids) else []
        done = self.inline.poll(timeout=0)
        self._inline_ids.difference_update(r.task_run_id for r in done)
        return [*results, *done]

    @contextmanager
    def _transaction(self) -> Iterator[StepTransaction]:
        """One step's writes: everything pending is written by the recorder at the end."""
        step = StepTransaction(self._steps or self.store)
        try:
            yield step
            if self._pending:
                self.recorder.write(step.uow, self._pending)
        except BaseException:
            self._pending.clear()
            step.close(failed=True)
            raise
        step.close(failed=False)

    def _step(
        self, run: Any, plan: Plan, states: dict[str, _State], results: list[TaskResult]
    ) -> None:
        """Record ``results``, settle what they release, take cache hits and mark what fits
        running, in one transaction; then dispatch."""
        with self._transaction() as step:
            if results:
                self._record(step, run, plan, states, results)
            dispatches = self._progress(step, run, plan, states)
        for executor, dispatch in dispatches:
            executor.submit(dispatch)
        self._in_flight += len(dispatches)

    def _beat(self, run_id: str) -> None:
        """Renew this engine's hold on the run; stop driving it if another process took it
        (a driver after this engine stalled past its heartbeat, or `runs cancel`)."""
        with self.store.transaction() as uow:
            held = uow.runs.update_active_run(run_id, held_by=self.engine_id, heartbeat_at=utcnow())
        if not held:
            raise ExecutorStopped(f"run {run_id} is no longer driven by {self.engine_id}")

    def _index(self, run: Any, plan: Plan, states: dict[str, _State]) -> None:
        """Dependency counters: a node is examined only when its last dependency settles."""
        self._dependents: dict[str, list[str]] = {}
        self._missing: dict[str, int] = {}
        self._children: dict[str, list[_State]] = {}
        self._fresh: list[_State] = []  # ready, cache not looked up yet
        self._waiting: deque[_State] = deque()  # ready and looked up: waiting for room
        self._delayed: list[_State] = []
        self._worklist: list[str] = []
        self._in_flight = 0
        self._by_id = {s.id: s for s in states.values()}
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
            if s.state == TaskState.PENDING and missing == 0:
                self._worklist.append(node_id)
            elif s.state == TaskState.RUNNING and s.node.kind == MAP:
                self._check_map(run, s)
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

    def _cancel_requested(self, run_id: str) -> bool:
        with self.store.read() as uow:
            run = uow.runs.get_run(run_id)
        return bool(run and run.cancel_requested)

    def _set(self, run: Any, s: _State, state: TaskState, **values: Any) -> None:
        """Change a task run's state (in memory now, in the database with the step)."""
        s.state = state
        self._pending.changes.append({"id": s.id, "state": state, **values})
        if self._task_events:
            self._pending.events.append(TaskChanged(run.id, s.id, s.node.id, state, s.attempt))

    # --- settling -----------------------------------------------------------------------------
    def _progress(
        self, step: StepTransaction, run: Any, plan: Plan, states: dict[str, _State]
    ) -> list[tuple[Executor, TaskDispatch]]:
        """Settle every node whose dependencies are done, take cache hits, and choose what to
        dispatch (as many as the executors take)."""
        room = {"executor": self.executor.capacity()}
        if self.inline is not None:
            room["inline"] = self.inline.capacity()
        dispatches: list[tuple[Executor, TaskDispatch]] = []
        while True:
            while self._worklist or self._maps_to_check:
                while self._worklist:
                    s = states[self._worklist.pop()]
                    if s.state != TaskState.PENDING:
                        continue
                    outcome = self._settle(run, s, plan, states)
                    if outcome == "ready":
                        self._fresh.append(s)
                    elif outcome == "expand":
                        self._expand(step, run, plan, states, s)
                    else:
                        self._terminal(s.node.id)
                self._check_maps(run, states)
            now = time.time()
            if self._delayed:
                due = [s for s in self._delayed if s.not_before <= now]
                if due:
                    self._delayed = [s for s in self._delayed if s.not_before > now]
                    self._waiting.extend(due)  # retries: their key was looked up before
            if self._has_ready():
                dispatches.extend(self._prepare(step, run, plan, states, room))
            if not (self._worklist or self._maps_to_check):
                return dispatches

    def _settle(self, run: Any, s: _State, plan: Plan, states: dict[str, _State]) -> str:
        """Decide a pending node whose dependencies are all settled: "ready" (to dispatch),
        "expand" (a map whose list is known) or "settled" (its state is set)."""
        node = s.node
        for guard_node, path, expected in node.guards:
            g = states[guard_node]
            if g.state in TASK_BAD:
                return self._settled(
                    run,
                    s,
                    TaskState.UPSTREAM_FAILED,
                    error=f"condition {guard_node} did not complete",
                )
            if g.state == TaskState.SKIPPED:
                return self._settled(run, s, TaskState.SKIPPED)
            value = self.values.value(self.values.resolve({"r": guard_node, "p": path}, states))
            if bool(value) != expected:
                return self._settled(run, s, TaskState.SKIPPED)
        if node.kind == CHOOSE:
            cond = node.inputs["cond"]
            if "r" in cond:
                c = states[cond["r"]]
                if c.state in TASK_BAD:
                    return self._settled(
                        run, s, TaskState.UPSTREAM_FAILED, error="the condition failed"
                    )
                if c.state == TaskState.SKIPPED:
                    return self._settled(run, s, TaskState.SKIPPED)
            branch = "then" if self.values.value(self.values.resolve(cond, states)) else "else"
            deps = _deps(node.inputs[branch])
            if any(states[d].state in TASK_BAD for d in deps):
                return self._settled(
                    run, s, TaskState.UPSTREAM_FAILED, error="the chosen branch failed"
                )
            if any(states[d].state == TaskState.SKIPPED for d in deps):
                return self._settled(run, s, TaskState.SKIPPED)
            s.output = self.values.resolve(node.inputs[branch], states)
            return self._settled(run, s, TaskState.SUCCEEDED, output=s.output)
        deps = node.deps() - {g[0] for g in node.guards}
        failed = sorted(d for d in deps if states[d].state in TASK_BAD)
        if failed:
            return self._settled(
                run, s, TaskState.UPSTREAM_FAILED, error=f"upstream failed: {', '.join(failed[:3])}"
            )
        if any(states[d].state == TaskState.SKIPPED for d in deps):
            return self._settled(run, s, TaskState.SKIPPED)
        return "expand" if node.kind == MAP else "ready"

    def _settled(self, run: Any, s: _State, state: TaskState, **values: Any) -> str:
        self._set(run, s, state, finished_at=utcnow(), **values)
        return "settled"

    def _expand(
        self, step: StepTransaction, run: Any, plan: Plan, states: dict[str, _State], s: _State
    ) -> None:
        node = s.node
        items = self.values.value(self.values.resolve(node.inputs[node.mapped or ""], states))
        if not isinstance(items, list | tuple):
            self._set(
                run,
                s,
                TaskState.FAILED,
                error=f"{node.id}: map input is {type(items).__name__}, not a list",
                finished_at=utcnow(),
            )
            self._terminal(node.id)
            return
        children = [ValueResolver.child(node, index) for index in range(len(items))]
        rows = [_row(run.id, child, node.id, plan) for child in children]
        uow = step.uow
        uow.runs.insert_task_runs(rows)
        self._set(run, s, TaskState.RUNNING, started_at=utcnow())
        ids = uow.runs.task_run_ids(run.id, [c.id for c in children]) if children else {}
        made = []
        for child, row in zip(children, rows, strict=True):
            plan.nodes[child.id] = child
            state = _State(
                id=ids[child.id],
                node=child,
                state=TaskState.PENDING,
                attempt=0,
                max_attempts=row["max_attempts"],
            )
            states[child.id] = state
            self._by_id[state.id] = state
            self._missing[child.id] = 0
            made.append(state)
        # the worklist is taken from its end: the first child first, so the map's items start
        # in order (the last used to start first; the first waited for a worker the longest)
        self._worklist.extend(c.node.id for c in reversed(made))
        self._children[node.id] = made
        self._maps_to_check.add(node.id)

    def _check_maps(self, run: Any, states: dict[str, _State]) -> None:
        for parent in list(self._maps_to_check):
            self._maps_to_check.discard(parent)
            self._check_map(run, states[parent])

    def _check_map(self, run: Any, parent: _State) -> None:
        """Settle a map once every child is settled."""
        if parent.state != TaskState.RUNNING:
            return
        children = self._children.get(parent.node.id, [])
        if not all(c.state in TASK_TERMINAL for c in children):
            return
        bad = [c.node.id for c in children if c.state in TASK_BAD]
        if bad:
            self._set(
                run,
                parent,
                TaskState.FAILED,
                error=f"{len(bad)} mapped task(s) failed: {', '.join(bad[:3])}",
                finished_at=utcnow(),
            )
        elif any(c.state == TaskState.SKIPPED for c in children):
            self._set(run, parent, TaskState.SKIPPED, finished_at=utcnow())
        else:
            parent.output = {"l": [c.output for c in children]}
            self._set(run, parent, TaskState.SUCCEEDED, output=parent.output, finished_at=utcnow())
        self._terminal(parent.node.id)

    # --- dispatching --------------------------------------------------------------------------
    def _has_ready(self) -> bool:
        return bool(self._fresh or self._waiting)

    def _prepare(
        self,
        step: StepTransaction,
        run: Any,
        plan: Plan,
        states: dict[str, _State],
        room: dict[str, int],
    ) -> list[tuple[Executor, TaskDispatch]]:
        """Compute the cache keys of newly ready tasks, check their reads, take cache hits;
        then mark running what the executors have room for."""
        fresh, self._fresh = self._fresh, []
        for s in fresh:
            if s.inputs is None:
                self._compute_key(s, plan, states)
        allowed: list[_State] = []
        for s in fresh:
            problem = self.gate.check_reads(run, s)
            if problem:
                self._set(run, s, TaskState.FAILED, error=problem, finished_at=utcnow())
                self._terminal(s.node.id)
            else:
                allowed.append(s)
        found = self._lookup(step, run, allowed)
        memo: dict[Any, Any] = {}  # this step's model resolutions and domain checks
        for s in allowed:
            entry = found.pop(s.cache_key, None) if s.cache_key in found else None
            if entry is not None and self._take_hit(step, run, s, entry, memo):
                continue
            if s.state == TaskState.PENDING:
                self._waiting.append(s)
        return self._dispatch(run, plan, room)

    def _dispatch(
        self, run: Any, plan: Plan, room: dict[str, int]
    ) -> list[tuple[Executor, TaskDispatch]]:
        """Mark waiting tasks running while their executor has room (in order)."""
        dispatches: list[tuple[Executor, TaskDispatch]] = []
        held: list[_State] = []
        while self._waiting and any(n > 0 for n in room.values()):
            s = self._waiting.popleft()
            if s.state != TaskState.PENDING:
                continue
            lane = self._lane(plan, s)
            if room.get(lane, 0) <= 0:
                held.append(s)
                continue
            room[lane] -= 1
            executor = self.inline if lane == "inline" else self.executor
            assert executor is not None
            dispatches.append((executor, self._mark_running(run, plan, s)))
            if lane == "inline":
                self._inline_ids.add(s.id)
        self._waiting.extendleft(reversed(held))
        return dispatches

    def _compute_key(self, s: _State, plan: Plan, states: dict[str, _State]) -> None:
        """Resolve a ready task's inputs and compute its cache key (once)."""
        code = plan.code[s.node.code]
        s.inputs = {k: self.values.resolve(b, states) for k, b in s.node.inputs.items()}
        identity = (code.get("task_code") or {}).get(s.node.task)
        s.components = cache_keys.components(
            cache_keys.code_part(code, identity),
            s.node.task,
            s.inputs,
            self.config.task_environment(code, identity),
            s.node.options.get("cache_version", ""),
        )
        readset.extend_components(s.components, s.inputs, s.node.options)  # declared files
        lowering = self.gate.declassifiers_for(code, s.node.task)
        if lowering:
            # a result lowered by a declassifier is only reused while it stays approved
            s.components["declassifiers"] = sorted(d["id"] for d in lowering)
        s.cache_key = cache_keys.cache_key(s.components)

    def _lookup(self, step: StepTransaction, run: Any, fresh: list[_State]) -> dict[str, Any]:
        """The cache entries of newly ready tasks (read in the step's transaction)."""
        keys = [s.cache_key for s in fresh if cacheable(run, s)]
        return step.uow.runs.cache_lookup(keys) if keys else {}

    def _take_hit(
        self, step: StepTransaction, run: Any, s: _State, entry: Any, memo: dict[Any, Any]
    ) -> bool:
        """Reuse a cache entry for ``s`` when its blobs exist, what it read still holds and the
        domain may hold it; True when ``s`` is settled (cached, or failed by the gate)."""
        if not blob_present(self.cas, entry.output):
            self._pending.stale.append(entry.key)
            return False
        # the files it read, its expiry, the registered models it read (same, readable here)
        problems, models = hit_problems(self.config, step.uow, run, entry, s, memo)
        if problems:
            self._stale_notes[s.id] = readset.stale_note(entry, problems)
            self._pending.stale.append(entry.key)
            return False
        problem = self.gate.check_cached(run, s, entry.output)
        if problem:
            self._set(run, s, TaskState.FAILED, error=problem, finished_at=utcnow())
            self._terminal(s.node.id)
            return True
        record_reads(self.config, step.uow, run, s, entry, models)
        self._persist_later(run, s, entry.output)
        s.output = entry.output
        self._pending.hits.append(entry.key)
        now = utcnow()
        self._set(
            run,
            s,
            TaskState.CACHED,
            cache_hit=True,
            cache_key=s.cache_key,
            cache_components=s.components,
            output=entry.output,
            duration_s=entry.duration_s,
            started_at=now,
            finished_at=now,
            read_set=entry.read_set,
        )
        if self._task_events or self.recorder.bus.wants(CacheHit):
            self._pending.events.append(CacheHit(run.id, s.node.id, entry.key))
        if self._tracked:
            self._pending.events.append(
                tracked(
                    run, s, TaskState.CACHED, entry.duration_s, None, self._plan_code, entry.run_id
                )
            )
        self._terminal(s.node.id)
        return True

    def _lane(self, plan: Plan, s: _State) -> str:
        """Where a task runs: "inline" (in this process) only when it asked and may."""
        if self.inline is None or not s.node.options.get("inline"):
            return "executor"
        if plan.code[s.node.code].get("requirements"):
            return "executor"  # it needs its own environment: a worker of that interpreter
        return "inline"

    def _mark_running(self, run: Any, plan: Plan, s: _State) -> TaskDispatch:
        code = plan.code[s.node.code]
        s.attempt += 1
        log_path = f"{self._logs_dir(run.id)}/{_safe(s.node.id)}.{s.attempt}.log"
        s.logs.append({"attempt": s.attempt, "path": log_path})
        self._set(
            run,
            s,
            TaskState.RUNNING,
            attempt=s.attempt,
            cache_key=s.cache_key,
            cache_components=s.components,
            started_at=utcnow(),
            logs=list(s.logs),
            error=None,
        )
        return TaskDispatch(
            run_id=run.id,
            task_run_id=s.id,
            node_id=s.node.id,
            task=s.node.task,
            attempt=s.attempt,
            code=worker_code(self._sent_code, s.node.code, code),
            inputs=s.inputs or {},
            timeout=s.node.options.get("timeout"),
            artifact_url=self.config.artifact_url,
            cache_dir=str(self.config.cache_dir),
            log_path=log_path,
            python=self.config.env_python(code),
            governance=self.gate.for_worker(run, s, code),
            sandbox=self.config.sandbox,
        )

    def _logs_dir(self, run_id: str) -> str:
        cached = getattr(self, "_logs_dir_of", None)
        if cached is None or cached[0] != run_id:
            cached = self._logs_dir_of = (run_id, str(self.config.logs_dir / run_id))
        return cached[1]

    def _persist_later(self, run: Any, s: _State, output: dict[str, Any]) -> None:
        request = self.gate.persist_request(run, s, output)
        if request is not None:
            self._pending.datasets.append(request)

    # --- results ------------------------------------------------------------------------------
    def _record(
        self,
        step: StepTransaction,
        run: Any,
        plan: Plan,
        states: dict[str, _State],
        results: list[TaskResult],
    ) -> None:
        for result in results:
            s = self._by_id.get(result.task_run_id)
            if s is None or s.state != TaskState.RUNNING or s.attempt != result.attempt:
                continue
            self._in_flight -= 1
            duration = (
                (result.finished_at - result.started_at)
                if result.started_at and result.finished_at
                else None
            )
            if s.logs and result.extra.get("log"):
                s.logs[-1]["text"] = result.extra["log"][-20000:]
            read_set = readset.with_note(result.read_set, self._stale_notes.get(s.id))
            if result.ok:
                self._succeeded(run, plan, s, result, duration, read_set)
            else:
                self._unsuccessful(step, run, s, result, duration, read_set)
        self._check_maps(run, states)

    def _succeeded(
        self,
        run: Any,
        plan: Plan,
        s: _State,
        result: TaskResult,
        duration: float | None,
        read_set: dict[str, Any] | None,
    ) -> None:
        s.output = {"v": result.output}
        s.duration_s = duration
        if result.output and result.output.get("schema"):
            self.gate.audit_output(run, s, result.output)
            self._persist_later(run, s, s.output)
        self._set(
            run,
            s,
            TaskState.SUCCEEDED,
            output=s.output,
            duration_s=duration,
            finished_at=utcnow(),
            logs=list(s.logs),
            read_set=read_set,
        )
        if self._tracked:
            self._pending.events.append(
                tracked(run, s, TaskState.SUCCEEDED, duration, result, self._plan_code)
            )
        cache = s.node.options.get("cache", "default") != "off" and s.cache_key
        if cache and readset.cacheable(result.read_set):  # not when its inputs moved under it
            row = cache_entry(run, plan, s, duration)
            row["read_set"] = result.read_set
            self._pending.cache_rows.append(row)
        self._terminal(s.node.id)

    def _unsuccessful(
        self,
        step: StepTransaction,
        run: Any,
        s: _State,
        result: TaskResult,
        duration: float | None,
        read_set: dict[str, Any] | None,
    ) -> None:
        message = result.error or result.status
        if result.status == ResultStatus.DENIED:
            self.gate.decide(run, *denial(run, s, result))
        delay = retry_delay(s, result)
        if delay is not None:
            s.not_before = time.time() + delay
            self._delayed.append(s)
            self._set(
                run,
                s,
                TaskState.PENDING,
                error=f"attempt {s.attempt}: {message}",
                traceback=result.traceback,
                not_before=utcnow() + timedelta(seconds=delay),
                logs=list(s.logs),
            )
            return
        self._set(
            run,
            s,
            TaskState.FAILED,
            error=message,
            traceback=result.traceback,
            duration_s=duration,
            finished_at=utcnow(),
            logs=list(s.logs),
            read_set=read_set,
        )
        if self._tracked:
            self._pending.events.append(
                tracked(run, s, TaskState.FAILED, duration, result, self._plan_code)
            )
        self._terminal(s.node.id)
        if run.fail_fast:
            step.uow.runs.update_run(
                run.id, cancel_requested=True, error=f"{s.node.id} failed (fail-fast)"
            )

    # --- the end ------------------------------------------------------------------------------
    def _cancel(self, run: Any, plan: Plan, states: dict[str, _State]) -> str:
        running = {
            s.id for s in states.values() if s.state == TaskState.RUNNING and s.node.kind == TASK
        }
        self.executor.cancel(running - self._inline_ids)
        if self.inline is not None and self._inline_ids:
            self.inline.cancel(running & self._inline_ids)
        with self._transaction():
            for s in states.values():
                if s.state in (TaskState.PENDING, TaskState.RUNNING):
                    self._set(run, s, TaskState.CANCELLED, finished_at=utcnow())
        with self.store.transaction() as uow:
            current = uow.runs.get_run(run.id)
            final = (
                RunState.FAILED
                if current and current.error and "fail-fast" in current.error
                else RunState.CANCELLED
            )
            return self._end(uow, run.id, final)

    def _finish(self, run_id: str, plan: Plan, states: dict[str, _State]) -> str:
        bad = sorted(s.node.id for s in states.values() if s.state == TaskState.FAILED)
        output = None
        error = None
        if bad:
            state = RunState.FAILED
            first = states[bad[0]]
            error = f"{len(bad)} task(s) failed: {', '.join(bad[:5])}"
            with self.store.read() as uow:
                row = uow.runs.task_runs_of(run_id, [first.node.id])
            if row and row[0].error:
                error += f" — {first.node.id}: {row[0].error}"
        else:
            state = RunState.SUCCEEDED
            try:
                output = self.values.resolve(plan.output, states)
            except (KeyError, IndexError, TypeError):
                output = None
        with self.store.transaction() as uow:
            return self._end(uow, run_id, state, output=output, error=error)

    def _end(self, uow: Any, run_id: str, state: RunState, **values: Any) -> str:
        """Record the run's final state and its event, only if this engine still holds the run.

        A run that `runs cancel` ended while this engine looked dead, or that a driver took
        over after this engine stalled past its heartbeat, stays as the other process left it
        (with its one event); returns the state the run is in."""
        values.update(state=state, finished_at=utcnow(), engine_id=None)
        if uow.runs.update_active_run(run_id, held_by=self.engine_id, **values):
            self.recorder.publish(uow, RunEnded(run_id, state))
            return state
        run = uow.runs.get_run(run_id)
        return run.state if run is not None else state
