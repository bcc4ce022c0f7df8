"""``runs pin RUN [--reason TEXT]`` / ``runs unpin RUN``: keep a run whatever its age.

A pinned run holds what it locked: ``data delete`` and ``module delete`` refuse the dataset and
module versions it used, and ``mlstudio gc --keep-runs-days N`` keeps its code, inputs and
outputs. Pinning and unpinning need the runner role on the run's domain (as cancelling does);
both are audited.
"""

from __future__ import annotations

from typing import Any

from mlstudio.core.clock import iso
from mlstudio.governance.domains import check_run
from mlstudio.governance.rbac import guarded


def _view(run_id: str, pin: dict[str, Any] | None, changed: bool) -> dict[str, Any]:
    return {
        "run": run_id,
        "pinned": pin is not None,
        "changed": changed,
        "reason": pin["reason"] if pin else None,
        "pinned_by": pin["pinned_by"] if pin else None,
        "pinned_at": iso(pin["pinned_at"]) if pin else None,
    }


def pin_view(uow: Any, run_id: str) -> dict[str, Any] | None:
    """How ``runs show`` reports a pin: ``{reason, by, at}``, or None."""
    pin = uow.maintenance.pin_of(run_id)
    if pin is None:
        return None
    return {"reason": pin["reason"], "by": pin["pinned_by"], "at": iso(pin["pinned_at"])}


def pin(store: Any, runs: Any, actor: str, run_id: str, reason: str = "") -> dict[str, Any]:
    run = runs.get(run_id)

    def work(uow: Any) -> dict[str, Any]:
        check_run(uow, actor, run.domain, None)
        changed = uow.maintenance.pin(run.id, actor, reason.strip())
        if changed:
            uow.audit.record(actor, "run.pin", f"run:{run.id}", details={"reason": reason})
        return _view(run.id, uow.maintenance.pin_of(run.id), changed)

    return guarded(store, actor, "run.pin", f"run:{run.id}", work)


def unpin(store: Any, runs: Any, actor: str, run_id: str) -> dict[str, Any]:
    run = runs.get(run_id)

    def work(uow: Any) -> dict[str, Any]:
        check_run(uow, actor, run.domain, None)
        changed = uow.maintenance.unpin(run.id)
        if changed:
            uow.audit.record(actor, "run.unpin", f"run:{run.id}")
        return _view(run.id, None, changed)

    return guarded(store, actor, "run.unpin", f"run:{run.id}", work)
