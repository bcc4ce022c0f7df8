"""What still needs a module or dataset version: the one answer every deletion gives.

A version is needed by

- a **tag** that points at it (module versions; datasets have no tags): a run started by tag
  would resolve to it;
- a **run that is not finished** (queued, running, cancelling) whose lock names it: the run is
  about to read it;
- a **pinned run** whose lock names it: a pin keeps a run reproducible, code and inputs included
  (``mlstudio runs pin RUN``);
- a **schedule** that names it (``NS/MODULE/WORKFLOW@V``): it would start runs of it;
- **cache entries** computed from it, or holding it (dataset versions): a hit would hand out a
  result derived from data that was deleted.

A finished run that is not pinned does not hold what it locked: its plan keeps the digests, so
its record, lineage and clones stay valid while ``mlstudio gc`` keeps the blobs (it keeps every
blob a kept run references, see :mod:`mlstudio.maintenance.gc`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from mlstudio.errors import InUseError, PermissionDeniedError
from mlstudio.governance.rbac import record_denial
from mlstudio.workflows.records import RUN_ACTIVE

T = TypeVar("T")


@dataclass(frozen=True)
class Need:
    """One thing that still needs a version, with the command that releases it."""

    kind: str  # tag | run | pinned_run | schedule | cache
    name: str  # the tag, run id, schedule id or workflow
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def refuse(subject: str, needs: list[Need]) -> None:
    """Raise :class:`InUseError` naming the first need (all of them are in ``details``)."""
    if not needs:
        return
    first = needs[0]
    more = f" (and {len(needs) - 1} more)" if len(needs) > 1 else ""
    raise InUseError(
        f"{subject} is still needed: {first.message}{more}",
        hint=first.fix,
        details=[n.to_dict() for n in needs],
    )


def audited(store: Any, actor: str, action: str, resource: str, work: Callable[[Any], T]) -> T:
    """``store.retrying(work)``; a refusal (no right, or still needed) is audited, then raised."""
    try:
        return store.retrying(work)
    except (PermissionDeniedError, InUseError) as exc:
        record_denial(store, actor, action, resource, exc)
        raise


def _run_needs(rows: list[Any], verb: str, past: str) -> list[Need]:
    """``verb``/``past``: what a live run does with it (reads), what a pinned one did (read)."""
    out = []
    for run_id, state, pinned in rows:
        if pinned:
            out.append(
                Need(
                    "pinned_run",
                    run_id,
                    f"run {run_id} is pinned and {past} it",
                    f"unpin it first: mlstudio runs unpin {run_id}",
                )
            )
        else:
            out.append(
                Need(
                    "run",
                    run_id,
                    f"run {run_id} ({state}) {verb} it",
                    f"wait for it to finish, or cancel it: mlstudio runs cancel {run_id}",
                )
            )
    return out


def dataset_needs(uow: Any, full_name: str, version: int, digest: str) -> list[Need]:
    """What needs dataset version ``full_name@version`` (whose blob is ``digest``)."""
    key = f"{full_name}@{version}"
    repo = uow.maintenance
    needs = _run_needs(repo.runs_locking("datasets", key, RUN_ACTIVE), "reads", "read")
    caches: dict[str, int] = {}
    for workflow, count in [*repo.cache_entries_from(key), *repo.cache_entries_holding(digest)]:
        caches[workflow] = caches.get(workflow, 0) + int(count)
    for workflow, count in sorted(caches.items()):
        entries = "cache entry" if count == 1 else "cache entries"
        needs.append(
            Need(
                "cache",
                workflow,
                f"{count} {entries} of {workflow} were computed from it",
                f"clear them first: mlstudio cache clear --workflow {workflow}",
            )
        )
    return needs


def module_needs(uow: Any, module: Any, version: int) -> list[Need]:
    """What needs module version ``module.full_name@version``."""
    from mlstudio.modules.service import LATEST, LATEST_ALPHA

    name = module.full_name
    needs = []
    for tag in uow.modules.list_tags(module):
        if tag.version != version:
            continue
        if tag.name == LATEST:
            fix = f"promote another version first: mlstudio module promote {name} N"
        elif tag.name == LATEST_ALPHA:
            fix = f"move it to another version first: mlstudio module tag {name} {LATEST_ALPHA} N"
        else:
            fix = f"move it first: mlstudio module tag {name} {tag.name} N"
        needs.append(Need("tag", tag.name, f"tag {tag.name} points at it", fix))
    locking = uow.maintenance.runs_locking("code", f"{name}@{version}", RUN_ACTIVE)
    needs += _run_needs(locking, "runs", "ran")
    for schedule_id, workflow in uow.maintenance.schedules_of(f"{name}/"):
        if _pinned_version(workflow) == version:
            needs.append(
                Need(
                    "schedule",
                    schedule_id,
                    f"schedule {schedule_id} starts {workflow}",
                    f"remove it first: mlstudio schedule remove {schedule_id}",
                )
            )
    return needs


def _pinned_version(workflow: str) -> int | None:
    """``V`` of ``NS/MODULE/WORKFLOW@V`` (None for a tag or no version)."""
    _, sep, version = workflow.strip().rpartition("@")
    return int(version) if sep and version.isdigit() else None
