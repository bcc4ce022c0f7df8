"""Run events: what the engine reports as it drives a run, and the bus subscribers listen on.

The engine emits events; a recorder (``mlstudio.workflows.recorder``) writes the state change
they describe and publishes them on an :class:`EventBus` *inside the same transaction*, so a
subscriber (the audit log, the webhook outbox, tracking, monitoring, ...) writes its rows
atomically with the change: a crash loses or duplicates neither. Pure: no I/O here.

Add a subscriber with one call::

    platform.events.subscribe(on_run_end, RunEnded)   # handler(uow, event)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mlstudio.core.states import RunState, TaskState


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every run event; ``name`` is what it is called in webhooks and logs
    (``run.started``, ``run.failed``, ``task.state``, ...)."""

    run_id: str
    kind: ClassVar[str] = "event"

    @property
    def name(self) -> str:
        return self.kind


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    """A run's first start (a resume emits nothing)."""

    kind: ClassVar[str] = "run.started"


@dataclass(frozen=True, slots=True)
class RunEnded(Event):
    """A run reached its terminal state (``run.succeeded`` / ``run.failed`` / ``run.cancelled``)."""

    state: RunState = RunState.SUCCEEDED
    kind: ClassVar[str] = "run.ended"

    @property
    def name(self) -> str:
        return f"run.{self.state}"


@dataclass(frozen=True, slots=True)
class TaskChanged(Event):
    """A task run changed state (pending, running, succeeded, cached, failed, ...)."""

    task_run_id: int = 0
    node_id: str = ""
    state: TaskState = TaskState.PENDING
    attempt: int = 0
    kind: ClassVar[str] = "task.state"


@dataclass(frozen=True, slots=True)
class TaskTracked(Event):
    """A task run ended (succeeded, cached, or failed for good): the facts experiment tracking
    records about it (``facts``: params, code, duration, cache hit, what the task logged)."""

    task_run_id: int = 0
    node_id: str = ""
    task: str = ""
    state: TaskState = TaskState.SUCCEEDED
    facts: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "task.tracked"


@dataclass(frozen=True, slots=True)
class CacheHit(Event):
    """A task's result was reused from the cache instead of being computed."""

    node_id: str = ""
    key: str = ""
    kind: ClassVar[str] = "task.cached"


@dataclass(frozen=True, slots=True)
class Decision(Event):
    """A governance decision the execution layer took (audited): ``action`` is ``data.read``,
    ``cache.read``, ``data.write`` or ``data.propagate``; ``decision`` is allow or deny."""

    actor: str = ""
    action: str = ""
    resource: str = ""
    decision: str = "allow"
    details: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "governance.decision"


@dataclass(frozen=True, slots=True)
class DatasetPersisted(Event):
    """A task's output table was stored as a version of a named dataset (``persist=``)."""

    node_id: str = ""
    ref: str = ""  # NS/NAME@V
    domain: str = ""
    actor: str = ""
    kind: ClassVar[str] = "dataset.persisted"


Handler = Callable[[Any, Event], None]  # (unit of work of the transaction, event)
BatchHandler = Callable[[Any, list[Event]], None]  # (unit of work, the events of one publish)


class EventBus:
    """Subscribers by event type. :meth:`publish` calls them in the caller's transaction, in
    subscription order; a subscriber that raises rolls the whole change back."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = {}
        self._batch: list[tuple[BatchHandler, tuple[type[Event], ...]]] = []

    def subscribe(self, handler: Handler, *types: type[Event]) -> Callable[[], None]:
        """Call ``handler(uow, event)`` for events of ``types`` (every event when none is
        given); returns a function that unsubscribes it."""
        chosen = types or (Event,)
        for kind in chosen:
            self._handlers.setdefault(kind, []).append(handler)

        def unsubscribe() -> None:
            for kind in chosen:
                with_it = self._handlers.get(kind, [])
                if handler in with_it:
                    with_it.remove(handler)

        return unsubscribe

    def subscribe_batch(self, handler: BatchHandler, *types: type[Event]) -> Callable[[], None]:
        """Call ``handler(uow, events)`` once per publish with all its events of ``types``
        (in order), after the per-event handlers: for subscribers that write one statement for
        many events. Returns a function that unsubscribes it."""
        entry = (handler, types or (Event,))
        self._batch.append(entry)

        def unsubscribe() -> None:
            if entry in self._batch:
                self._batch.remove(entry)

        return unsubscribe

    def wants(self, kind: type[Event]) -> bool:
        """Whether any subscriber listens to ``kind`` (lets emitters skip building events)."""
        return bool(
            self._handlers.get(kind)
            or self._handlers.get(Event)
            or any(issubclass(kind, types) for _, types in self._batch)
        )

    def publish(self, uow: Any, events: Iterable[Event]) -> None:
        events = list(events)
        everything = self._handlers.get(Event, ())
        for event in events:
            for handler in self._handlers.get(type(event), ()):
                handler(uow, event)
            for handler in everything:
                handler(uow, event)
        for handler, types in self._batch:
            chosen = [e for e in events if isinstance(e, types)]
            if chosen:
                handler(uow, chosen)
