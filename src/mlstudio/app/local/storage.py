"""The artifact store: garbage collection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstudio.app.local.base import Area

if TYPE_CHECKING:
    from mlstudio.app.views import GcView


class LocalStorage(Area):
    def gc(
        self,
        *,
        dry_run: bool = False,
        keep_runs_days: float | None = None,
        grace_hours: float = 1.0,
    ) -> GcView:
        from mlstudio.maintenance.gc import GarbageCollector

        collector = GarbageCollector(self.platform.store, self.platform.cas)
        return collector.collect(  # type: ignore[return-value]
            self.actor, dry_run=dry_run, keep_runs_days=keep_runs_days, grace_hours=grace_hours
        )
