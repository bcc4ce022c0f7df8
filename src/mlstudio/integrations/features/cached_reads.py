"""Training sets on a cache hit: whether what a cached task joined still holds for a new run.

A task that builds a training set (``mlstudio.features.training_set``) keeps in its read set
(``features``) the feature references as written, the view versions they resolved to and the
source dataset versions those views read. Its entities are a task input, so they are in its
cache key; what the key cannot name is where the references point now. On a hit the engine asks
:func:`check_cached`, handed to it in its ``EngineConfig`` like the registry's model reads:

- every reference resolves to the same view version, and every source of those versions (a
  dataset, or the inputs of an SQL view) to the same dataset version: new data, or a new
  version of an unpinned view, recomputes the task;
- the new run's user is active and holds viewer or runner on its domain, and that domain may
  read what the join reads (the keys, times and features of a dataset view; every column an
  SQL view's query reads, and each feature's propagated tags), checked on the catalog's
  column metadata without reading data. A refusal is not a hit: the task runs, and the feature
  store refuses it, audited.

An allowed hit is audited as a ``features.read`` naming the run whose result it reuses
(:func:`record`).
"""

from __future__ import annotations

from typing import Any

from mlstudio.errors import MlstudioError
from mlstudio.governance.classification import UNCLASSIFIED, Classification


def check_cached(
    uow: Any,
    actor: str,
    domain: str,
    reads: list[dict[str, Any]],
    memo: dict[Any, Any] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """(why the cached result may not be used, the reads to record when it may)."""
    from mlstudio.integrations.features.offline import select

    memo = {} if memo is None else memo
    problems: list[str] = []
    for read in reads:
        refs = list(read.get("refs") or [])
        was = [v.get("view") for v in read.get("views") or []]
        if not refs:
            problems.append("it built a training set recorded without its references")
            continue
        try:
            selections = select(uow, refs)
        except MlstudioError as exc:
            problems.append(f"features {', '.join(refs)} cannot be resolved ({exc.message})")
            continue
        now = [s.ref for s in selections]
        if now != was:
            problems.append(
                f"features {', '.join(refs)} now resolve to {', '.join(now)}; "
                f"the cached result joined {', '.join(was)}"
            )
            continue
        try:
            sources, violations = _metadata_check(uow, actor, domain, selections, memo)
        except MlstudioError as exc:
            problems.append(
                f"features {', '.join(now)} may not be read in domain {domain}: {exc.message}"
            )
            continue
        if sorted(sources) != sorted(read.get("sources") or []):
            problems.append(
                f"the data of {', '.join(now)} changed ({', '.join(sorted(sources))}; "
                f"the cached result read {', '.join(read.get('sources') or [])})"
            )
            continue
        if violations:
            problems.append(
                f"features {', '.join(now)} may not be read in domain {domain}: "
                f"{violations[0].message}"
            )
    return problems, ([] if problems else list(reads))


def record(
    uow: Any,
    actor: str,
    reads: list[dict[str, Any]],
    *,
    domain: str,
    run_id: str,
    node_id: str,
    cached_from: str | None,
) -> None:
    """Audit the reuse of a cached training set as a read by ``run_id``."""
    for read in reads:
        views = [v.get("view") for v in read.get("views") or []]
        uow.audit.record(
            actor,
            "features.read",
            "feature-view:" + ",".join(str(v) for v in views),
            details={
                "domain": domain,
                "run_id": run_id,
                "node": node_id,
                "sources": list(read.get("sources") or []),
                "cached_from": cached_from,
            },
        )


def _metadata_check(
    uow: Any, actor: str, domain: str, selections: list[Any], memo: dict[Any, Any]
) -> tuple[list[str], list[Any]]:
    """(the dataset versions the views read now, the domain's refusals) from column metadata."""
    from mlstudio.data.catalog import load_policy, require_domain_role
    from mlstudio.integrations.features.offline import READ_ROLES

    key = ("features-domain", actor, domain)
    if key not in memo:
        require_domain_role(uow, actor, domain, READ_ROLES, "read features")
        memo[key] = load_policy(uow, domain)
    policy = memo[key]
    sources: list[str] = []
    violations: list[Any] = []
    for sel in selections:
        found, refused = _view_reads(uow, policy, sel)
        sources += found
        violations += refused
    return sources, violations


def _view_reads(uow: Any, policy: Any, sel: Any) -> tuple[list[str], list[Any]]:
    from mlstudio.data.catalog import classifications, get_dataset, parse_dataset_ref
    from mlstudio.governance.policy import evaluate_read
    from mlstudio.governance.propagation import propagate_sql
    from mlstudio.integrations.features.offline import sql_source_reads, view_columns

    spec = sel.spec
    names = [f for f, _ in sel.features]
    source = spec["source"]

    def record_of(ref: str) -> Any:
        name, version = parse_dataset_ref(ref)
        return get_dataset(uow, name.full, version)

    if "dataset" in source:
        record = record_of(source["dataset"])
        tags = classifications(record.columns)
        used = {c: tags.get(c, UNCLASSIFIED) for c in view_columns(spec, names) if c in tags}
        return [record.ref], evaluate_read(policy, record.full_name, record.domain, used)
    records = {alias: record_of(ref) for alias, ref in source["inputs"].items()}
    inputs = {alias: classifications(r.columns) for alias, r in records.items()}
    violations, _ = sql_source_reads(source["sql"], records, inputs, policy)
    propagated = {c.name: c.classification for c in propagate_sql(source["sql"], inputs)}
    classes: dict[str, Classification] = {f: propagated.get(f, UNCLASSIFIED) for f in names}
    violations += evaluate_read(policy, f"{sel.ref} (sql)", None, classes)
    return sorted(r.ref for r in records.values()), violations
