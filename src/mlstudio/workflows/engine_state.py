"""What the engine keeps per task run, how task-run rows are made, and the transaction of one
engine step."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

from mlstudio.core.states import TaskState
from mlstudio.workflows.plan import CHOOSE, TASK, Node, Plan
from mlstudio.workflows.records import TaskRunRecord


def _safe(node_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node_id)


@dataclass
class _State:
    """In-memory mirror of one task run row."""

    id: int
    node: Node
    state: TaskState
    attempt: int
    max_attempts: int
    output: dict[str, Any] | None = None
    not_before: float = 0.0
    cache_key: str | None = None
    components: dict[str, Any] | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float | None = None
    inputs: dict[str, Any] | None = None
    reads: dict[str, list[str]] | None = None


def _deps(binding: dict[str, Any]) -> set[str]:
    from mlstudio.workflows.plan import binding_deps

    return binding_deps(binding, set())


def _parent_of(node_id: str) -> str | None:
    if node_id.endswith("]") and "[" in node_id:
        return node_id.rsplit("[", 1)[0] + "[*]"
    return None


def _row(run_id: str, node: Node, parent: str | None, plan: Plan) -> dict[str, Any]:
    code = plan.code.get(node.code, {})
    return {
        "run_id": run_id,
        "node_id": node.id,
        "task": node.task or ("(when)" if node.kind == CHOOSE else ""),
        "module": code.get("module"),
        "state": "pending",
        "attempt": 0,
        "max_attempts": int(node.options.get("retries", 0)) + 1,
        "cache_hit": False,
        "parent_node": parent,
    }


def initial_rows(run_id: str, plan: Plan) -> list[dict[str, Any]]:
    return [_row(run_id, node, None, plan) for node in plan.nodes.values()]


def state_from_row(row: TaskRunRecord, node: Node) -> _State:
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


def worker_code(
    sent: dict[str, tuple[dict[str, Any], dict[str, Any]]], ref: str, code: dict[str, Any]
) -> dict[str, Any]:
    """The code entry ``ref`` a worker is handed (made once per entry, kept in ``sent``):
    without every task's code identity (``task_code``: only the cache key reads it; a worker
    needs the digest, archive and entrypoints), so a dispatch of a task of a module of many
    tasks does not carry all of theirs."""
    entry = sent.get(ref)
    if entry is None or entry[0] is not code:
        entry = sent[ref] = (code, {k: v for k, v in code.items() if k != "task_code"})
    return entry[1]


def snapshot(states: dict[str, _State], elapsed: float) -> dict[str, Any]:
    """Task counts by state, for progress displays."""
    counts: dict[str, int] = {}
    for s in states.values():
        if s.node.kind != TASK:
            continue
        counts[s.state] = counts.get(s.state, 0) + 1
    return {"counts": counts, "elapsed_s": elapsed, "total": sum(counts.values())}


class StepTransaction:
    """The transaction of one engine step, opened only when the step needs the database."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._context: Any = None
        self._uow: Any = None

    @property
    def uow(self) -> Any:
        if self._uow is None:
            self._context = self._store.transaction()
            self._uow = self._context.__enter__()
        return self._uow

    def close(self, failed: bool) -> None:
        if self._context is not None:
            context, self._context, self._uow = self._context, None, None
            if failed:
                context.__exit__(*sys.exc_info())
            else:
                context.__exit__(None, None, None)
