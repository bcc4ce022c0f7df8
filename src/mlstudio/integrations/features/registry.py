"""Feature view versions: registered when a module is pushed, immutable, pinned by consumers.

A view ``NS/NAME`` belongs to the namespace of the module that defines it (one module per
view). Pushing a module whose view spec differs from the view's newest version adds the next
version; an unchanged spec adds nothing. A version is never edited, so a consumer that pinned
``NS/NAME@2`` gets the same definition however the view changes later.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from mlstudio.core.clock import iso
from mlstudio.errors import ConflictError, InvalidInputError, InvalidNameError, NotFoundError
from mlstudio.integrations.features.definitions import Entity, FeatureView, spec_digest

if TYPE_CHECKING:
    from mlstudio.modules.records import ModuleVersionRecord
    from mlstudio.store.metadata.store import UnitOfWork

_REF = re.compile(r"^([a-z][a-z0-9_-]{0,62})/([a-z_][a-z0-9_]{0,62})(?:@(\d{1,9}))?$")
_SPEC_KEYS = ("file", "attr")


def parse_view_ref(text: str) -> tuple[str, int | None]:
    """``NS/VIEW`` or ``NS/VIEW@V`` -> (full name, version or None)."""
    match = _REF.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InvalidNameError(
            f"invalid feature view reference {text!r}", hint="use NS/VIEW or NS/VIEW@VERSION"
        )
    namespace, name, version = match.groups()
    return f"{namespace}/{name}", int(version) if version else None


def checked_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the view from its spec (the same validation as in the module) -> clean spec."""
    try:
        entity = spec["entity"]
        source = spec["source"]
        view = FeatureView(
            spec["name"],
            entity=Entity(
                entity["name"],
                [tuple(k) for k in entity["join_keys"]],
                description=entity.get("description") or "",
            ),
            features=[tuple(f) for f in spec["features"]],
            event_time=spec["event_time"],
            knowledge_time=spec.get("knowledge_time"),
            max_age=spec.get("max_age_s"),
            source=source.get("dataset"),
            sql=source.get("sql"),
            inputs=source.get("inputs"),
            owner=spec.get("owner"),
            description=spec.get("description") or "",
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(
            f"malformed feature view spec ({exc})", hint="define views with FeatureView(...)"
        ) from exc
    return view.describe()


def register_views(
    uow: UnitOfWork, actor: str, module: ModuleVersionRecord, views: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Register the views of a pushed module version (in the push's transaction)."""
    namespace = module.module.split("/")[0]
    out = []
    for raw in views:
        spec = checked_spec({k: v for k, v in raw.items() if k not in _SPEC_KEYS})
        full = f"{namespace}/{spec['name']}"
        digest = spec_digest(spec)
        latest = uow.features.latest(full)
        if latest is not None and latest["module"] != module.module:
            raise ConflictError(
                f"feature view {full} is defined by module {latest['module']}, not {module.module}",
                hint="rename the view, or define it in one module only",
            )
        if latest is not None and latest["digest"] == digest:
            out.append({"view": full, "version": latest["version"], "changed": False})
            continue
        row = uow.features.add_version(
            {
                "full_name": full,
                "namespace": namespace,
                "digest": digest,
                "spec": spec,
                "module": module.module,
                "module_version": module.version,
                "created_by": actor,
            }
        )
        uow.audit.record(
            actor,
            "feature.register",
            f"feature-view:{full}@{row['version']}",
            details={"digest": digest, "module": module.ref},
        )
        out.append({"view": full, "version": row["version"], "changed": True})
    return out


def resolve(uow: UnitOfWork, ref: str) -> dict[str, Any]:
    """The row of ``NS/VIEW@V`` (the newest version without ``@V``)."""
    full, version = parse_view_ref(ref)
    row = uow.features.latest(full) if version is None else uow.features.get(full, version)
    if row is not None:
        return row
    versions = uow.features.versions(full)
    if not versions:
        raise NotFoundError(
            f"feature view {full} does not exist",
            hint="define it in a module and push it (see: mlstudio features list)",
        )
    raise NotFoundError(
        f"{full}@{version} does not exist ({full} has versions {versions[0]}..{versions[-1]})",
        hint=f"see: mlstudio features show {full}",
    )


def describe(row: dict[str, Any]) -> dict[str, Any]:
    spec = row["spec"]
    return {
        "name": row["full_name"],
        "version": row["version"],
        "ref": f"{row['full_name']}@{row['version']}",
        "digest": row["digest"],
        "module": f"{row['module']}@{row['module_version']}",
        "entity": spec["entity"]["name"],
        "join_keys": spec["entity"]["join_keys"],
        "features": spec["features"],
        "event_time": spec["event_time"],
        "knowledge_time": spec.get("knowledge_time"),
        "max_age_s": spec.get("max_age_s"),
        "source": spec["source"],
        "owner": spec.get("owner") or row["created_by"],
        "description": spec.get("description") or "",
        "created_by": row["created_by"],
        "created_at": iso(row["created_at"]),
    }


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from view version ``a`` to ``b`` (both :func:`describe` views)."""
    fa, fb = dict(map(tuple, a["features"])), dict(map(tuple, b["features"]))
    fields = (
        "join_keys",
        "event_time",
        "knowledge_time",
        "max_age_s",
        "source",
        "owner",
        "description",
        "entity",
    )
    changed = {f: {"from": a[f], "to": b[f]} for f in fields if a[f] != b[f]}
    return {
        "from": a["ref"],
        "to": b["ref"],
        "features_added": sorted(set(fb) - set(fa)),
        "features_removed": sorted(set(fa) - set(fb)),
        "features_retyped": {
            f: {"from": fa[f], "to": fb[f]} for f in sorted(set(fa) & set(fb)) if fa[f] != fb[f]
        },
        "changed": changed,
        "same": a["digest"] == b["digest"],
    }
