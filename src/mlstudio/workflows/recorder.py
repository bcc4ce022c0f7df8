"""The run recorder: the one place that writes what the engine decided in a step.

The engine collects a step's writes in :class:`PendingWrites` (task-run changes, cache entries,
datasets to register, events) and hands them to :meth:`RunRecorder.write` inside the step's
transaction; the recorder applies them and publishes the events to the bus's subscribers in
that same transaction, so a state change and everything that reacts to it (audit rows, webhook
outbox rows, ...) commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlstudio.core.events import DatasetPersisted, Event, EventBus


@dataclass
class PendingWrites:
    """What one engine step will write (cleared in place once written)."""

    changes: list[dict[str, Any]] = field(default_factory=list)  # task-run id + columns to set
    cache_rows: list[dict[str, Any]] = field(default_factory=list)
    hits: list[str] = field(default_factory=list)  # cache keys reused
    stale: list[str] = field(default_factory=list)  # cache keys whose blob is gone
    datasets: list[dict[str, Any]] = field(default_factory=list)  # versions to register
    events: list[Event] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.changes
            or self.cache_rows
            or self.hits
            or self.stale
            or self.datasets
            or self.events
        )

    def clear(self) -> None:
        for part in (
            self.changes,
            self.cache_rows,
            self.hits,
            self.stale,
            self.datasets,
            self.events,
        ):
            part.clear()


class RunRecorder:
    def __init__(self, bus: EventBus | None = None) -> None:
        self.bus = bus or EventBus()

    def write(self, uow: Any, pending: PendingWrites) -> None:
        """Apply ``pending`` in ``uow``'s transaction and publish its events there; clears it."""
        if pending.changes:
            uow.runs.update_task_runs(pending.changes)
        events = list(pending.events)
        for values in pending.datasets:
            record = uow.datasets.create_version(values)
            source = values["source"]
            events.append(
                DatasetPersisted(
                    source["run_id"],
                    node_id=source["node"],
                    ref=record.ref,
                    domain=record.domain,
                    actor=values["created_by"],
                )
            )
        if events:
            self.bus.publish(uow, events)
        if pending.cache_rows:
            uow.runs.cache_put(pending.cache_rows)
        if pending.hits:
            uow.runs.cache_hits(pending.hits)
        if pending.stale:
            uow.runs.cache_delete(pending.stale)
        pending.clear()

    def publish(self, uow: Any, *events: Event) -> None:
        """Publish run-level events written by the caller in ``uow`` (a run's start or end)."""
        self.bus.publish(uow, events)
