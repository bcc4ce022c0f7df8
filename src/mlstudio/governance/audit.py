"""Refusals are decisions: the one way a service audits a denied request.

Every authorization check of a service (the :class:`~mlstudio.governance.rbac.Authorizer`'s
``require_*``, ``check_run``/``check_view``, the policy checks of reads and writes) runs under
:func:`refusals_audited` -- directly, or through :func:`guarded` (a checked write) or
:func:`guarded_read` (a checked read). A :class:`~mlstudio.errors.PermissionDeniedError` (a
:class:`~mlstudio.errors.PolicyViolationError` included) raised inside becomes exactly one audit
event ``decision=deny`` with the actor, the action (as the allowed event would name it:
``module.push``, ``data.export``, ``run.show``...), the target, and ``details.reason`` (the
one-line refusal) plus ``code``, ``hint`` and, for policy violations, ``violations``.

The event is written in a transaction of its own once the refused one has rolled back, so the
refusal is recorded although nothing else of the request is; an error is recorded once however
many helpers it passes through.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from mlstudio.errors import MlstudioError, PermissionDeniedError, PolicyViolationError

if TYPE_CHECKING:
    from mlstudio.store.metadata.store import MetadataStore, UnitOfWork

T = TypeVar("T")
_AUDITED = "_mlstudio_audited"


def denial_details(error: MlstudioError, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a denial event records: ``context``, then the reason, code, hint and violations."""
    details: dict[str, Any] = dict(context or {})
    details.update(reason=error.message, code=error.code, message=error.message)
    if error.hint:
        details["hint"] = error.hint
    if isinstance(error, PolicyViolationError) and isinstance(error.details, list):
        details.setdefault("violations", error.details)
    return details


def record_denial(
    store: MetadataStore,
    actor: str,
    action: str,
    resource: str,
    error: MlstudioError,
    context: dict[str, Any] | None = None,
) -> None:
    """Audit that ``actor`` was refused ``action`` on ``resource``, in its own transaction
    (call it after the refused one rolled back); a no-op for an error already recorded."""
    if getattr(error, _AUDITED, False):
        return
    details = denial_details(error, context)

    def work(uow: UnitOfWork) -> None:
        uow.audit.record(actor, action, resource, decision="deny", details=details)

    store.retrying(work)
    setattr(error, _AUDITED, True)


@contextmanager
def refusals_audited(
    store: MetadataStore,
    actor: str,
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
) -> Iterator[None]:
    """``with refusals_audited(...):`` around checks: a refusal raised inside is audited, then
    re-raised. Open it outside the transaction the checks run in, so that one has ended."""
    try:
        yield
    except PermissionDeniedError as exc:
        record_denial(store, actor, action, resource, exc, context)
        raise


def guarded(
    store: MetadataStore,
    actor: str,
    action: str,
    resource: str,
    work: Callable[[UnitOfWork], T],
    context: dict[str, Any] | None = None,
) -> T:
    """``store.retrying(work)`` with its refusals audited: the way a service runs a checked
    write."""
    with refusals_audited(store, actor, action, resource, context):
        return store.retrying(work)


def guarded_read(
    store: MetadataStore,
    actor: str,
    action: str,
    resource: str,
    work: Callable[[UnitOfWork], T],
    context: dict[str, Any] | None = None,
) -> T:
    """``work`` in a read-only unit of work with its refusals audited: a checked read."""
    with refusals_audited(store, actor, action, resource, context), store.read() as uow:
        return work(uow)
