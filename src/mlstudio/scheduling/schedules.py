"""Cron schedules: add, list, pause, resume, remove, and the scheduler's ``tick``.

**Time.** A schedule's cron expression is read in its time zone (IANA name, default UTC). Fire
times are computed by iterating the expression over *wall-clock* time with croniter and converting
each wall time to UTC with ``zoneinfo``; stored times are UTC. Across DST changes:

- a wall time skipped by spring-forward (02:30 in Europe/Berlin on the last Sunday of March) fires
  once, shifted by the gap (at 03:30 local, 01:30 UTC); a shifted time that coincides with a real
  tick (``0 * * * *``: 02:00 → 03:00) fires once;
- a wall time repeated by fall-back fires once (at its first occurrence), unless the expression
  fires every hour (hour field ``*``): then both occurrences fire, so ``0 * * * *`` fires once per
  UTC hour, as an hourly job should.

**Exactly once.** A fire row's unique key ``(schedule_id, tick)`` claims a tick. The scheduler plans
the run first (``RunService.prepare``, outside any transaction), then in one transaction: locks the
schedule (``FOR UPDATE SKIP LOCKED`` on Postgres) if its ``next_fire_at`` is still the one it read,
inserts the fire, records the queued run (``RunService.record``), and advances ``next_fire_at``.
Two schedulers, or one restarted mid-fire, therefore never fire a tick twice and never leave a
fire without its run (or a run without its fire). Scheduled runs are queued like API runs: the
server's run driver takes them to the workers. A tick whose run cannot be started (the workflow
vanished, the creator lost the runner role, bad parameters) still fires once: the fire records
the error.

**Catch-up.** Ticks that passed while no scheduler ran (server down, restart, paused schedule) are
handled per the schedule's policy when the scheduler next runs:

- ``none``: missed ticks are skipped; only ticks at most ``GRACE`` (60 s) old fire, so a brief
  restart or a late scheduler loop still fires the current tick;
- ``latest``: the most recent missed tick fires once, however old;
- ``all``: every missed tick fires, oldest first (at most ``MAX_FIRES_PER_PASS`` per pass per
  schedule; the rest follow on the next passes).
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mlstudio.core.clock import iso, utcnow
from mlstudio.core.ids import new_id, process_identity
from mlstudio.errors import InvalidInputError, MlstudioError, NotFoundError
from mlstudio.governance.domains import check_run, check_view
from mlstudio.workflows.options import RunOptions

log = logging.getLogger(__name__)

CATCHUP = ("none", "latest", "all")
GRACE = timedelta(seconds=60)
MAX_FIRES_PER_PASS = 100
TICK_INTERVAL_S = 1.0
# The largest change of a zone's UTC offset across one transition (DST shifts are 1-2 hours).
_MAX_SHIFT = timedelta(hours=3)
_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_HINT = 'use 5 fields MINUTE HOUR DAY MONTH WEEKDAY, e.g. "0 6 * * 1-5", or @hourly/@daily'
_ONE_US = timedelta(microseconds=1)


def parse_timezone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    text = (name or "").strip()
    try:
        if not text or text.startswith(("/", ".")) or ".." in text:
            raise ValueError(text)
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInputError(
            f"unknown time zone {name!r}",
            hint="use an IANA time zone name, e.g. UTC, Europe/Berlin or America/New_York",
        ) from None


@dataclass(frozen=True)
class Cron:
    """A validated cron expression in a time zone, with DST-safe UTC fire times."""

    expr: str
    tz: Any  # ZoneInfo
    every_hour: bool

    @classmethod
    def parse(cls, expr: str, timezone: str = "UTC") -> Cron:
        from croniter import croniter

        text = " ".join((expr or "").split())
        if not text:
            raise InvalidInputError("the cron expression is empty", hint=_CRON_HINT)
        if text.startswith("@"):
            if text.lower() not in _ALIASES:
                raise InvalidInputError(f"unsupported cron alias {text!r}", hint=_CRON_HINT)
            text = text.lower()
        elif len(text.split()) != 5:
            raise InvalidInputError(
                f"invalid cron expression {expr!r}: {len(text.split())} fields, not 5",
                hint=_CRON_HINT,
            )
        try:
            hours = croniter(text).expanded[1]
        except (ValueError, KeyError, TypeError) as exc:  # croniter's errors are ValueErrors
            reason = str(exc).split("\n")[0].replace(f"[{text}] ", "")
            reason = reason.replace("is not acceptable", "").strip(" ,")
            raise InvalidInputError(
                f"invalid cron expression {expr!r}" + (f": {reason}" if reason else ""),
                hint=_CRON_HINT,
            ) from None
        cron = cls(text, parse_timezone(timezone), hours == ["*"] or len(hours) == 24)
        return cron

    @property
    def _margin(self) -> timedelta:
        key = getattr(self.tz, "key", "")
        return timedelta(0) if key in ("UTC", "Etc/UTC", "GMT") else _MAX_SHIFT

    def _instants(self, local: datetime) -> tuple[datetime, ...]:
        """The UTC instants at which the wall time ``local`` fires (see the module doc)."""
        first = local.replace(tzinfo=self.tz).astimezone(UTC)
        second = local.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        if first == second:
            return (first,)
        if first.astimezone(self.tz).replace(tzinfo=None) != local:
            return (first,)  # skipped by spring-forward: fold 0 is shifted past the gap
        return (first, second) if self.every_hour else (first,)

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        """Fire instants (UTC) strictly after ``after``, ascending, each once."""
        from croniter import croniter

        margin = self._margin
        start = after.astimezone(self.tz).replace(tzinfo=None) - margin
        it = croniter(self.expr, start)
        pending: list[datetime] = []
        last: datetime | None = None
        while True:
            try:
                local = it.get_next(datetime)
            except ValueError:  # CroniterBadDateError: no further date
                break
            for instant in self._instants(local):
                if instant > after:
                    heapq.heappush(pending, instant)
            # no later wall time can map before this bound, so what is below it is final
            bound = local.replace(tzinfo=self.tz).astimezone(UTC) - margin
            while pending and pending[0] < bound:
                instant = heapq.heappop(pending)
                if instant != last:
                    last = instant
                    yield instant
        while pending:
            instant = heapq.heappop(pending)
            if instant != last:
                last = instant
                yield instant

    def next_after(self, after: datetime) -> datetime | None:
        return next(self.iter_after(after), None)

    def between(self, start: datetime, end: datetime, limit: int | None = None) -> list[datetime]:
        """Fire instants in ``[start, end]``, ascending (at most ``limit``)."""
        out: list[datetime] = []
        for instant in self.iter_after(start - _ONE_US):
            if instant > end or (limit is not None and len(out) >= limit):
                break
            out.append(instant)
        return out

    def latest_between(self, start: datetime, end: datetime) -> datetime | None:
        """The last fire instant in ``[start, end]``, searching back from ``end``."""
        for window in (
            timedelta(hours=2),
            timedelta(days=2),
            timedelta(days=35),
            timedelta(days=400),
            timedelta(days=3000),
        ):
            lower = max(start, end - window)
            found = None
            for instant in self.iter_after(lower - _ONE_US):
                if instant > end:
                    break
                found = instant
            if found is not None or lower == start:
                return found
        return None


def scheduler_identity() -> str:
    return process_identity()


class _Lost(Exception):
    """Another scheduler fired or advanced this schedule first."""


class ScheduleService:
    def __init__(self, store: Any, runs: Any, modules: Any, *, grace: timedelta = GRACE) -> None:
        """``runs``: the run service (fires plan and record runs); ``modules``: the registry."""
        self.store = store
        self.runs = runs
        self.modules = modules
        self.grace = grace

    # --- manage -------------------------------------------------------------------------------
    def add(
        self,
        actor: str,
        workflow: str,
        cron: str,
        tz: str = "UTC",
        catchup: str = "none",
        params: dict[str, Any] | None = None,
        domain: str = "experimentation",
    ) -> dict[str, Any]:
        """Schedule ``workflow``; runs start as ``actor``, who must be a runner in ``domain``."""
        if catchup not in CATCHUP:
            raise InvalidInputError(
                f"unknown catch-up policy {catchup!r}", hint="use one of: none, latest, all"
            )
        parsed = Cron.parse(cron, tz)
        reference = self._workflow_reference(workflow)
        params = dict(params or {})
        self.runs.check_params(reference, params)  # a wrong type fails now, not hourly
        now = utcnow()
        first = parsed.next_after(now)
        if first is None:
            raise InvalidInputError(
                f"the cron expression {cron!r} never fires", hint="check the day and month fields"
            )
        schedule_id = new_id("sch")

        def work(uow: Any) -> dict[str, Any]:
            check_run(uow, actor, domain, None)
            record = uow.schedules.create(
                {
                    "id": schedule_id,
                    "workflow": reference,
                    "cron": parsed.expr,
                    "timezone": parsed.tz.key,
                    "catchup": catchup,
                    "params": params,
                    "domain": domain,
                    "paused": False,
                    "next_fire_at": first,
                    "last_fire_at": None,
                    "created_by": actor,
                    "created_at": now,
                }
            )
            uow.audit.record(
                actor,
                "schedule.add",
                f"schedule:{schedule_id}",
                details={
                    "workflow": reference,
                    "cron": parsed.expr,
                    "timezone": parsed.tz.key,
                    "catchup": catchup,
                    "domain": domain,
                },
            )
            return {**record.to_dict(), "fires": 0, "runs": 0, "recent": []}

        return self._guarded(actor, "schedule.add", f"workflow:{reference}", work)

    def _workflow_reference(self, workflow: str) -> str:
        from mlstudio.workflows.planner import parse_workflow_ref

        target = parse_workflow_ref(workflow)
        if target.path is not None:  # a working copy: fire it from wherever the server runs
            return f"{target.path}:{target.workflow}"
        self.modules.resolve(target.module_ref)  # the module and tag exist
        return workflow.strip()

    def _guarded(self, actor: str, action: str, resource: str, work: Any) -> Any:
        from mlstudio.governance.audit import guarded

        return guarded(self.store, actor, action, resource, work)

    def _resolve_id(self, uow: Any, schedule_id: str) -> str:
        if uow.schedules.get(schedule_id) is not None:
            return schedule_id
        matches = uow.schedules.find(schedule_id) if len(schedule_id) >= 6 else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidInputError(
                f"{schedule_id!r} matches {len(matches)} schedules", hint="give more of the id"
            )
        raise NotFoundError(
            f"schedule {schedule_id} does not exist", hint="see: mlstudio schedule list"
        )

    def _visible_domains(self, uow: Any, actor: str) -> list[str] | None:
        from mlstudio.governance.rbac import Authorizer

        auth = Authorizer(uow.identity)
        if auth.is_admin(actor):
            return None
        return [
            d["name"]
            for d in uow.domains.list()
            if auth.has_domain_role(actor, d["name"], ("viewer", "runner"))
        ]

    def list(
        self,
        actor: str,
        *,
        workflow: str | None = None,
        recent: int = 5,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Schedules in domains the actor may view, with next and last fire and recent runs."""
        with self.store.read() as uow:
            records = uow.schedules.list(
                domains=self._visible_domains(uow, actor),
                workflow=workflow,
                limit=limit,
                offset=offset,
            )
            ids = [r.id for r in records]
            fires = uow.schedules.fires(ids, per_schedule=recent) if recent > 0 else {}
            counts = uow.schedules.fire_counts(ids)
        return [self._view(r, fires.get(r.id, []), counts.get(r.id, {})) for r in records]

    def get(self, actor: str, schedule_id: str, *, recent: int = 20) -> dict[str, Any]:
        from mlstudio.governance.audit import guarded_read

        with self.store.read() as uow:
            sid = self._resolve_id(uow, schedule_id)

        def work(uow: Any) -> dict[str, Any]:
            record = uow.schedules.get(sid)
            if record is None:
                raise NotFoundError(
                    f"schedule {sid} does not exist", hint="see: mlstudio schedule list"
                )
            check_view(uow, actor, record.domain)
            fires = uow.schedules.fires([sid], per_schedule=recent).get(sid, [])
            counts = uow.schedules.fire_counts([sid]).get(sid, {})
            return self._view(record, fires, counts)

        return guarded_read(self.store, actor, "schedule.show", f"schedule:{sid}", work)

    @staticmethod
    def _view(record: Any, fires: list[Any], counts: dict[str, int]) -> dict[str, Any]:
        return {
            **record.to_dict(),
            "fires": counts.get("fires", 0),
            "runs": counts.get("runs", 0),
            "recent": [f.to_dict() for f in fires],
        }

    def pause(self, actor: str, schedule_id: str) -> dict[str, Any]:
        """Stop firing (runners of the schedule's domain and admins); idempotent."""
        return self._control(actor, schedule_id, "pause")

    def resume(self, actor: str, schedule_id: str) -> dict[str, Any]:
        """Fire again; ticks missed while paused are handled per the catch-up policy."""
        return self._control(actor, schedule_id, "resume")

    def remove(self, actor: str, schedule_id: str) -> dict[str, Any]:
        """Delete the schedule (its runs and fire history stay)."""
        return self._control(actor, schedule_id, "remove")

    def _control(self, actor: str, schedule_id: str, action: str) -> dict[str, Any]:
        with self.store.read() as uow:
            sid = self._resolve_id(uow, schedule_id)

        def work(uow: Any) -> dict[str, Any]:
            record = uow.schedules.lock(sid)
            if record is None:
                raise NotFoundError(
                    f"schedule {sid} does not exist", hint="see: mlstudio schedule list"
                )
            check_run(uow, actor, record.domain, None)
            changed = True
            details: dict[str, Any] = {}
            if action == "remove":
                uow.schedules.delete(sid)
            elif action == "pause":
                changed = not record.paused
                if changed:
                    uow.schedules.update(sid, paused=True)
            else:
                changed = record.paused
                if changed:
                    nxt = self._resume_next(record, utcnow())
                    uow.schedules.update(sid, paused=False, next_fire_at=nxt)
                    details["next_fire_at"] = iso(nxt)
            if changed:
                uow.audit.record(actor, f"schedule.{action}", f"schedule:{sid}", details=details)
            after = uow.schedules.get(sid) if action != "remove" else record
            out = after.to_dict()
            if action == "remove":
                out["state"] = "removed"
                out["next_fire_at"] = None
            return {**out, "changed": changed}

        return self._guarded(actor, f"schedule.{action}", f"schedule:{sid}", work)

    @staticmethod
    def _resume_next(record: Any, now: datetime) -> datetime | None:
        cron = Cron.parse(record.cron, record.timezone)
        stored = record.next_fire_at
        if stored is not None and stored <= now:
            if record.catchup == "all":
                return stored  # every tick missed while paused fires (once: fires are unique)
            if record.catchup == "latest":
                latest = cron.latest_between(stored, now)
                if latest is not None:
                    return latest
        return cron.next_after(now)

    # --- the scheduler ------------------------------------------------------------------------
    def tick(
        self, now: datetime | None = None, fired_by: str | None = None
    ) -> list[dict[str, Any]]:
        """Fire every due tick (per catch-up policy) as of ``now``; returns what happened."""
        now = now or utcnow()
        fired_by = fired_by or scheduler_identity()
        with self.store.read() as uow:
            due = uow.schedules.due(now)
        out: list[dict[str, Any]] = []
        for record in due:
            try:
                out.extend(self._process(record, now, fired_by))
            except Exception:  # a broken schedule must not stop the others
                log.exception("schedule %s: tick failed; retrying on the next pass", record.id)
        return out

    def _plan_ticks(
        self, record: Any, cron: Cron, now: datetime
    ) -> tuple[list[datetime], datetime | None, bool]:
        """(ticks to fire, the next fire after them, whether missed ticks were skipped)."""
        start = record.next_fire_at
        if record.catchup == "all":
            ticks = cron.between(start, now, limit=MAX_FIRES_PER_PASS)
            return ticks, cron.next_after(ticks[-1] if ticks else now), False
        following = cron.next_after(now)
        if record.catchup == "latest":
            latest = cron.latest_between(start, now)
            ticks = [latest] if latest is not None else []
            return ticks, following, bool(ticks) and ticks[0] > start
        ticks = cron.between(max(start, now - self.grace), now)
        return ticks, following, start < now - self.grace

    def _process(self, record: Any, now: datetime, fired_by: str) -> list[dict[str, Any]]:
        cron = Cron.parse(record.cron, record.timezone)
        ticks, following, skipped = self._plan_ticks(record, cron, now)
        expected = record.next_fire_at
        out: list[dict[str, Any]] = []
        if skipped:
            out.append(
                {
                    "schedule_id": record.id,
                    "skipped_from": iso(expected),
                    "skipped_until": iso(ticks[0] if ticks else now),
                    "catchup": record.catchup,
                }
            )
        if not ticks:
            return out if self._advance(record, expected, following) else []
        for index, tick in enumerate(ticks):
            new_next = ticks[index + 1] if index + 1 < len(ticks) else following
            result = self._fire(record, tick, expected, new_next, fired_by)
            if result is None:  # another scheduler is on it
                return out if index else []
            out.append(result)
            expected = new_next
        return out

    def _advance(self, record: Any, expected: datetime, following: datetime | None) -> bool:
        with self.store.transaction() as uow:
            if uow.schedules.claim(record.id, expected) is None:
                return False
            uow.schedules.update(record.id, next_fire_at=following)
            return True

    def _fire(
        self,
        record: Any,
        tick: datetime,
        expected: datetime,
        new_next: datetime | None,
        fired_by: str,
    ) -> dict[str, Any] | None:
        from sqlalchemy import exc as sa_exc

        from mlstudio.errors import PermissionDeniedError

        outcome: dict[str, Any] = {"schedule_id": record.id, "tick": iso(tick)}
        runs = self.runs
        try:
            prepared = runs.prepare(  # planned outside the transaction
                record.created_by,
                record.workflow,
                dict(record.params),
                RunOptions(domain=record.domain, trigger="schedule"),
            )
            try:
                # the run, its fire and the schedule's advance commit together, or not at all
                with self.store.transaction() as uow:
                    if uow.schedules.claim(record.id, expected) is None:
                        raise _Lost
                    fire_id = uow.schedules.insert_fire(record.id, tick, utcnow(), fired_by)
                    run = None
                    if fire_id is not None:
                        run = runs.record(uow, prepared)
                        uow.schedules.set_fire_run(fire_id, run.id)
                        uow.schedules.update(record.id, next_fire_at=new_next, last_fire_at=tick)
                    else:  # fired before (a resume moved next_fire_at back over it)
                        outcome["duplicate"] = True
                        uow.schedules.update(record.id, next_fire_at=new_next)
            except PermissionDeniedError as exc:
                runs.record_denial(prepared, exc)  # after the fire's transaction rolled back
                raise
        except _Lost:
            return None
        except sa_exc.DBAPIError:
            raise  # the database is unwell: nothing was recorded, the next pass retries
        except MlstudioError as exc:
            return self._fire_failed(record, tick, expected, new_next, fired_by, exc.one_line())
        except Exception as exc:
            log.exception("schedule %s: starting its run failed", record.id)
            error = f"internal error: {type(exc).__name__}: {exc}"
            return self._fire_failed(record, tick, expected, new_next, fired_by, error)
        outcome["run_id"] = run.id if run is not None else None
        return outcome

    def _fire_failed(
        self,
        record: Any,
        tick: datetime,
        expected: datetime,
        new_next: datetime | None,
        fired_by: str,
        error: str,
    ) -> dict[str, Any] | None:
        """The tick fires without a run: the fire row records why (the tick is not retried)."""
        log.warning("schedule %s: tick %s fired without a run: %s", record.id, iso(tick), error)
        with self.store.transaction() as uow:
            if uow.schedules.claim(record.id, expected) is None:
                return None
            fire_id = uow.schedules.insert_fire(record.id, tick, utcnow(), fired_by, error=error)
            values: dict[str, Any] = {"next_fire_at": new_next}
            if fire_id is not None:
                values["last_fire_at"] = tick
            uow.schedules.update(record.id, **values)
        return {"schedule_id": record.id, "tick": iso(tick), "run_id": None, "error": error}


def start(
    platform: Any, stop: threading.Event, interval: float = TICK_INTERVAL_S
) -> threading.Thread:
    """Run the scheduler in a daemon thread until ``stop`` is set (the server calls this)."""
    service = ScheduleService(platform.store, platform.runs, platform.modules)
    from mlstudio.core.loops import start_every

    identity = scheduler_identity()
    return start_every(
        "mlstudio-scheduler",
        lambda: service.tick(fired_by=identity),
        stop,
        interval,
        log,
        "scheduler pass",
    )
