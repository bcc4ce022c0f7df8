"""Model reads: the registry's check of one load and its record, shared by
:meth:`RegistryService.load <mlstudio.integrations.registry.service.RegistryService.load>` and by
the engine's cache hits (a cached result that read a model reads that model again).

- :func:`authorize_domain` and :func:`enforce_classification`: the check of a load (the actor
  is active and holds viewer or runner on the domain, which may read the version's inherited
  classification); refusals raise ``PermissionDeniedError`` / ``PolicyViolationError``;
- :func:`record`: the read lineage row (``model show NAME`` "reads") and its audit record;
- :func:`resolve_current`: which version a reference names now, in one query;
- :func:`check_cached`: whether the model reads in a cache entry's read set still hold for a
  new run (same version and digest, and the run's domain and user may read it).
"""

from __future__ import annotations

from typing import Any

from mlstudio.errors import MlstudioError
from mlstudio.integrations.registry.names import ModelRef

LOAD = "load models"


def authorize_domain(uow: Any, actor: str, domain: str) -> Any:
    """The domain's policy, once ``actor`` is active and may load models in ``domain``."""
    from mlstudio.data.catalog import load_policy
    from mlstudio.governance.rbac import DOMAIN_VIEW, Authorizer

    auth = Authorizer(uow.identity)
    auth.require_active(actor, LOAD)
    policy = load_policy(uow, domain)
    auth.require_domain(actor, domain, DOMAIN_VIEW, LOAD)
    return policy


def enforce_classification(policy: Any, name: str, version: dict[str, Any]) -> None:
    """Refuse (``PolicyViolationError``) when ``policy`` may not read the version's tags."""
    from mlstudio.governance.classification import UNCLASSIFIED, Classification
    from mlstudio.governance.policy import enforce, evaluate_read

    data = version["classification"]
    tags = Classification.from_dict(data) if data is not None else UNCLASSIFIED
    enforce(evaluate_read(policy, f"model {name}/{version['version']}", None, {"*": tags}))


def record(
    uow: Any,
    actor: str,
    model: dict[str, Any],
    version: dict[str, Any],
    *,
    ref: str,
    domain: str,
    run_id: str | None,
    node_id: str | None,
    cached_from: str | None = None,
) -> None:
    """Record a read of ``version``: its lineage row and an allowed ``model.load`` audit record
    (``cached_from``: the run whose cached result the read reuses)."""
    from mlstudio.integrations.registry.views import classification_spec

    uow.registry.record_read(
        {
            "model_id": model["id"],
            "version": version["version"],
            "actor": actor,
            "domain": domain,
            "run_id": run_id,
            "node_id": node_id,
        }
    )
    details: dict[str, Any] = {
        "ref": ref,
        "domain": domain,
        "run_id": run_id,
        "node": node_id,
        "classification": classification_spec(version),
    }
    if cached_from is not None:
        details["cached_from"] = cached_from
    uow.audit.record(
        actor, "model.load", f"model:{model['name']}/{version['version']}", details=details
    )


def resolve_current(uow: Any, ref: ModelRef) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(model ``{"id", "name"}``, version row) that ``ref`` names now, in one query; None when
    it names nothing (the model, its alias or the version is gone)."""
    from sqlalchemy import and_, select

    from mlstudio.store.metadata.tables import (
        model_aliases,
        registered_model_versions,
        registered_models,
    )

    m, v, a = registered_models, registered_model_versions, model_aliases
    if ref.alias is not None:
        joined = m.join(a, and_(a.c.model_id == m.c.id, a.c.alias == ref.alias)).join(
            v, and_(v.c.model_id == m.c.id, v.c.version == a.c.version)
        )
    else:
        number = ref.version if ref.version is not None else m.c.latest_version
        joined = m.join(v, and_(v.c.model_id == m.c.id, v.c.version == number))
    query = select(m.c.name.label("model_name"), v).select_from(joined).where(m.c.name == ref.name)
    row = uow.conn.execute(query).first()
    if row is None:
        return None
    version = dict(row._mapping)
    name = version.pop("model_name")
    return {"id": version["model_id"], "name": name}, version


def check_cached(
    uow: Any,
    actor: str,
    domain: str,
    reads: list[dict[str, Any]],
    memo: dict[Any, Any] | None = None,
) -> tuple[list[str], list[tuple[dict[str, Any], dict[str, Any], str]]]:
    """(why the cached result may not be used, the reads to record when it is) for model reads
    ``reads`` (read set entries: ``uri``, ``name``, ``version``, ``digest``) by a new run of
    ``actor`` in ``domain``. ``memo`` (one engine step's) keeps resolutions and the domain
    check, so a fan-out of hits costs one query per distinct uri."""
    memo = {} if memo is None else memo
    problems: list[str] = []
    allowed: list[tuple[dict[str, Any], dict[str, Any], str]] = []
    for entry in reads:
        uri = entry.get("uri", "")
        was = f"{entry.get('name')}/{entry.get('version')}"
        try:
            ref = ModelRef.parse(uri)
            key = ("resolve", uri)
            if key not in memo:
                memo[key] = resolve_current(uow, ref)
            found = memo[key]
        except MlstudioError as exc:
            problems.append(f"model {uri} cannot be resolved ({exc.message})")
            continue
        if found is None:
            problems.append(f"model {uri} no longer resolves (the cached result read {was})")
            continue
        model, version = found
        now = f"{model['name']}/{version['version']}"
        if now != was or version["digest"] != entry.get("digest"):
            changed = "" if now != was else f" (its digest changed: {version['digest'][:12]})"
            problems.append(
                f"model {uri} now resolves to {now}{changed}; the cached result read {was}"
            )
            continue
        try:
            policy_key = ("domain", actor, domain)
            if policy_key not in memo:
                memo[policy_key] = authorize_domain(uow, actor, domain)
            enforce_classification(memo[policy_key], model["name"], version)
        except MlstudioError as exc:
            problems.append(
                f"model {uri} ({now}) may not be read in domain {domain}: {exc.message}"
            )
            continue
        allowed.append((model, version, str(ref)))
    return problems, allowed
