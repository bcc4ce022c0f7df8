"""The model registry service: every registry use case, once (native API, MLflow API, CLI).

**Who may do what** (checked here, so no caller can bypass it; every refusal is audited):

- reading (list, show, versions, alias history): any active user;
- creating a model: any active user, who becomes its owner; creating it in a namespace needs
  owner or maintainer there;
- registering versions, moving or removing aliases, protecting aliases, changing or deleting
  the model: its owner, an owner or maintainer of its namespace, or an admin;
- approving or rejecting a version: the same people or a steward, **never the version's
  author** (who registered it) **nor whoever ran the run that trained it**;
- loading a version: viewer or runner on the domain it is loaded under, which must be
  allowed to read the version's classification.

**Protected aliases** (``champion`` by default; per model) may only point at a version whose
latest decision, bound to the version's digest, is an approval. Refusals are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlstudio.core.canonical import canonical_bytes
from mlstudio.core.clock import iso
from mlstudio.core.hashing import sha256_bytes
from mlstudio.errors import (
    ConflictError,
    CorruptArtifactError,
    InvalidInputError,
    NotFoundError,
    PolicyViolationError,
)
from mlstudio.governance.audit import guarded, guarded_read
from mlstudio.governance.rbac import Authorizer
from mlstudio.integrations.registry.names import (
    DEFAULT_PROTECTED,
    ModelRef,
    validate_alias,
    validate_model_name,
    validate_version,
)
from mlstudio.integrations.registry.permissions import (
    require_approver,
    require_manage,
)
from mlstudio.integrations.registry.registration import RunRegistration
from mlstudio.integrations.registry.views import (
    APPROVED,
    REJECTED,
    _decision_view,
    approval_of,
    classification_spec,
    event_view,
    model_view,
    version_view,
)

DEFAULT_LOAD_DOMAIN = "experimentation"


class RegistryService(RunRegistration):
    def __init__(self, store: Any, cas: Any) -> None:
        self.store = store
        self.cas = cas

    # --- lookups ------------------------------------------------------------------------------
    @staticmethod
    def _model(uow: Any, name: str, *, for_update: bool = False) -> dict[str, Any]:
        model = uow.registry.get_model(validate_model_name(name), for_update=for_update)
        if model is None:
            raise NotFoundError(
                f"model {name} does not exist",
                hint="see: mlstudio model list; register one: mlstudio model register NAME --run RUN",
            )
        return model

    @staticmethod
    def _version(uow: Any, model: dict[str, Any], number: int) -> dict[str, Any]:
        found = uow.registry.get_version(model["id"], validate_version(number))
        if found is None:
            latest = model["latest_version"]
            have = f"versions 1..{latest}" if latest else "no versions yet"
            raise NotFoundError(
                f"model {model['name']} has no version {number} ({have})",
                hint=f"see: mlstudio model show {model['name']}",
            )
        return found

    def _resolve(
        self, uow: Any, ref: ModelRef, at: datetime | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        model = self._model(uow, ref.name)
        if ref.alias is not None:
            if at is not None:
                event = uow.registry.alias_at(model["id"], ref.alias, at)
                number = event["to_version"] if event else None
                if number is None:
                    raise NotFoundError(
                        f"alias {ref.alias} of model {ref.name} pointed at no version at {iso(at)}",
                        hint=f"see its history: mlstudio model show {ref.name}",
                    )
            else:
                alias = uow.registry.get_alias(model["id"], ref.alias)
                if alias is None:
                    raise NotFoundError(
                        f"model {ref.name} has no alias {ref.alias!r}",
                        hint=f"set it: mlstudio model alias {ref.name} {ref.alias} VERSION",
                    )
                number = alias["version"]
            return model, self._version(uow, model, number)
        if ref.version is not None:
            return model, self._version(uow, model, ref.version)
        if not model["latest_version"]:
            raise NotFoundError(
                f"model {ref.name} has no versions yet",
                hint=f"register one: mlstudio model register {ref.name} --run RUN",
            )
        return model, self._version(uow, model, model["latest_version"])

    def _version_view(self, uow: Any, model: dict[str, Any], version: dict[str, Any]) -> dict:
        aliases = uow.registry.aliases(model["id"])
        decisions = uow.registry.decisions(model["id"], version["version"])
        return version_view(model["name"], version, aliases, decisions)

    # --- reads --------------------------------------------------------------------------------
    def list_models(
        self, actor: str, search: str | None = None, *, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        def work(uow: Any) -> list[dict[str, Any]]:
            Authorizer(uow.identity).require_active(actor, "list models")
            rows = uow.registry.list_models(search, limit, offset)
            return [model_view(m, uow.registry.aliases(m["id"])) for m in rows]

        return guarded_read(self.store, actor, "model.list", "models", work)

    def get_model(self, actor: str, name: str) -> dict[str, Any]:
        def work(uow: Any) -> dict[str, Any]:
            Authorizer(uow.identity).require_active(actor, "read models")
            model = self._model(uow, name)
            return model_view(model, uow.registry.aliases(model["id"]))

        return guarded_read(self.store, actor, "model.show", f"model:{name}", work)

    def show(self, actor: str, ref: str, *, at: datetime | None = None) -> dict[str, Any]:
        """The model, the selected version (``NAME@ALIAS`` -- as of ``at`` --, ``NAME/N``,
        or the latest), its versions, alias history and decisions."""
        parsed = ModelRef.parse(ref)
        if at is not None and parsed.alias is None:
            raise InvalidInputError(
                "--at asks where an alias pointed at a time",
                hint=f"use {parsed.name}@ALIAS --at TIME",
            )

        def work(uow: Any) -> dict[str, Any]:
            Authorizer(uow.identity).require_active(actor, "read models")
            model = self._model(uow, parsed.name)
            aliases = uow.registry.aliases(model["id"])
            decisions = uow.registry.decisions(model["id"])
            selected = None
            if model["latest_version"] or parsed.alias or parsed.version:
                _, version = self._resolve(uow, parsed, at)
                selected = version_view(model["name"], version, aliases, decisions)
            versions = [
                {
                    "version": v["version"],
                    "digest": v["digest"],
                    "classification": classification_spec(v),
                    "approval": approval_of(v, decisions)["state"],
                    "aliases": sorted(a["alias"] for a in aliases if a["version"] == v["version"]),
                    "run_id": v["run_id"],
                    "created_by": v["created_by"],
                    "created_at": iso(v["created_at"]),
                }
                for v in uow.registry.versions(model["id"], limit=100)
            ]
            return {
                "model": model_view(model, aliases),
                "ref": str(parsed),
                "at": iso(at) if at else None,
                "selected": selected,
                "versions": versions,
                "alias_history": [
                    event_view(model["name"], e)
                    for e in uow.registry.alias_history(model["id"], limit=100)
                ],
                "decisions": [_decision_view(model["name"], d) for d in decisions[:100]],
                "reads": [
                    {
                        "version": r["version"],
                        "actor": r["actor"],
                        "domain": r["domain"],
                        "run_id": r["run_id"],
                        "node": r["node_id"],
                        "at": iso(r["at"]),
                    }
                    for r in uow.registry.reads(model["id"])
                ],
                "gates": {g["alias"]: g["spec"] for g in uow.evaluation.gates(model["id"])},
            }

        return guarded_read(self.store, actor, "model.show", f"model:{parsed}", work)

    def get_version(self, actor: str, ref: str) -> dict[str, Any]:
        """One version view (``NAME/N``, ``NAME@ALIAS`` or ``NAME`` for the latest)."""
        parsed = ModelRef.parse(ref)

        def work(uow: Any) -> dict[str, Any]:
            Authorizer(uow.identity).require_active(actor, "read models")
            model, version = self._resolve(uow, parsed)
            return self._version_view(uow, model, version)

        return guarded_read(self.store, actor, "model.show", f"model:{parsed}", work)

    def search_versions(
        self,
        actor: str,
        name: str | None = None,
        run_id: str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        def work(uow: Any) -> list[dict[str, Any]]:
            Authorizer(uow.identity).require_active(actor, "list model versions")
            found = uow.registry.search_versions(name, run_id, limit, offset)
            out = []
            for model_name, version in found:
                aliases = uow.registry.aliases(version["model_id"])
                decisions = uow.registry.decisions(version["model_id"], version["version"])
                out.append(version_view(model_name, version, aliases, decisions))
            return out

        return guarded_read(self.store, actor, "model.list", "models", work)

    # --- models -------------------------------------------------------------------------------
    def _create(
        self,
        uow: Any,
        actor: str,
        name: str,
        namespace: str | None,
        description: str,
        tags: dict[str, str] | None,
    ) -> dict[str, Any]:
        auth = Authorizer(uow.identity)
        auth.require_active(actor, "create models")
        if namespace:
            from mlstudio.core.ids import validate_namespace

            validate_namespace(namespace)
            if uow.modules.get_namespace(namespace) is None:
                raise NotFoundError(
                    f"namespace {namespace} does not exist",
                    hint=f"create it: mlstudio namespace create {namespace}",
                )
            auth.require_namespace(actor, namespace, "create models")
        model = uow.registry.create_model(
            name,
            actor,
            namespace=namespace,
            description=description,
            protected=list(DEFAULT_PROTECTED),
            tags=tags,
        )
        uow.audit.record(actor, "model.create", f"model:{name}", details={"namespace": namespace})
        return model

    def create_model(
        self,
        actor: str,
        name: str,
        *,
        namespace: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        validate_model_name(name)

        def work(uow: Any) -> dict[str, Any]:
            if uow.registry.get_model(name) is not None:
                raise ConflictError(
                    f"model {name} already exists", hint=f"see: mlstudio model show {name}"
                )
            model = self._create(uow, actor, name, namespace, description, tags)
            return model_view(model, [])

        return guarded(self.store, actor, "model.create", f"model:{name}", work)

    def update_model(
        self,
        actor: str,
        name: str,
        *,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            require_manage(Authorizer(uow.identity), actor, model, "change")
            changes: dict[str, Any] = {}
            if description is not None:
                changes["description"] = description
            if tags:
                changes["tags"] = {**(model["tags"] or {}), **tags}
            if changes:
                uow.registry.update_model(model["id"], **changes)
                uow.audit.record(actor, "model.update", f"model:{name}", details=list(changes))
            model = self._model(uow, name)
            return model_view(model, uow.registry.aliases(model["id"]))

        return guarded(self.store, actor, "model.update", f"model:{name}", work)

    def delete_model(self, actor: str, name: str) -> dict[str, Any]:
        """Delete a model and its versions (refused while a protected alias points into it)."""

        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            require_manage(Authorizer(uow.identity), actor, model, "delete")
            held = [
                a["alias"]
                for a in uow.registry.aliases(model["id"])
                if a["alias"] in model["protected_aliases"]
            ]
            if held:
                raise ConflictError(
                    f"model {name} cannot be deleted: protected alias {held[0]} points at it",
                    hint=f"remove the alias first: mlstudio model alias {name} {held[0]} --delete",
                )
            uow.registry.delete_model(model["id"])
            uow.audit.record(
                actor,
                "model.delete",
                f"model:{name}",
                details={"versions": model["latest_version"]},
            )
            return {"name": name, "deleted": True, "versions": model["latest_version"]}

        return guarded(self.store, actor, "model.delete", f"model:{name}", work)

    def protect(self, actor: str, name: str, alias: str, protected: bool = True) -> dict[str, Any]:
        """Make ``alias`` protected (only approved versions) or unprotected."""
        validate_alias(alias)

        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            verb = "protect aliases" if protected else "unprotect aliases"
            require_manage(Authorizer(uow.identity), actor, model, verb)
            current = list(model["protected_aliases"])
            wanted = (
                sorted(set(current) | {alias}) if protected else [a for a in current if a != alias]
            )
            if wanted != current:
                uow.registry.update_model(model["id"], protected_aliases=wanted)
                uow.audit.record(
                    actor,
                    "model.protect",
                    f"model:{name}@{alias}",
                    details={"protected": protected},
                )
            model = self._model(uow, name)
            return model_view(model, uow.registry.aliases(model["id"]))

        return guarded(self.store, actor, "model.protect", f"model:{name}@{alias}", work)

    # --- versions -----------------------------------------------------------------------------
    def _add_version(
        self, uow: Any, actor: str, model: dict[str, Any], values: dict[str, Any]
    ) -> dict[str, Any]:
        require_manage(Authorizer(uow.identity), actor, model, "register versions")
        version = uow.registry.add_version(model, {**values, "created_by": actor})
        uow.audit.record(
            actor,
            "model.register",
            f"model:{model['name']}/{version['version']}",
            details={"digest": version["digest"], "run_id": version["run_id"]},
        )
        from mlstudio.integrations.webhooks import emit

        emit(
            uow,
            "model.version.created",
            {
                "model": model["name"],
                "version": version["version"],
                "digest": version["digest"],
                "source": version["source"],
                "run_id": version["run_id"],
                "classification": classification_spec(version),
                "created_by": actor,
                "created_at": iso(version["created_at"]),
            },
        )
        return self._version_view(uow, model, version)

    def _model_for_version(
        self,
        uow: Any,
        actor: str,
        name: str,
        namespace: str | None,
        description: str = "",
    ) -> dict[str, Any]:
        model = uow.registry.get_model(name, for_update=True)
        if model is None:
            self._create(uow, actor, name, namespace, description, None)
            model = self._model(uow, name, for_update=True)
        return model

    def create_version(
        self,
        actor: str,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A version registered from a source URI (the MLflow API's ``model-versions/create``).

        Its digest is that of the source and run it names (the artifact is the tracking
        store's); its classification is unknown (unclassified, treated as restricted)."""
        validate_model_name(name)
        if not isinstance(source, str) or not source.strip():
            raise InvalidInputError("a model version needs a source", hint="e.g. models:/m-<id>")

        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            digest = sha256_bytes(canonical_bytes({"source": source, "run_id": run_id}))
            values = {
                "digest": digest,
                "source": source,
                "artifact": None,
                "run_id": run_id,
                "lineage": {"source": source, "run_id": run_id, "datasets": [], "metrics": {}},
                "classification": None,
                "description": description,
                "tags": dict(tags or {}),
            }
            return self._add_version(uow, actor, model, values)

        return guarded(self.store, actor, "model.register", f"model:{name}", work)

    def update_version(
        self, actor: str, name: str, version: int, *, description: str | None = None
    ) -> dict[str, Any]:
        """Change a version's description (its content, digest and lineage never change)."""

        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            found = self._version(uow, model, version)
            require_manage(Authorizer(uow.identity), actor, model, "change versions")
            if description is not None and description != found["description"]:
                uow.registry.update_version(model["id"], version, description=description)
                uow.audit.record(actor, "model.update", f"model:{name}/{version}")
            return self._version_view(uow, model, self._version(uow, model, version))

        return guarded(self.store, actor, "model.update", f"model:{name}/{version}", work)

    # --- aliases ------------------------------------------------------------------------------
    def set_gate(
        self, actor: str, name: str, alias: str, spec: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Require (``spec``) or stop requiring (None) an evaluation to move ``alias``."""
        validate_alias(alias)
        resource = f"model:{name}@{alias}"

        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            require_manage(Authorizer(uow.identity), actor, model, "gate aliases")
            if spec is None:
                if not uow.evaluation.remove_gate(model["id"], alias):
                    raise NotFoundError(f"alias {alias} of model {name} has no gate")
            else:
                uow.evaluation.set_gate(model["id"], alias, spec, actor)
            uow.audit.record(actor, "model.gate", resource, details={"gate": spec})
            return {"model": name, "alias": alias, "gate": spec}

        return guarded(self.store, actor, "model.gate", resource, work)

    def set_alias(
        self,
        actor: str,
        name: str,
        alias: str,
        version: int,
        *,
        override_reason: str | None = None,
    ) -> dict[str, Any]:
        """Point ``alias`` at ``version`` (recorded); a protected alias needs an approved one,
        a gated alias an evaluation (or an approver's override with a reason, audited)."""
        validate_alias(alias)
        resource = f"model:{name}@{alias}"
        if override_reason is not None and not override_reason.strip():
            raise InvalidInputError(
                "a gate override needs a reason", hint='--override-reason "why"'
            )

        def work(uow: Any) -> dict[str, Any]:
            return self._move_alias(uow, actor, name, alias, version, override_reason)

        return guarded(self.store, actor, "model.alias", resource, work, {"to": version})

    def _move_alias(
        self,
        uow: Any,
        actor: str,
        name: str,
        alias: str,
        version: int,
        override_reason: str | None,
    ) -> dict[str, Any]:
        """``set_alias`` inside ``uow`` (also used by ``@task(register=, alias=)``)."""
        resource = f"model:{name}@{alias}"
        model = self._model(uow, name, for_update=True)
        require_manage(Authorizer(uow.identity), actor, model, "move aliases")
        target = self._version(uow, model, version)
        if alias in model["protected_aliases"]:
            approval = approval_of(target, uow.registry.decisions(model["id"], version))
            if approval["state"] != APPROVED:
                raise PolicyViolationError(
                    f"alias {alias} of model {name} is protected: version {version} is "
                    f"{approval['state']}, not approved",
                    hint=f"have someone other than its author run: mlstudio model approve "
                    f"{name} {version} --reason TEXT",
                )
        current = uow.registry.get_alias(model["id"], alias)
        if current is not None and current["version"] == version:
            return {
                "model": name,
                "alias": alias,
                "from_version": version,
                "to_version": version,
                "moved": False,
            }
        held = self._version(uow, model, current["version"]) if current else None
        gate = self._gate(uow, actor, model, alias, target, held, override_reason)
        event = uow.registry.set_alias(model["id"], alias, version, actor)
        uow.audit.record(
            actor,
            "model.alias",
            resource,
            details={"from": event["from_version"], "to": version},
        )
        view = event_view(name, event)
        from mlstudio.integrations.webhooks import emit

        emit(uow, "model.alias.moved", view)
        return {**view, "moved": True, **({"gate": gate} if gate else {})}

    def _gate(
        self,
        uow: Any,
        actor: str,
        model: dict[str, Any],
        alias: str,
        target: dict[str, Any],
        held: dict[str, Any] | None,
        override_reason: str | None,
    ) -> dict[str, Any] | None:
        from mlstudio.integrations.evaluation import gate

        try:
            return gate.check(uow, model, alias, target, held)
        except PolicyViolationError as refused:
            if override_reason is None:
                raise
            require_approver(Authorizer(uow.identity), actor, model, target, "override the gate of")
            uow.audit.record(
                actor,
                "model.gate.override",
                f"model:{model['name']}@{alias}",
                details={
                    "version": target["version"],
                    "reason": override_reason.strip(),
                    "refused": refused.message,
                },
            )
            return {"passed": False, "overridden_by": actor, "reason": override_reason.strip()}

    def delete_alias(self, actor: str, name: str, alias: str) -> dict[str, Any]:
        validate_alias(alias)
        resource = f"model:{name}@{alias}"

        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            require_manage(Authorizer(uow.identity), actor, model, "remove aliases")
            event = uow.registry.delete_alias(model["id"], alias, actor)
            if event is None:
                raise NotFoundError(
                    f"model {name} has no alias {alias!r}", hint=f"see: mlstudio model show {name}"
                )
            uow.audit.record(
                actor, "model.alias.delete", resource, details={"from": event["from_version"]}
            )
            view = event_view(name, event)
            from mlstudio.integrations.webhooks import emit

            emit(uow, "model.alias.moved", view)
            return {**view, "moved": True}

        return guarded(self.store, actor, "model.alias.delete", resource, work)

    # --- approvals ----------------------------------------------------------------------------
    def decide(
        self, actor: str, name: str, version: int, decision: str, reason: str
    ) -> dict[str, Any]:
        """Approve or reject ``name/version`` with a reason, bound to its digest."""
        if decision not in (APPROVED, REJECTED):
            raise InvalidInputError(f"unknown decision {decision!r}", hint="approved or rejected")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInputError(
                f"a {decision[:-1]}al needs a reason", hint='add --reason "why"'
            )
        verb = "approve" if decision == APPROVED else "reject"
        resource = f"model:{name}/{version}"

        def work(uow: Any) -> dict[str, Any]:
            model = self._model(uow, name, for_update=True)
            target = self._version(uow, model, version)
            require_approver(Authorizer(uow.identity), actor, model, target, verb)
            uow.registry.add_decision(
                {
                    "model_id": model["id"],
                    "version": version,
                    "digest": target["digest"],
                    "decision": decision,
                    "reason": reason.strip(),
                    "actor": actor,
                }
            )
            uow.audit.record(
                actor,
                f"model.{verb}",
                resource,
                details={"digest": target["digest"], "reason": reason.strip()},
            )
            view = self._version_view(uow, model, target)
            if decision == APPROVED:
                from mlstudio.integrations.webhooks import emit

                emit(
                    uow,
                    "model.approved",
                    {
                        "model": name,
                        "version": version,
                        "digest": target["digest"],
                        "actor": actor,
                        "reason": reason.strip(),
                    },
                )
            return view

        return guarded(self.store, actor, f"model.{verb}", resource, work)

    # --- loading ------------------------------------------------------------------------------
    def load(
        self,
        actor: str,
        ref: str,
        *,
        domain: str | None = None,
        run_id: str | None = None,
        node_id: str | None = None,
    ) -> tuple[dict[str, Any], bytes]:
        """The version ``ref`` resolves to and its pickled bytes, after the checks: the domain
        (the run's own inside a run) must be readable by the actor and may read the version's
        classification. A refusal is audited and nothing is fetched; an allowed load is
        audited and recorded as a read of the version (with the run and task reading it)."""
        from mlstudio.integrations.registry import reads

        parsed = ModelRef.parse(ref)
        resource = f"model:{parsed}"
        reading = domain or DEFAULT_LOAD_DOMAIN
        if run_id is not None:  # inside a run: the run's own domain, whatever was asked
            with self.store.read() as uow:
                run = uow.runs.get_run(run_id)
            if run is None:
                raise NotFoundError(f"run {run_id} does not exist")
            reading = run.domain

        def check(uow: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
            where = reading
            policy = reads.authorize_domain(uow, actor, where)  # shared with cache hits
            model, version = self._resolve(uow, parsed)
            reads.enforce_classification(policy, model["name"], version)
            label = f"model {model['name']}/{version['version']}"
            if not version["artifact"]:
                raise InvalidInputError(
                    f"{label} was registered from {version['source']}; its files are in the "
                    "tracking store",
                    hint=f"load it with mlflow: mlflow.pyfunc.load_model('models:/{parsed}')",
                )
            return model, version, where

        model, version, where = guarded_read(
            self.store, actor, "model.load", resource, check, {"domain": reading}
        )
        digest = version["artifact"]["digest"]
        blob = self.cas.get(digest)
        if sha256_bytes(blob) != digest:
            raise CorruptArtifactError(
                f"model {model['name']}/{version['version']}: stored bytes do not match {digest[:12]}",
                hint="the artifact store is damaged; register the model again from a new run",
            )

        def record(uow: Any) -> dict[str, Any]:
            reads.record(
                uow,
                actor,
                model,
                version,
                ref=str(parsed),
                domain=where,
                run_id=run_id,
                node_id=node_id,
            )
            return self._version_view(uow, model, version)

        return self.store.retrying(record), blob
