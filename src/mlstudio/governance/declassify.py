"""Declassifiers: the only way a column's classification goes down.

A declassifier is a steward's recorded decision that a task's output columns are less sensitive
than propagation computes (say, a task that aggregates ``pii`` rows into per-segment counts). It
names a module's task, is bound to the code digest of the module version it was written for, lists
the output columns it applies to, and either lowers their level (``lower_to``), removes labels
(``remove_labels``), or both, with a justification. It takes effect only after a second person
(another steward or an admin) approves it, and stops applying as soon as the task runs from other
code (a different digest). Lowering never raises: a declassifier cannot make a column more
sensitive, and it cannot bring back a label.

:func:`apply_declassifiers` is the pure part the engine calls when it stores a task's output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlstudio.core.ids import ModuleRef, new_id
from mlstudio.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
)
from mlstudio.governance.audit import guarded, guarded_read, refusals_audited
from mlstudio.governance.classification import Classification, Level, validate_label
from mlstudio.governance.rbac import Authorizer

if TYPE_CHECKING:  # pragma: no cover
    from mlstudio.data.records import DeclassifierRecord
    from mlstudio.modules.service import ModuleService
    from mlstudio.store.metadata.store import MetadataStore, UnitOfWork

STATES = ("pending", "approved", "revoked")


def apply_declassifiers(
    task_module: str,
    task: str,
    code_digest: str,
    columns: Mapping[str, Classification],
    records: Iterable[DeclassifierRecord],
) -> tuple[dict[str, Classification], list[str]]:
    """Apply the approved ``records`` written for this task and this code to ``columns``.

    A record applies when it is approved, names ``task_module``/``task`` and was bound to
    ``code_digest``. On each named column that is present it lowers the level to ``lower_to``
    (never raising it; an unclassified column, enforced as restricted, gets ``lower_to``) and
    removes ``remove_labels``. Returns the new columns (same order) and the ids of the records
    that changed at least one column's classification.
    """
    out = dict(columns)
    applied: list[str] = []
    for record in records:
        if (
            record.state != "approved"
            or record.module != task_module
            or record.task != task
            or record.code_digest != code_digest
        ):
            continue
        target = Level.parse(record.lower_to) if record.lower_to else None
        removed = frozenset(record.remove_labels or ())
        changed = False
        for name in record.columns:
            current = out.get(name)
            if current is None:
                continue
            lowered = _lower(current, target, removed)
            if lowered != current:
                out[name] = lowered
                changed = True
        if changed:
            applied.append(record.id)
    return out, applied


def _lower(
    current: Classification, target: Level | None, removed: frozenset[str]
) -> Classification:
    level = current.level
    if target is not None and target < current.effective_level:
        level = target
    labels = current.labels - removed
    return Classification(level, labels, current.pseudonymous & labels)


def _normalize_columns(columns: Sequence[str]) -> list[str]:
    out: list[str] = []
    for column in columns:
        name = (column or "").strip()
        if not name:
            raise InvalidInputError("empty column name", hint="name the output columns: --column C")
        if name not in out:
            out.append(name)
    if not out:
        raise InvalidInputError(
            "a declassifier needs at least one output column", hint="add --column C"
        )
    return out


class DeclassifierService:
    """Create, approve, revoke and list declassifiers (steward work, two people per decision)."""

    def __init__(self, store: MetadataStore, modules: ModuleService) -> None:
        """``modules``: the registry, to resolve the module version a declassifier binds to."""
        self.store = store
        self.modules = modules

    def create(
        self,
        actor: str,
        module_ref: str,
        task: str,
        columns: Sequence[str],
        lower_to: str | None = None,
        remove_labels: Sequence[str] = (),
        justification: str = "",
    ) -> DeclassifierRecord:
        """Record a pending declassifier for ``task`` of the module version ``module_ref``."""
        ref = ModuleRef.parse(module_ref)
        cols = _normalize_columns(columns)
        level = str(Level.parse(lower_to)) if lower_to else None
        labels = sorted({validate_label((label or "").strip().lower()) for label in remove_labels})
        if level is None and not labels:
            raise InvalidInputError(
                "a declassifier must lower the level or remove a label",
                hint="add --to LEVEL and/or --remove-label LABEL",
            )
        justification = (justification or "").strip()
        if not justification:
            raise InvalidInputError(
                "a declassifier needs a justification",
                hint="say why the columns are less sensitive: --justification TEXT",
            )
        action, target, context = "declassifier.create", str(ref), {"task": task}

        def allowed(uow: UnitOfWork) -> None:
            Authorizer(uow.identity).require_steward(actor, "create declassifiers")

        guarded_read(self.store, actor, action, target, allowed, context)  # fail fast
        version = self.modules.resolve(ref)
        task_names = [t.get("name") for t in version.tasks if t.get("kind", "task") == "task"]
        if task not in task_names:
            raise NotFoundError(
                f"{version.ref} has no task {task!r}",
                hint=f"tasks of {version.ref}: {', '.join(task_names) or '(none)'}",
            )

        def work(uow: UnitOfWork) -> DeclassifierRecord:
            Authorizer(uow.identity).require_steward(actor, "create declassifiers")
            record = uow.declassifiers.create(
                {
                    "id": new_id("dcl"),
                    "module": version.module,
                    "task": task,
                    "code_digest": version.digest,
                    "columns": cols,
                    "lower_to": level,
                    "remove_labels": labels,
                    "justification": justification,
                    "created_by": actor,
                }
            )
            uow.audit.record(
                actor,
                "declassifier.create",
                f"declassifier:{record.id}",
                details={
                    "module": version.ref,
                    "task": task,
                    "code_digest": version.digest,
                    "columns": cols,
                    "lower_to": level,
                    "remove_labels": labels,
                    "justification": justification,
                },
            )
            return record

        return guarded(self.store, actor, action, target, work, context)

    def _get(self, uow: UnitOfWork, declassifier_id: str) -> DeclassifierRecord:
        record = uow.declassifiers.get((declassifier_id or "").strip())
        if record is None:
            raise NotFoundError(
                f"declassifier {declassifier_id} does not exist",
                hint="see: mlstudio data declassifiers",
            )
        return record

    def approve(self, actor: str, declassifier_id: str) -> DeclassifierRecord:
        """A second steward (or an admin) approves a pending declassifier."""
        resource = f"declassifier:{(declassifier_id or '').strip()}"
        with refusals_audited(self.store, actor, "declassifier.approve", resource):
            with self.store.read() as uow:
                Authorizer(uow.identity).require_steward(actor, "approve declassifiers")
                record = self._get(uow, declassifier_id)
            if record.created_by == actor:
                raise PermissionDeniedError(
                    f"{actor} may not approve declassifier {record.id}: they created it, "
                    "and it needs a second person",
                    hint=f"ask another steward or an admin: mlstudio data approve {record.id}",
                )

        def work(uow: UnitOfWork) -> DeclassifierRecord:
            Authorizer(uow.identity).require_steward(actor, "approve declassifiers")
            current = self._get(uow, record.id)
            if current.state != "pending":
                raise StateError(
                    f"declassifier {current.id} is {current.state}, not pending",
                    hint="only pending declassifiers can be approved; create a new one",
                )
            uow.declassifiers.set_state(current.id, "approved", approved_by=actor)
            uow.audit.record(
                actor,
                "declassifier.approve",
                f"declassifier:{current.id}",
                details=_summary(current),
            )
            return self._get(uow, current.id)

        context = _summary(record)
        return guarded(self.store, actor, "declassifier.approve", resource, work, context)

    def revoke(self, actor: str, declassifier_id: str) -> DeclassifierRecord:
        """Stop a pending or approved declassifier from (ever) applying."""

        def work(uow: UnitOfWork) -> DeclassifierRecord:
            Authorizer(uow.identity).require_steward(actor, "revoke declassifiers")
            record = self._get(uow, declassifier_id)
            if record.state == "revoked":
                raise StateError(
                    f"declassifier {record.id} is already revoked",
                    hint="see: mlstudio data declassifiers",
                )
            uow.declassifiers.set_state(record.id, "revoked")
            uow.audit.record(
                actor,
                "declassifier.revoke",
                f"declassifier:{record.id}",
                details={**_summary(record), "was": record.state},
            )
            return self._get(uow, record.id)

        resource = f"declassifier:{(declassifier_id or '').strip()}"
        return guarded(self.store, actor, "declassifier.revoke", resource, work)

    def list(self, state: str | None = None) -> list[DeclassifierRecord]:
        if state and state not in STATES:
            raise InvalidInputError(
                f"unknown declassifier state {state!r}", hint=f"use one of: {', '.join(STATES)}"
            )
        with self.store.read() as uow:
            return uow.declassifiers.list(state=state or None)

    def get(self, declassifier_id: str) -> DeclassifierRecord:
        with self.store.read() as uow:
            return self._get(uow, declassifier_id)


def _summary(record: DeclassifierRecord) -> dict[str, Any]:
    return {
        "module": record.module,
        "task": record.task,
        "code_digest": record.code_digest,
        "columns": list(record.columns),
        "lower_to": record.lower_to,
        "remove_labels": list(record.remove_labels),
    }
