"""Domains: list, inspect and change the policies that bound what runs may read and write.

The built-in domains (experimentation, production, adhoc) are seeded by the schema migration.
Admins create more with :meth:`DomainService.create` and change any with
:meth:`DomainService.set` (which refuses an unknown name, so a typo never creates a domain);
every change is audited as ``domain.set`` with the policy before and after.

A new domain starts from :data:`NEW_DOMAIN_DEFAULTS`, the most restrictive policy (default deny,
like everything else in governance): clearance ``public``, no labelled columns, only its own
datasets, outputs not persisted, and only promoted module versions. The admin opens what the
domain needs in the same command, e.g.
``mlstudio domain create staging --clearance internal --persist --no-promoted-only``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from types import EllipsisType
from typing import Any

from mlstudio.errors import ConflictError, InvalidInputError, NotFoundError, StateError
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
    names = [p["name"] for p in uow.domains.list()]
    close = difflib.get_close_matches(name, names, n=1)
    guess = f"did you mean {close[0]}? " if close else ""
    return NotFoundError(
        f"domain {name} does not exist ({guess}known domains: {', '.join(names) or 'none'})",
        hint=f"pick a known domain, or have an admin create it: mlstudio domain create {name}",
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

    def create(self, actor: str, name: str, **policy: Any) -> DomainPolicy:
        """Create domain ``name`` (admins): :data:`NEW_DOMAIN_DEFAULTS` with the given fields
        (the keywords of :meth:`set`); a :class:`ConflictError` if it exists."""
        return self._write(actor, name, creating=True, **policy)

    def set(self, actor: str, name: str, **changes: Any) -> DomainPolicy:
        """Change the given fields of existing domain ``name``'s policy (admins); the others
        stay. ``None`` / :data:`UNCHANGED` keep a field. ``readable_labels`` and
        ``readable_domains`` take ``None`` for "all" and an empty list for "none" (a domain
        always reads its own datasets); ``denied_labels=None`` clears the deny list. Domains in
        ``readable_domains`` must exist. An unknown domain is a :class:`NotFoundError` naming
        the closest known one."""
        return self._write(actor, name, creating=False, **changes)

    def _write(
        self,
        actor: str,
        name: str,
        *,
        creating: bool,
        clearance: str | Level | None = None,
        readable_labels: Iterable[str] | EllipsisType | None = UNCHANGED,
        denied_labels: Iterable[str] | EllipsisType | None = UNCHANGED,
        readable_domains: Iterable[str] | EllipsisType | None = UNCHANGED,
        may_persist: bool | None = None,
        promoted_only: bool | None = None,
        description: str | None = None,
        pseudonymous_readable: bool | None = None,
    ) -> DomainPolicy:
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
            if creating and before is not None:
                raise ConflictError(
                    f"domain {name} already exists",
                    hint=f"change it with: mlstudio domain set {name} …",
                )
            if not creating and before is None:
                raise _not_found(uow, name)
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

    def remove(self, actor: str, name: str) -> dict[str, Any]:
        """Remove a domain nothing belongs to (admins); built-in domains stay.

        Refused while runs, schedules or dataset versions belong to it, or another domain's
        policy may read it (a later domain of that name would inherit the access). The grants
        on it go with it (each audited as revoked)."""
        from mlstudio.maintenance.needs import audited, refuse

        validate_domain(name)

        def work(uow: Any) -> dict[str, Any]:
            Authorizer(uow.identity).require_admin(actor, f"remove domain {name}")
            policy = load_policy(uow, name)
            if name in BUILT_IN_DOMAINS:
                raise StateError(
                    f"domain {name} is built in and cannot be removed",
                    hint=f"change its policy instead: mlstudio domain set {name} ...",
                )
            refuse(f"domain {name}", domain_needs(uow, name))
            revoked = []
            for grant in uow.identity.grants_on("domain", name):
                uow.identity.revoke(grant.user, grant.role, "domain", name)
                uow.audit.record(
                    actor,
                    "grant.revoke",
                    f"user:{grant.user}",
                    details={"role": grant.role, "scope_kind": "domain", "scope": name},
                )
                revoked.append({"user": grant.user, "role": grant.role})
            uow.domains.delete(name)
            uow.audit.record(
                actor,
                "domain.remove",
                f"domain:{name}",
                details={"policy": policy.to_dict(), "revoked": revoked},
            )
            return {"name": name, "removed": True, "revoked": revoked}

        return audited(self.store, actor, "domain.remove", f"domain:{name}", work)


BUILT_IN_DOMAINS = ("experimentation", "production", "adhoc")


def domain_needs(uow: Any, name: str) -> list[Any]:
    """What still belongs to (or reads) domain ``name``, each with its fix."""
    from mlstudio.maintenance.needs import Need

    used = uow.maintenance.domain_users(name)
    needs = []
    if used["runs"]:
        needs.append(
            Need(
                "runs",
                name,
                f"{used['runs']} run(s) ran in it (their history keeps the domain)",
                f"close it instead: mlstudio domain set {name} --clearance public "
                "--readable-labels none --readable-domains none --no-persist",
            )
        )
    for schedule_id in used["schedules"]:
        needs.append(
            Need(
                "schedule",
                schedule_id,
                f"schedule {schedule_id} runs in it",
                f"remove it first: mlstudio schedule remove {schedule_id}",
            )
        )
    for dataset, count in used["datasets"].items():
        needs.append(
            Need(
                "dataset",
                dataset,
                f"{count} version(s) of dataset {dataset} belong to it",
                f"delete them first: mlstudio data delete {dataset}",
            )
        )
    for other in uow.domains.list():
        readable = other.get("readable_domains")
        if other["name"] != name and readable is not None and name in readable:
            rest = ",".join(sorted(d for d in readable if d != name)) or "none"
            needs.append(
                Need(
                    "domain",
                    other["name"],
                    f"domain {other['name']} may read it (policy {other['name']}.readable_domains)",
                    f"take it off that list first: mlstudio domain set {other['name']} "
                    f"--readable-domains {rest}",
                )
            )
    return needs


def with_defaults(name: str) -> DomainPolicy:
    """The policy a new domain ``name`` starts from (see :data:`NEW_DOMAIN_DEFAULTS`)."""
    return DomainPolicy.from_dict({"name": name, **NEW_DOMAIN_DEFAULTS})


# --- run authorization (the run, schedule and catalog services call these) -------------------------
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
