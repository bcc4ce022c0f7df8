"""The platform's own subscribers to run events: the audit log and the webhook outbox.

Both write in the transaction of the change they react to (the recorder publishes inside it).
:func:`default_bus` is the bus the platform hands every engine; other integrations subscribe to
it with one call (``platform.events.subscribe(handler, EventType)``).
"""

from __future__ import annotations

from typing import Any

from mlstudio.core.events import (
    DatasetPersisted,
    Decision,
    Event,
    EventBus,
    RunEnded,
    RunStarted,
    TaskTracked,
)


def audit(uow: Any, event: Event) -> None:
    """Every governance decision of the execution layer, and every dataset a run persisted."""
    if isinstance(event, Decision):
        uow.audit.record(
            event.actor,
            event.action,
            event.resource,
            decision=event.decision,
            details=dict(event.details),
        )
    elif isinstance(event, DatasetPersisted):
        uow.audit.record(
            event.actor,
            "data.write",
            event.ref,
            details={"run": event.run_id, "node": event.node_id, "domain": event.domain},
        )


def webhooks(uow: Any, event: Event) -> None:
    """``run.started`` / ``run.succeeded`` / ``run.failed`` / ``run.cancelled`` deliveries."""
    from mlstudio.integrations.webhooks import emit_run_event

    emit_run_event(uow, event.name, event.run_id)


def tracking(uow: Any, events: list[Event]) -> None:
    """Every finished task run becomes a tracked run (integrations.tracking.ingest); all of an
    engine step's at once."""
    from mlstudio.integrations.tracking.ingest import on_tasks_tracked

    on_tasks_tracked(uow, events)


def default_bus() -> EventBus:
    bus = EventBus()
    bus.subscribe_batch(tracking, TaskTracked)
    bus.subscribe(audit, Decision, DatasetPersisted)
    bus.subscribe(webhooks, RunStarted, RunEnded)
    return bus
