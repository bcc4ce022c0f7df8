"""Execution domains and their policies; namespaces, their roles and their quotas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlstudio.app.local.base import Area

DOMAIN_LISTS = ("readable_labels", "denied_labels", "readable_domains")
DOMAIN_FIELDS = (
    "clearance",
    *DOMAIN_LISTS,
    "may_persist",
    "promoted_only",
    "pseudonymous_readable",
    "description",
)

if TYPE_CHECKING:
    from mlstudio.app.views import (
        DomainRemovalView,
        DomainView,
        NamespaceGrantView,
        NamespaceView,
        QuotaView,
    )


class LocalDomains(Area):
    def list(self) -> list[DomainView]:
        return [d.to_dict() for d in self.platform.domains.list()]  # type: ignore[misc]

    def show(self, name: str) -> DomainView:
        domains = self.platform.domains
        policy = domains.get(name).to_dict()
        members = [
            {"user": g.user, "role": g.role, "granted_by": g.granted_by}
            for g in domains.members(name)
        ]
        return {**policy, "members": members}  # type: ignore[typeddict-item]

    def set(self, name: str, **changes: Any) -> DomainView:
        """Change the given fields of existing domain ``name``'s policy (admins); lists take
        None for all and [] for none; a field left out stays as it is."""
        return self.platform.domains.set(self.actor, name, **_fields(changes)).to_dict()  # type: ignore[return-value]

    def create(self, name: str, **policy: Any) -> DomainView:
        """A new domain (admins): closed by default, with the given fields opened."""
        return self.platform.domains.create(self.actor, name, **_fields(policy)).to_dict()  # type: ignore[return-value]

    def remove(self, name: str) -> DomainRemovalView:
        return self.platform.domains.remove(self.actor, name)  # type: ignore[return-value]


def _fields(changes: dict[str, Any]) -> dict[str, Any]:
    """Every policy field for the service: the given ones, the others left unchanged."""
    from mlstudio.errors import InvalidInputError
    from mlstudio.governance.domains import UNCHANGED

    unknown = sorted(set(changes) - set(DOMAIN_FIELDS))
    if unknown:
        raise InvalidInputError(
            f"unknown domain setting {unknown[0]!r}", hint=f"use: {', '.join(DOMAIN_FIELDS)}"
        )
    return {
        key: changes.get(key, UNCHANGED if key in DOMAIN_LISTS else None) for key in DOMAIN_FIELDS
    }


class LocalNamespaces(Area):
    def list(self) -> list[NamespaceView]:
        return self.platform.modules.list_namespaces()  # type: ignore[return-value]

    def create(self, name: str, owner: str | None = None, description: str = "") -> NamespaceView:
        record = self.platform.modules.create_namespace(self.actor, name, owner, description)
        return {**record.to_dict(), "owner": owner or self.actor}  # type: ignore[typeddict-item]

    def grant(self, namespace: str, user: str, role: str) -> NamespaceGrantView:
        added = self.platform.modules.grant_namespace(self.actor, namespace, user, role)
        return {"namespace": namespace, "user": user, "role": role, "added": added}

    def quota(self, namespace: str) -> QuotaView:
        return self.platform.modules.namespace_quota(namespace)  # type: ignore[return-value]

    def set_quota(self, namespace: str, **changes: int | None) -> QuotaView:
        return self.platform.modules.set_namespace_quota(self.actor, namespace, **changes)  # type: ignore[return-value]
