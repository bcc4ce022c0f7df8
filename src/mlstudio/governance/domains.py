"""Domains: list, inspect and change the policies that bound what runs may read and write.

The built-in domains (experimentation, production, adhoc) are seeded by the schema migration.
Admins change them, or create more, with :meth:`DomainService.set`; every change is audited as
``domain.set`` with the policy before and after.

A domain created by ``set`` starts from :data:`NEW_DOMAIN_DEFAULTS`, the most restrictive policy
(default deny, like everything else in governance): clearance ``public``, no labelled columns,
only its own datasets, outputs not persisted, and only promoted module versions. The admin opens
what the domain needs in the same command, e.g.
``mlstudio domain set staging --clearance internal --persist --no-promoted-only``.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import EllipsisType
from typing import Any

from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.governance.audit import guarded
from mlstudio.governance.classification import Level
from mlstudio.governance.policy import DomainPolicy, validate_domain
from mlstudio.governance.rbac import Authorizer
from mlstudio.governance.records import GrantRecord
from mlstudio.store.metadata.store import MetadataStore

UNCHANGED: EllipsisType = ...
"""Default of the list-valued options of :meth:`DomainService.set`: keep the current value
(``None`` there means "all", so it cannot mean "unchanged")."""

NEW_DOMAIN_DEFAULTS: dict[str, Any] = {
    "clearance": "public",
    "readable_labels": [],
    "denied_labels": [],
    "pseudonymous_readable": False,
    "readable_domains": [],
    "may_persist": False,
    "promoted_only": True,
    "description": "",
}


def load_policy(uow: Any, name: str) -> DomainPolicy:
    """The policy of domain ``name`` in this unit of work, or :class:`NotFoundError`."""
    data = uow.domains.get(name)
    if data is None:
        raise _not_found(uow, name)
    return DomainPolicy.from_dict(data)


def _not_found(uow: Any, name: str) -> NotFoundError:
    known = ", ".join(p["name"] for p in uow.domains.list()) or "none"
    return NotFoundError(
        f"domain {name} does not exist (known domains: {known})",
        hint=f"pick a known domain, or have an admin create it: mlstudio domain set {name}",
    )


class DomainService:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def list(self) -> list[DomainPolicy]:
        with self.store.read() as uow:
            return [DomainPolicy.from_dict(p) for p in uow.domains.list()]

    def get(self, name: str) -> DomainPolicy:
        validate_domain(name)
        with self.store.read() as uow:
            return load_policy(uow, name)

    def members(self, name: str) -> list[GrantRecord]:
        """The domain's role grants (runner, viewer); admins hold every role implicitly."""
        validate_domain(name)
        with self.store.read() as uow:
            load_policy(uow, name)
            return uow.identity.grants_on("domain", name)

    def set(
        self,
        actor: str,
        name: str,
        *,
        clearance: str | Level | None = None,
        readable_labels: Iterable[str] | EllipsisType | None = UNCHANGED,
        denied_labels: Iterable[str] | EllipsisType | None = UNCHANGED,
        readable_domains: Iterable[str] | EllipsisType | None = UNCHANGED,
        may_persist: bool | None = None,
        promoted_only: bool | None = None,
        description: str | None = None,
        pseudonymous_readable: bool | None = None,
    ) -> DomainPolicy:
        """Change (or create) domain ``name``'s policy; admins only.

        ``None`` / :data:`UNCHANGED` keep a field. ``readable_labels`` and ``readable_domains``
        take ``None`` for "all" and an empty list for "none" (a domain always reads its own
        datasets); ``denied_labels=None`` clears the deny list. Domains in ``readable_domains``
        must exist.
        """
        validate_domain(name)
        changes: dict[str, Any] = {}
        if clearance is not None:
            changes["clearance"] = str(Level.parse(clearance))
        for key, value in (
            ("readable_labels", readable_labels),
            ("denied_labels", denied_labels),
            ("readable_domains", readable_domains),
        ):
            if value is UNCHANGED:
                continue
            if value is None:
                changes[key] = [] if key == "denied_labels" else None
            elif isinstance(value, str) or not isinstance(value, Iterable):
                raise InvalidInputError(f"{key} must be a list of names or None, got {value!r}")
            else:
                changes[key] = sorted(set(value))
        for key, flag in (
            ("may_persist", may_persist),
            ("promoted_only", promoted_only),
            ("pseudonymous_readable", pseudonymous_readable),
        ):
            if flag is not None:
                if not isinstance(flag, bool):
                    raise InvalidInputError(f"{key} must be true or false, got {flag!r}")
                changes[key] = flag
        if description is not None:
            changes["description"] = description
        # validate levels, labels and names before touching the database
        DomainPolicy.from_dict({"name": name, **NEW_DOMAIN_DEFAULTS, **changes})

        def work(uow: Any) -> DomainPolicy:
            Authorizer(uow.identity).require_admin(actor, f"change domain {name}")
            before = uow.domains.get(name)
            base = dict(before) if before is not None else {"name": name, **NEW_DOMAIN_DEFAULTS}
            policy = DomainPolicy.from_dict({**base, **changes, "name": name})
            if policy.readable_domains:
                missing = sorted(
                    d for d in policy.readable_domains if d != name and uow.domains.get(d) is None
                )
                if missing:
                    known = ", ".join(p["name"] for p in uow.domains.list())
                    raise NotFoundError(
                        f"domain {name} cannot read unknown domain(s) {', '.join(missing)} "
                        f"(known domains: {known})",
                        hint="create them first, or fix the --readable-domains list",
                    )
            after = policy.to_dict()
            previous = DomainPolicy.from_dict(before).to_dict() if before is not None else None
            if previous == after:
                return policy  # nothing to change, nothing to audit
            uow.domains.put(name, after, actor)
            changed = sorted(
                k for k in after if previous is None or previous.get(k) != after.get(k)
            )
            uow.audit.record(
                actor,
                "domain.set",
                f"domain:{name}",
                details={
                    "created": before is None,
                    "changed": changed,
                    "before": previous,
                    "after": after,
                },
            )
            return policy

        return guarded(self.store, actor, "domain.set", f"domain:{name}", work)


def with_defaults(name: str) -> DomainPolicy:
    """The policy a new domain ``name`` starts from (see :data:`NEW_DOMAIN_DEFAULTS`)."""
    return DomainPolicy.from_dict({"name": name, **NEW_DOMAIN_DEFAULTS})


# --- run authorization (called by Platform.authorize_run / authorize_view) ------------------------
RUN_ROLES = ("runner",)
VIEW_ROLES = ("viewer", "runner")
PROMOTED_TAG = "latest"


def check_run(uow: Any, actor: str, domain: str, plan: Any = None) -> DomainPolicy:
    """Refuse unless ``actor`` may start or control runs in ``domain`` (and run ``plan`` there).

    The domain must exist; the actor must be registered, enabled, and hold ``runner`` on the
    domain (admins bypass the role check). When the domain runs only promoted code and a plan is
    given, every module version in it must be the one tagged ``latest``, with passing tests; that
    rule binds admins too.
    """
    validate_domain(domain)
    policy = load_policy(uow, domain)
    Authorizer(uow.identity).require_domain(actor, domain, RUN_ROLES, "run workflows")
    if policy.promoted_only and plan is not None:
        check_promoted(uow, policy, plan)
    return policy


def check_view(uow: Any, actor: str, domain: str) -> DomainPolicy:
    """Refuse unless ``actor`` may read runs' outputs and logs in ``domain`` (viewer/runner)."""
    validate_domain(domain)
    policy = load_policy(uow, domain)
    Authorizer(uow.identity).require_domain(actor, domain, VIEW_ROLES, "view runs")
    return policy


def check_promoted(uow: Any, policy: DomainPolicy, plan: Any) -> None:
    """Every code entry of ``plan`` must be a pushed, ``latest``-tagged, tested version."""
    from mlstudio.core.ids import ModuleName
    from mlstudio.errors import PolicyViolationError

    code = plan.get("code", {}) if isinstance(plan, dict) else getattr(plan, "code", {})
    problems: list[dict[str, Any]] = []
    rule = f"policy {policy.name}.promoted_only"
    for alias in sorted(code):
        ref = code[alias]
        module = ref.get("module")
        version = ref.get("version")
        shown = module or ref.get("path") or alias

        def refuse(why: str, hint: str, *, module: Any = module, version: Any = version) -> None:
            problems.append(
                {
                    "module": module,
                    "version": version,
                    "message": f"domain {policy.name} runs only promoted module versions: "
                    f"{why} ({rule})",
                    "hint": hint,
                }
            )

        if version is None or not module:
            refuse(
                f"{shown} is a working copy",
                f"push and promote it (mlstudio module push DIR, then mlstudio module promote "
                f"{module or 'NS/NAME'} VERSION), and run the pushed module",
            )
            continue
        record = uow.modules.get_module(str(ModuleName.parse(module)))
        found = uow.modules.get_version(record, int(version)) if record else None
        if found is None:
            refuse(
                f"{module}@{version} is not a pushed version",
                f"push it: mlstudio module push DIR, then mlstudio module promote {module} N",
            )
            continue
        if ref.get("digest") and ref["digest"] != found.digest:
            refuse(
                f"{module}@{version} in the plan does not match the registry's digest",
                f"re-plan the run against the registry: run {module}:{PROMOTED_TAG}",
            )
            continue
        tag = uow.modules.get_tag(record, PROMOTED_TAG)
        if tag is None or tag.version != found.version:
            current = f"{PROMOTED_TAG} is @{tag.version}" if tag else f"it has no {PROMOTED_TAG}"
            refuse(
                f"{module}@{version} is not promoted ({current})",
                f"promote it: mlstudio module promote {module} {version}, "
                f"or run {module}:{PROMOTED_TAG}",
            )
            continue
        if not found.tests_passed:
            refuse(
                f"{module}@{version} is tagged {PROMOTED_TAG} but its tests did not pass",
                f"push a version whose tests pass and promote it: mlstudio module promote "
                f"{module} N",
            )
    if problems:
        first = problems[0]
        more = len(problems) - 1
        message = first["message"] + (f" (and {more} more)" if more else "")
        raise PolicyViolationError(message, hint=first["hint"], details=problems)
