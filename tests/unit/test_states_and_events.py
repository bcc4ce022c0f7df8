"""The pure state enums and the run-event bus (core/states.py, core/events.py)."""

from __future__ import annotations

import json
import pickle

from mlstudio.core.events import (
    CacheHit,
    Decision,
    Event,
    EventBus,
    RunEnded,
    RunStarted,
    TaskChanged,
)
from mlstudio.core.states import (
    RUN_TERMINAL,
    TASK_BAD,
    TASK_TERMINAL,
    ResultStatus,
    RunState,
    TaskState,
)


def test_states_are_their_strings_everywhere_a_string_went():
    assert TaskState.RUNNING == "running" and hash(TaskState.RUNNING) == hash("running")
    assert f"{TaskState.UPSTREAM_FAILED}" == "upstream_failed"
    assert json.dumps({"state": RunState.CANCELLED}) == '{"state": "cancelled"}'
    assert pickle.loads(pickle.dumps(ResultStatus.LOST)) is ResultStatus.LOST
    assert "skipped" in TASK_TERMINAL and "cancelled" in TASK_BAD
    assert set(RUN_TERMINAL) == {"succeeded", "failed", "cancelled"}
    assert TaskState("cached") is TaskState.CACHED


def test_a_run_end_is_named_after_its_state():
    assert RunStarted("r").name == "run.started"
    assert RunEnded("r", RunState.FAILED).name == "run.failed"
    assert TaskChanged("r", 1, "a", TaskState.CACHED, 0).name == "task.state"


def test_subscribers_get_their_types_in_order_and_unsubscribe_with_one_call():
    bus = EventBus()
    seen: list[tuple[str, str, object]] = []
    stop_end = bus.subscribe(lambda uow, e: seen.append(("end", e.name, uow)), RunEnded)
    bus.subscribe(lambda uow, e: seen.append(("all", e.name, uow)))
    bus.subscribe(lambda uow, e: seen.append(("gov", e.action, uow)), Decision, CacheHit)
    assert bus.wants(TaskChanged)  # the catch-all subscriber wants everything

    events: list[Event] = [
        RunStarted("r"),
        Decision("r", "alice", "data.read", "run:r/a", "deny", {"domain": "x"}),
        RunEnded("r", RunState.SUCCEEDED),
    ]
    bus.publish("uow", events)
    assert seen == [
        ("all", "run.started", "uow"),
        ("gov", "data.read", "uow"),
        ("all", "governance.decision", "uow"),
        ("end", "run.succeeded", "uow"),
        ("all", "run.succeeded", "uow"),
    ]
    stop_end()
    seen.clear()
    bus.publish("uow", [RunEnded("r", RunState.FAILED)])
    assert seen == [("all", "run.failed", "uow")]


def test_a_bus_without_subscribers_wants_nothing():
    bus = EventBus()
    assert not bus.wants(TaskChanged)
    bus.publish(None, [TaskChanged("r", 1, "a", TaskState.RUNNING, 1)])  # no-op
