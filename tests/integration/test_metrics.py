"""``render_metrics``: valid Prometheus text that reflects the database, on SQLite and Postgres."""

from __future__ import annotations

import math
import re
import textwrap
from datetime import timedelta

from sqlalchemy import insert

from mlstudio.core.clock import utcnow
from mlstudio.integrations.webhooks import WebhookService, emit
from mlstudio.scheduling.metrics import CONTENT_TYPE, render_metrics
from mlstudio.store.metadata.tables import task_queue

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{({_LABEL}(?:,{_LABEL})*)?\}})? (\S+)$")
_COMMENT = re.compile(rf"^# (HELP|TYPE) ({_NAME}) (.+)$")

FLOW = """
from mlstudio import task, workflow

@task
def double(x: int) -> int:
    return 2 * x

@task
def add(a: int, b: int) -> int:
    return a + b

@workflow
def calc(x: int = 1) -> int:
    return add(double(x), double(x + 1))
"""


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample line as (name, labels) -> value; fails on any malformed line."""
    assert text.endswith("\n")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        comment = _COMMENT.match(line)
        if comment:
            if comment.group(1) == "TYPE":
                assert comment.group(3) in ("gauge", "counter", "histogram"), line
                types[comment.group(2)] = comment.group(3)
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = tuple(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"{name} has no TYPE line"
        key = (name, pairs)
        assert key not in samples, f"duplicate series {key}"
        samples[key] = float(value)
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(labels.items()))]


def test_metrics_parse_and_reflect_runs_tasks_cache_queue_and_webhooks(studio, tmp_path):
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
    p = studio.platform()
    empty = parse(render_metrics(p))
    assert value(empty, "mlstudio_runs", state="succeeded") == 0
    assert value(empty, "mlstudio_queue_depth", pool="default") == 0
    assert math.isnan(value(empty, "mlstudio_cache_hit_ratio"))
    assert value(empty, "mlstudio_task_duration_seconds_count") == 0

    # two runs of the same workflow: the second is answered from the cache
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "flow.py").write_text(textwrap.dedent(FLOW))
    for _ in range(2):
        run = p.runs.submit("alice", f"{folder / 'flow.py'}:calc", {"x": "3"})
        assert p.runs.execute(run.id).state == "succeeded"
    p.runs.submit("alice", f"{folder / 'flow.py'}:calc", {"x": "4"})  # stays queued

    # queue rows: two waiting, one lost (its worker died), one claimed with a lapsed lease
    now = utcnow()
    rows = [
        ("queued", "default", None),
        ("queued", "gpu", None),
        ("lost", "default", now - timedelta(minutes=5)),
        ("claimed", "gpu", now - timedelta(seconds=30)),
        ("claimed", "gpu", now + timedelta(minutes=5)),
    ]
    with p.store.transaction() as uow:
        uow.conn.execute(
            insert(task_queue),
            [
                {
                    "run_id": run.id,
                    "task_run_id": 1000 + i,
                    "attempt": 1,
                    "pool": pool,
                    "priority": 0,
                    "dispatch": {},
                    "state": state,
                    "lease_until": lease,
                    "enqueued_at": now,
                }
                for i, (state, pool, lease) in enumerate(rows)
            ],
        )

    # a webhook whose receiver is down: one failed attempt
    svc = WebhookService(p.store)
    svc.subscribe("alice", "http://127.0.0.1:9/unreachable", ["tag.moved"])
    with p.store.transaction() as uow:
        emit(uow, "tag.moved", {"module": "a/b"})
    assert svc.deliver_once()[0]["state"] == "pending"

    text = render_metrics(p)
    m = parse(text)
    assert value(m, "mlstudio_runs", state="succeeded") == 2
    assert value(m, "mlstudio_runs", state="queued") == 1
    assert value(m, "mlstudio_runs", state="failed") == 0
    assert value(m, "mlstudio_task_runs", state="succeeded") == 3  # first run: 3 executed
    assert value(m, "mlstudio_task_runs", state="cached") == 3  # second run: 3 cache hits
    assert value(m, "mlstudio_task_runs", state="pending") == 3
    assert value(m, "mlstudio_cache_lookups_total", result="hit") == 3
    assert value(m, "mlstudio_cache_lookups_total", result="miss") == 3
    assert value(m, "mlstudio_cache_hit_ratio") == 0.5

    count = value(m, "mlstudio_task_duration_seconds_count")
    assert count == 3
    assert value(m, "mlstudio_task_duration_seconds_bucket", le="+Inf") == count
    buckets = [v for (name, _), v in m.items() if name == "mlstudio_task_duration_seconds_bucket"]
    assert buckets == sorted(buckets)  # cumulative
    assert value(m, "mlstudio_task_duration_seconds_sum") >= 0

    assert value(m, "mlstudio_queue_depth", pool="default") == 1
    assert value(m, "mlstudio_queue_depth", pool="gpu") == 1
    assert value(m, "mlstudio_queue_claimed", pool="gpu") == 2
    assert value(m, "mlstudio_lease_expiries_total") == 2
    assert value(m, "mlstudio_webhook_failures_total") == 1
    assert value(m, "mlstudio_webhook_deliveries", state="pending") == 1
    assert "# TYPE mlstudio_task_duration_seconds histogram" in text


def test_label_values_are_escaped(studio):
    p = studio.platform()
    with p.store.transaction() as uow:
        uow.conn.execute(
            insert(task_queue).values(
                run_id="run_x",
                task_run_id=1,
                attempt=1,
                pool='we"ird\\pool',
                priority=0,
                dispatch={},
                state="queued",
                enqueued_at=utcnow(),
            )
        )
    m = parse(render_metrics(p))
    assert value(m, "mlstudio_queue_depth", pool='we\\"ird\\\\pool') == 1
