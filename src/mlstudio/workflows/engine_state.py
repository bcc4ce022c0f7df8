"""What the engine keeps per task run, and how task-run rows are made (pure helpers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mlstudio.workflows.plan import CHOOSE, Node, Plan


def _safe(node_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node_id)


@dataclass
class _State:
    """In-memory mirror of one task run row."""

    id: int
    node: Node
    state: str
    attempt: int
    max_attempts: int
    output: dict[str, Any] | None = None
    not_before: float = 0.0
    cache_key: str | None = None
    components: dict[str, Any] | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float | None = None
    inputs: dict[str, Any] | None = None
    looked_up: bool = False
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
