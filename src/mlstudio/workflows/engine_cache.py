"""The engine's cache helpers: whether a task may use the cache, whether a cached result's
blobs still exist, and the entry a fresh result leaves (pure, apart from ``cas.exists``)."""

from __future__ import annotations

from typing import Any

from mlstudio.core.clock import utcnow
from mlstudio.workflows.engine_state import _State
from mlstudio.workflows.plan import Plan


def cacheable(run: Any, s: _State) -> bool:
    """Whether ``s`` may take a cached result (not ``--no-cache``, not recompute/off)."""
    return not run.no_cache and s.node.options.get("cache", "default") == "default"


def blob_present(cas: Any, spec: dict[str, Any]) -> bool:
    """Whether every artifact a resolved output refers to is still in the content store (each
    is touched: a reuse counts as a write for the garbage collector's grace period)."""
    if "v" in spec:
        ref = spec["v"]
        return "inline" in ref or cas.touch(ref["digest"])  # a reuse is a write for gc
    if "l" in spec:
        return all(blob_present(cas, s) for s in spec["l"])
    if "d" in spec:
        return all(blob_present(cas, s) for s in spec["d"].values())
    return True


def cache_entry(run: Any, plan: Plan, s: _State, duration: float | None) -> dict[str, Any]:
    """The cache row of a task that just succeeded."""
    return {
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
