"""What the engine makes of an attempt that did not succeed: whether (and when) it runs again,
and the audit decision of one that was refused."""

from __future__ import annotations

from typing import Any

from mlstudio.core.states import ResultStatus
from mlstudio.workflows.engine_state import _State
from mlstudio.workflows.executors.base import TaskResult

LOST_ATTEMPTS = 3  # re-dispatches after lost worker leases, on top of the task's own retries
_FINAL = (ResultStatus.CANCELLED, ResultStatus.DENIED, ResultStatus.LOST)


def retry_delay(s: _State, result: TaskResult) -> float | None:
    """Seconds until the next attempt of ``s``; None when it does not run again.

    A worker that vanished (lease lost) did not fail the task: it runs again at once without
    spending its retry budget (the attempt number still goes up), a few times at most. Other
    failures retry with exponential back-off (``retry_delay`` option) while they may."""
    if result.status == ResultStatus.LOST and s.attempt < s.max_attempts + LOST_ATTEMPTS:
        return 0.0
    if s.attempt < s.max_attempts and result.retryable and result.status not in _FINAL:
        return float(s.node.options.get("retry_delay", 1.0)) * (2 ** (s.attempt - 1))
    return None


def denial(run: Any, s: _State, result: TaskResult) -> tuple[str, str, str, dict[str, Any]]:
    """(action, resource, decision, details) to audit for a ``denied`` attempt: the sandbox
    refused a read (``sandbox.access``), or the output may not be written in the domain."""
    from mlstudio.workflows.sandbox import denial_audit

    resource = f"run:{run.id}/{s.node.id}"
    refused = denial_audit(result, run.created_by, resource, run.domain)
    if refused is not None:
        _actor, action, _resource, decision, details = refused
        return action, resource, decision, details
    message = result.error or result.status
    return "data.write", resource, "deny", {"error": message, "domain": run.domain}
