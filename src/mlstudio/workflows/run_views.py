"""How ``runs show`` presents a run's task runs: state, cache, reads, and what a timeline or a
graph needs (start and end times, the nodes each one depends on)."""

from __future__ import annotations

from typing import Any

from mlstudio.workflows.cache import readset


def plan_dependencies(plan: dict[str, Any] | None) -> dict[str, list[str]]:
    """Node id -> the node ids it depends on, from a run's stored plan."""
    from mlstudio.workflows.plan import Node

    nodes = (plan or {}).get("nodes") or []
    return {n["id"]: sorted(Node.from_json(n).deps()) for n in nodes}


def task_view(t: Any, deps: dict[str, list[str]], explanations: dict[str, Any]) -> dict[str, Any]:
    kind = "map" if t.node_id.endswith("[*]") else "when" if t.task == "(when)" else "task"
    item: dict[str, Any] = {
        "node": t.node_id,
        "kind": kind,
        "task": t.task,
        "state": t.state,
        "attempt": t.attempt,
        "cache_hit": t.cache_hit,
        "cache_key": t.cache_key,
        "duration_s": t.duration_s,
        "error": t.error,
        "started_at": t.started_at.isoformat() if t.started_at else None,
        "finished_at": t.finished_at.isoformat() if t.finished_at else None,
        # a mapped item depends on what its map node depends on
        "deps": deps.get(t.node_id, deps.get(t.parent_node or "", [])),
    }
    reads = readset.summary(t.read_set)
    if reads:
        item["reads"] = reads
    if t.node_id in explanations:
        item["explain"] = explanations[t.node_id]
    return item
