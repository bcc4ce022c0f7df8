"""Retraining triggers: a monitor's model alert starting a workflow run as the monitor's creator.

``monitor add … --on-alert-run WORKFLOW [--run-param K=V] [--cooldown 6h] [--max-per 3/7d]``
stores the trigger in the monitor's spec. When a run of the monitor opens a model alert (data
alerts never retrain), :func:`fire` plans the workflow as the creator, then in one transaction
(the monitor's row locked, so two evaluations count the same runs) checks the cooldown since
the last run it started and the maximum per period (both counted from the runs themselves, by
the evaluation time their ``triggered_by`` keeps, so a backfill forgets none) and the run quota
of the workflow's namespace, and records the run (trigger ``monitor``, with ``triggered_by`` =
monitor + alert + time in its plan), the alert's ``retrain`` outcome and a ``monitor.retrain``
audit event together. A refusal (permission, quota, cooldown, maximum, a workflow that no
longer plans) is recorded on the alert with its reason and never raised: the monitor's windows
and alerts stand.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from mlstudio.core.clock import iso
from mlstudio.errors import InvalidInputError, MlstudioError, PermissionDeniedError

log = logging.getLogger("mlstudio.monitoring")

TRIGGER = "monitor"  # the run's trigger (drivers take it like a schedule's run)
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str) -> int:
    """``30m``, ``6h``, ``7d``, ``2w`` (or ``0``) in seconds, or a one-line error."""
    match = _DURATION.match(str(text).strip())
    if str(text).strip() == "0":
        return 0
    if match is None:
        raise InvalidInputError(
            f"invalid {option} {text!r}", hint="use a number and a unit s, m, h, d or w, e.g. 6h"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def parse_max_per(text: str) -> tuple[int, int]:
    """``N/DURATION`` (e.g. ``3/7d``): at most N runs started in any such period."""
    count, sep, period = str(text).partition("/")
    if not sep or not count.strip().isdigit() or int(count) < 1:
        raise InvalidInputError(
            f"invalid --max-per {text!r}", hint="use N/DURATION with N >= 1, e.g. 3/7d"
        )
    seconds = parse_duration(period, "--max-per period")
    if seconds == 0:
        raise InvalidInputError(f"invalid --max-per {text!r}", hint="the period must be > 0")
    return int(count), seconds


def check_config(runs: Any, config: dict[str, Any], domain: str) -> dict[str, Any]:
    """The trigger as stored in the spec: the workflow resolves and ``params`` bind to its
    signature now (not at the first alert), and the durations parse."""
    from mlstudio.workflows.planner import parse_workflow_ref

    unknown = set(config) - {"workflow", "params", "cooldown", "max_per"}
    if unknown:
        raise InvalidInputError(
            f"unknown retrain option {', '.join(sorted(unknown))}",
            hint="use workflow, params, cooldown and max_per",
        )
    workflow = str(config.get("workflow") or "").strip()
    if not workflow:
        raise InvalidInputError(
            "--on-alert-run needs a workflow", hint="e.g. churn/propensity/train"
        )
    if ".py:" in workflow or workflow.endswith(".py") or parse_workflow_ref(workflow).path:
        raise InvalidInputError(
            f"{workflow!r} is a working copy: a trigger runs pushed workflows only",
            hint="push the module, then use NS/MODULE/WORKFLOW[:TAG|@N]",
        )
    params = dict(config.get("params") or {})
    runs.check_params(workflow, params)  # the module exists, the names and types bind
    cooldown = str(config.get("cooldown") or "6h")
    max_per = str(config.get("max_per") or "3/7d")
    count, per = parse_max_per(max_per)
    return {
        "workflow": workflow, "params": params, "domain": domain,
        "cooldown": cooldown, "cooldown_s": parse_duration(cooldown, "--cooldown"),
        "max_per": max_per, "max_runs": count, "per_s": per,
    }  # fmt: skip


def fire(
    store: Any, runs: Any, monitor: dict[str, Any], alert_id: str, when: datetime
) -> dict[str, Any]:
    """Start the monitor's retraining run for ``alert_id`` (as its creator) or record why not;
    returns the outcome recorded on the alert (``run`` or ``skipped``)."""
    from mlstudio.workflows.options import RunOptions

    config = monitor["spec"]["retrain"]
    actor = monitor["created_by"]
    base = {"workflow": config["workflow"], "at": iso(when)}
    if runs is None:  # a service opened without the run service (not the Studio's, nor a server's)
        return _skip(store, monitor, alert_id, base, "this process cannot start runs")
    try:
        prepared = runs.prepare(
            actor, config["workflow"], dict(config["params"]),
            RunOptions(domain=config["domain"], trigger=TRIGGER),
        )  # fmt: skip
    except MlstudioError as exc:
        return _skip(store, monitor, alert_id, base, exc.one_line())
    except Exception as exc:  # planning runs the workflow's code: its bug is not the monitor's
        log.exception("monitor %s: planning its retrain failed", monitor["name"])
        return _skip(
            store, monitor, alert_id, base, f"planning failed: {type(exc).__name__}: {exc}"
        )
    cause = {"monitor": monitor["name"], "alert": alert_id, "at": iso(when)}
    try:
        return store.retrying(lambda uow: _start(uow, runs, monitor, alert_id, base, prepared,
                                                 cause, when))  # fmt: skip
    except PermissionDeniedError as exc:
        runs.record_denial(prepared, exc)  # after the refused transaction rolled back
        return _skip(store, monitor, alert_id, base, exc.one_line())
    except MlstudioError as exc:
        return _skip(store, monitor, alert_id, base, exc.one_line())


def _start(
    uow: Any,
    runs: Any,
    monitor: dict[str, Any],
    alert_id: str,
    base: dict[str, Any],
    prepared: Any,
    cause: dict[str, str],
    when: datetime,
) -> dict[str, Any]:
    config = monitor["spec"]["retrain"]
    uow.monitoring.lock(monitor["id"])  # concurrent evaluations count the same runs
    started = _started(uow, monitor["name"])
    reason = _refusal(uow, config, started, prepared.namespace, when)
    if reason is not None:
        outcome = {**base, "skipped": reason}
    else:
        run = runs.record(uow, prepared, cause=cause)
        outcome = {**base, "run": run.id}
    _record(uow, monitor, alert_id, outcome)
    return outcome


def _refusal(
    uow: Any, config: dict[str, Any], started: list[datetime], namespace: str | None,
    when: datetime,
) -> str | None:  # fmt: skip
    if started and config["cooldown_s"]:
        last = max(started)
        until = last + timedelta(seconds=config["cooldown_s"])
        if when < until:
            return (f"cooldown {config['cooldown']}: the last retrain started at {iso(last)}, "
                    f"the next may start after {iso(until)}")  # fmt: skip
    since = when - timedelta(seconds=config["per_s"])
    recent = [t for t in started if t > since]
    if len(recent) >= config["max_runs"]:
        return f"max {config['max_per']} reached: {len(recent)} retrains since {iso(since)}"
    if namespace is not None:
        quota = uow.queue.run_quotas([namespace]).get(namespace)
        going = uow.queue.going_by_namespace([namespace]).get(namespace, 0)
        if quota is not None and going >= quota:
            return f"namespace quota {going}/{quota}: {namespace} runs as many runs as it may"
    return None


def _started(uow: Any, name: str) -> list[datetime]:
    """When this monitor's trigger started runs (the evaluation times kept on the runs)."""
    return [datetime.fromisoformat(at.replace("Z", "+00:00"))
            for at in uow.monitoring.retrain_times(name)]  # fmt: skip


def _record(uow: Any, monitor: dict[str, Any], alert_id: str, outcome: dict[str, Any]) -> None:
    alert = uow.monitoring.alert(alert_id)
    uow.monitoring.update_alert(alert_id, evidence={**alert["evidence"], "retrain": outcome})
    uow.audit.record(monitor["created_by"], "monitor.retrain", f"monitor:{monitor['name']}",
                     details={"alert": alert_id, **outcome})  # fmt: skip


def _skip(
    store: Any, monitor: dict[str, Any], alert_id: str, base: dict[str, Any], reason: str
) -> dict[str, Any]:
    outcome = {**base, "skipped": reason}
    log.info("monitor %s: retrain for alert %s skipped: %s", monitor["name"], alert_id, reason)
    store.retrying(lambda uow: _record(uow, monitor, alert_id, outcome))
    return outcome
