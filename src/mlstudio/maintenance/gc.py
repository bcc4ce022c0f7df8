"""``mlstudio gc [--dry-run] [--keep-runs-days N] [--grace-hours H]``: remove blobs nothing needs.

A blob of the artifact store is **kept** when any metadata row references it:

- every module version (its archive) and every dataset version (its Parquet blob);
- every cache entry (its stored output);
- every task attempt still queued or on a worker (its dispatched code and inputs);
- every *kept* run: its plan (code archives, working copies, dataset inputs, constants), its
  output and its tasks' outputs. Every run is kept, unless ``--keep-runs-days N`` is given:
  then a finished run older than N days that is not pinned is not kept (its outputs are
  released; its record, logs and audit trail stay), while runs still going and pinned runs
  always are.

References are found by reading every digest-shaped string in those rows (conservative: a
string that merely looks like a digest keeps a blob, never the other way round).

**Concurrent pushes and runs.** The store is listed first, the references are read after, and
only blobs last written before ``now - grace`` (default one hour) are deleted. A writer that
finds its blob already stored refreshes it (:mod:`mlstudio.store.artifacts.cas`), so a blob a
push or run has just written or re-used and is about to reference is younger than the grace
period and stays. The check of each blob's age is repeated at the moment it is deleted. The
grace period must exceed the longest time between a write and the commit that references it
(a push runs its module's tests in between; their timeout is ``MLSTUDIO_TEST_TIMEOUT_S``).

Admins only; every run is audited (``gc.run``, with the counts and the digests removed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from mlstudio.core.clock import iso, utcnow
from mlstudio.core.hashing import is_digest
from mlstudio.errors import InvalidInputError, PermissionDeniedError
from mlstudio.governance.rbac import Authorizer, record_denial
from mlstudio.workflows.records import RUN_ACTIVE

DEFAULT_GRACE_HOURS = 1.0
AUDITED_DIGESTS = 1000  # at most this many removed digests are listed in the audit event


def digests_in(value: Any) -> Iterator[str]:
    """Every digest-shaped string anywhere in a JSON value."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) == 64 and is_digest(item):
                yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def check_options(keep_runs_days: float | None, grace_hours: float) -> None:
    if keep_runs_days is not None and keep_runs_days < 0:
        raise InvalidInputError(
            f"--keep-runs-days {keep_runs_days:g} is negative",
            hint="give a number of days of 0 or more (0: keep only runs still going or pinned)",
        )
    if grace_hours < 0:
        raise InvalidInputError(
            f"--grace-hours {grace_hours:g} is negative",
            hint=f"give 0 or more hours (default {DEFAULT_GRACE_HOURS:g})",
        )


class GarbageCollector:
    def __init__(self, store: Any, cas: Any) -> None:
        self.store = store
        self.cas = cas

    def collect(
        self,
        actor: str,
        *,
        dry_run: bool = False,
        keep_runs_days: float | None = None,
        grace_hours: float = DEFAULT_GRACE_HOURS,
    ) -> dict[str, Any]:
        check_options(keep_runs_days, grace_hours)
        try:
            with self.store.read() as uow:
                Authorizer(uow.identity).require_admin(actor, "collect garbage (mlstudio gc)")
        except PermissionDeniedError as exc:
            record_denial(self.store, actor, "gc.run", "artifacts", exc)
            raise
        started = utcnow()
        cutoff = started - timedelta(hours=grace_hours)
        runs_cutoff = (
            started - timedelta(days=keep_runs_days) if keep_runs_days is not None else None
        )

        listed = list(self.cas.blobs())  # first the store, then the references (see above)
        kept, released, expired = self._references(runs_cutoff)

        referenced = [(d, o) for d, o in listed if d in kept]
        unreferenced = [(d, o) for d, o in listed if d not in kept]
        old = [(d, o) for d, o in unreferenced if o.modified < cutoff]
        recent = [(d, o) for d, o in unreferenced if o.modified >= cutoff]
        removed: list[tuple[str, Any]] = []
        if dry_run:
            removed = old
        else:
            removed = [(d, o) for d, o in old if self.cas.delete_if_unmodified(d, cutoff)]
        from_runs = sum(1 for d, _ in removed if d in released)
        report = {
            "dry_run": dry_run,
            "grace_hours": grace_hours,
            "keep_runs_days": keep_runs_days,
            "started_at": iso(started),
            "scanned": _tally(listed),
            "referenced": _tally(referenced),
            "recent": _tally(recent),
            "removed": {
                **_tally(removed),
                "unreferenced": len(removed) - from_runs,
                "expired_run_outputs": from_runs,
            },
            "expired_runs": expired,
        }
        digests = sorted(d for d, _ in removed)
        with self.store.transaction() as uow:
            uow.audit.record(
                actor,
                "gc.run",
                "artifacts",
                details={
                    **report,
                    "digests": digests[:AUDITED_DIGESTS],
                    "digests_truncated": len(digests) > AUDITED_DIGESTS,
                },
            )
        return report

    def _references(self, runs_cutoff: datetime | None) -> tuple[set[str], set[str], int]:
        """``(kept, released, expired)``: digests something kept references, digests only runs
        past retention referenced, and how many runs are past retention."""
        kept: set[str] = set()
        released: set[str] = set()
        expired_ids: set[str] = set()
        with self.store.read() as uow:
            repo = uow.maintenance
            kept.update(d for d in repo.version_digests() if d)
            for output in repo.cache_outputs():
                kept.update(digests_in(output))
            for dispatch, result in repo.queued_work():
                kept.update(digests_in(dispatch))
                kept.update(digests_in(result))
            pinned = repo.pinned_ids()
            for run in repo.run_rows():
                refs = _run_digests(run)
                if _kept(run, pinned, runs_cutoff):
                    kept.update(refs)
                else:
                    expired_ids.add(run.id)
                    released.update(refs)
            for run_id, output in repo.task_outputs():
                (released if run_id in expired_ids else kept).update(digests_in(output))
        return kept, released - kept, len(expired_ids)


def _kept(run: Any, pinned: set[str], cutoff: datetime | None) -> bool:
    if cutoff is None or run.state in RUN_ACTIVE or run.id in pinned:
        return True
    ended = run.finished_at or run.created_at
    return ended is None or ended >= cutoff


def _run_digests(run: Any) -> set[str]:
    return {*digests_in(run.plan), *digests_in(run.output)}


def _tally(items: Iterable[tuple[str, Any]]) -> dict[str, int]:
    count = size = 0
    for _, obj in items:
        count += 1
        size += obj.size
    return {"blobs": count, "bytes": size}
