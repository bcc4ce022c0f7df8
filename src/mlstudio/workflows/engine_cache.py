"""The engine's cache helpers: whether a task may use the cache, whether a cached result's
blobs still exist, the entry a fresh result leaves, and whether the registered models a
cached result read may be read again by the run it would serve (and the record of that read).
"""

from __future__ import annotations

from typing import Any, Protocol

from mlstudio.core.clock import utcnow
from mlstudio.workflows.cache import readset
from mlstudio.workflows.engine_config import EngineConfig
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


class CachedReads(Protocol):
    """Reads a cached result made through the platform, checked again for the run it would
    serve: ``(why not, the reads to record)``."""

    def check_cached(
        self,
        uow: Any,
        actor: str,
        domain: str,
        reads: list[dict[str, Any]],
        memo: dict[Any, Any] | None = None,
    ) -> tuple[list[str], list[Any]]: ...


class ModelReads(CachedReads, Protocol):
    """The registry's side of model reads on a cache hit (``integrations.registry.reads``,
    handed to the engine in its ``EngineConfig``: the engine imports no registry code)."""

    def record(self, uow: Any, actor: str, model: Any, version: Any, **where: Any) -> None: ...


class FeatureReads(CachedReads, Protocol):
    """The feature store's side of training sets on a cache hit
    (``integrations.features.cached_reads``, handed over like :class:`ModelReads`)."""

    def record(self, uow: Any, actor: str, reads: list[Any], **where: Any) -> None: ...


NO_REGISTRY = "it read registered models, and this engine has no registry to check them against"
NO_FEATURES = "it built a training set, and this engine has no feature store to check it against"


def hit_problems(
    config: EngineConfig,
    uow: Any,
    run: Any,
    entry: Any,
    s: _State,
    memo: dict[Any, Any],
) -> tuple[list[str], list[Any]]:
    """(why ``entry`` may not serve ``s`` of ``run``, the model reads to record when it may),
    with ``config``'s checkers (an ``EngineConfig``: ``model_reads``, ``feature_reads``):
    the files it read and its expiry (``readset.check_entry``), then the registered models it
    read: each uri is resolved again (a moved alias: stale) and the registry's check runs for
    the run's domain and user (refused: not served; the task then runs and the registry
    refuses it, audited), then the training sets it built (``features``: the same views on
    the same data, readable here). ``memo``: one step's, so one query per distinct uri."""
    checker: ModelReads | None = config.model_reads
    features: FeatureReads | None = config.feature_reads
    problems = readset.check_entry(entry, s.node.options)
    if problems:
        return problems, []
    built = readset.feature_reads(entry.read_set)
    if built:
        if features is None:  # fail closed
            return [NO_FEATURES], []
        problems, _ = features.check_cached(uow, run.created_by, run.domain, built, memo)
        if problems:
            return problems, []
    reads = readset.model_reads(entry.read_set)
    if not reads:
        return [], []
    if checker is None:  # fail closed
        return [NO_REGISTRY], []
    return checker.check_cached(uow, run.created_by, run.domain, reads, memo)


def record_reads(
    config: EngineConfig, uow: Any, run: Any, s: _State, entry: Any, allowed: list[Any]
) -> None:
    """Record the platform reads of a cache hit as reads by ``run``, naming the run whose
    result it reuses: the model reads ``allowed`` (lineage and audit, as ``registry.load``
    records them) and the training sets it built (audited as feature reads)."""
    models: ModelReads | None = config.model_reads
    features: FeatureReads | None = config.feature_reads
    where = {"domain": run.domain, "run_id": run.id, "node_id": s.node.id}
    if models is not None:
        for model, version, ref in allowed:
            models.record(
                uow, run.created_by, model, version, ref=ref, **where, cached_from=entry.run_id
            )
    built = readset.feature_reads(entry.read_set)
    if features is not None and built:
        features.record(uow, run.created_by, built, **where, cached_from=entry.run_id)
