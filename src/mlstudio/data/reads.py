"""Reads by a person rather than a task (export, head, run outputs), checked like a task's.

The domain the data is read under must pass :func:`~mlstudio.governance.policy.evaluate_read`
for every column handed over, exactly as the engine checks a task's inputs. A refusal is audited
(``decision=deny``, with every violation) before it is raised; an allowed read of sensitive
columns (confidential and above, unclassified included) is audited before the data leaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstudio.data.io import sensitive
from mlstudio.governance.classification import Classification
from mlstudio.governance.policy import DomainPolicy, enforce, evaluate_read


def record(
    store: Any,
    actor: str,
    action: str,
    resource: str,
    details: dict[str, Any],
    decision: str = "allow",
) -> None:
    """One audit event in its own transaction (a refusal's caller then raises)."""
    with store.transaction() as uow:
        uow.audit.record(actor, action, resource, decision=decision, details=details)


def authorize_read(
    store: Any,
    actor: str,
    policy: DomainPolicy,
    label: str,
    source_domain: str | None,
    columns: Mapping[str, Classification],
    *,
    action: str,
    resource: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Refuse (audited) unless ``policy``'s domain may read ``columns`` of ``label``."""
    violations = evaluate_read(policy, label, source_domain, columns)
    if violations:
        details = {"domain": policy.name, **(extra or {})}
        details["violations"] = [v.to_dict() for v in violations]
        record(store, actor, action, resource, details, decision="deny")
        enforce(violations)


def audit_sensitive(
    store: Any,
    actor: str,
    policy: DomainPolicy,
    columns: Mapping[str, Classification],
    *,
    action: str,
    resource: str,
    rows: int | None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Audit an allowed read that hands over confidential or restricted columns."""
    marked = sensitive(columns)
    shown = [name for name in columns if name in marked]
    if shown:
        details = {"domain": policy.name, **(extra or {}), "columns": shown, "rows": rows}
        record(store, actor, action, resource, details)
