"""Who may manage a model and who may approve its versions (the registry's RBAC rules)."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import PermissionDeniedError
from mlstudio.governance.rbac import NAMESPACE_WRITE, Authorizer


def _may_manage(auth: Authorizer, actor: str, model: dict[str, Any]) -> bool:
    if auth.is_admin(actor):
        return True
    if not auth.is_active(actor):
        return False
    if model["owner"] == actor:
        return True
    namespace = model["namespace"]
    return bool(namespace) and auth.has_namespace_role(actor, namespace, NAMESPACE_WRITE)


def require_manage(auth: Authorizer, actor: str, model: dict[str, Any], action: str) -> None:
    auth.require_active(actor, action)
    if not _may_manage(auth, actor, model):
        who = f"its owner {model['owner']}"
        if model["namespace"]:
            who += f", an owner or maintainer of namespace {model['namespace']}"
        raise PermissionDeniedError(
            f"{actor} may not {action} of model {model['name']}: it needs {who}, or an admin",
            hint=f"ask {model['owner']} or an admin",
        )


def require_approver(
    auth: Authorizer, actor: str, model: dict[str, Any], version: dict[str, Any], verb: str
) -> None:
    auth.require_active(actor, f"{verb} model versions")
    authors = {version["created_by"], (version["lineage"] or {}).get("trained_by")}
    if actor in authors:
        raise PermissionDeniedError(
            f"{actor} may not {verb} {model['name']}/{version['version']}: "
            "a version is approved by someone other than its author",
            hint="ask another owner, maintainer, steward or admin to review it",
        )
    if not (_may_manage(auth, actor, model) or auth.is_steward(actor)):
        raise PermissionDeniedError(
            f"{actor} may not {verb} {model['name']}/{version['version']}: it needs the "
            "model's owner, a maintainer of its namespace, a steward or an admin",
            hint=f"ask {model['owner']} or a steward",
        )
