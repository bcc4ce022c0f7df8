"""Cron schedules on SQLite and Postgres: parsing, DST, catch-up, exactly-once fires, control.

The scheduler is driven by calling ``ScheduleService.tick(now)`` with a chosen ``now`` (the
server's loop calls it every second with the wall clock), so downtime, restarts and DST days are
simulated by moving ``now``; a test that needs a schedule "in the past" sets its stored
``next_fire_at`` the way a scheduler that stopped at that time would have left it. Fires start
real queued runs through ``RunService.submit``; nothing here needs to execute them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mlstudio.errors import InvalidInputError
from mlstudio.scheduling.schedules import Cron, ScheduleService
from mlstudio.store.metadata.tables import runs, schedule_fires
from mlstudio.testing.flows import working_copy


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def set_next(platform, schedule_id: str, when: datetime | None) -> None:
    """Leave the schedule as a scheduler that last ran before ``when`` would have."""
    with platform.store.transaction() as uow:
        uow.schedules.update(schedule_id, next_fire_at=when)


def fires_of(platform, schedule_id: str) -> list:
    with platform.store.read() as uow:
        q = (
            select(schedule_fires)
            .where(schedule_fires.c.schedule_id == schedule_id)
            .order_by(schedule_fires.c.tick)
        )
        return list(uow.conn.execute(q))


def scheduled_runs(platform) -> list:
    with platform.store.read() as uow:
        return list(uow.conn.execute(select(runs).where(runs.c.trigger == "schedule")))


def ticks(results: list[dict]) -> list[str]:
    return [r["tick"] for r in results if "tick" in r]


# --- parsing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 * * * *", "out of range"),
        ("* * * *", "4 fields, not 5"),
        ("* * * * * *", "6 fields, not 5"),
        ("@reboot", "unsupported cron alias"),
        ("", "empty"),
        ("every day", "2 fields"),
        ("a b c d e", "invalid cron expression"),
    ],
)
def test_bad_cron_expressions_are_refused_with_the_fix(cron, message):
    with pytest.raises(InvalidInputError) as info:
        Cron.parse(cron)
    assert message in info.value.message
    assert "5 fields" in info.value.hint


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../../etc/passwd", "/etc/localtime"])
def test_unknown_time_zones_are_refused_with_the_fix(tz):
    with pytest.raises(InvalidInputError) as info:
        Cron.parse("0 * * * *", tz)
    assert "unknown time zone" in info.value.message
    assert "Europe/Berlin" in info.value.hint


def test_aliases_and_names_are_accepted():
    assert Cron.parse("@hourly").next_after(utc(2024, 1, 1, 10, 30)) == utc(2024, 1, 1, 11)
    assert Cron.parse("0 9 * * mon-fri", "America/New_York").next_after(
        utc(2024, 1, 6)  # a Saturday
    ) == utc(2024, 1, 8, 14)  # Monday 09:00 EST


def test_cli_refuses_bad_input_and_records_nothing(studio, tmp_path):
    wf = working_copy(tmp_path)
    r = studio.fails("schedule", "add", wf, "--cron", "61 * * * *", code=2)
    assert "out of range" in r.stderr and "5 fields" in r.stderr
    r = studio.fails("schedule", "add", wf, "--cron", "0 * * * *", "--tz", "Nowhere/City", code=2)
    assert "unknown time zone 'Nowhere/City'" in r.stderr
    r = studio.fails("schedule", "add", wf, "--cron", "0 * * * *", "--catchup", "some", code=2)
    assert "none, latest, all" in r.stderr
    studio.fails("schedule", "add", "not-a-workflow", "--cron", "0 * * * *", code=2)
    studio.fails("schedule", "add", "team/app/main", "--cron", "0 * * * *", code=3)
    studio.fails("schedule", "add", wf, "--cron", "0 0 30 2 *")  # never fires
    studio.fails("schedule", "add", wf, "--cron", "0 * * * *", "-p", "bad", code=2)
    studio.fails("schedule", "add", wf, "--cron", "0 * * * *", "--domain", "mars", code=3)
    assert studio.ok("schedule", "list") == []


# --- DST --------------------------------------------------------------------------------------
def test_daily_wall_time_across_spring_forward_and_fall_back():
    cron = Cron.parse("30 2 * * *", "Europe/Berlin")
    spring = cron.between(utc(2024, 3, 29), utc(2024, 4, 2))
    # 02:30 does not exist on 31 March: it fires once, shifted by the gap (03:30 CEST)
    assert spring == [
        utc(2024, 3, 29, 1, 30),
        utc(2024, 3, 30, 1, 30),
        utc(2024, 3, 31, 1, 30),
        utc(2024, 4, 1, 0, 30),
    ]
    autumn = cron.between(utc(2024, 10, 25), utc(2024, 10, 29))
    # 02:30 happens twice on 27 October: it fires once, at the first (CEST) occurrence
    assert autumn == [
        utc(2024, 10, 25, 0, 30),
        utc(2024, 10, 26, 0, 30),
        utc(2024, 10, 27, 0, 30),
        utc(2024, 10, 28, 1, 30),
    ]
    assert cron.next_after(utc(2024, 3, 30, 1, 30)) == utc(2024, 3, 31, 1, 30)
    assert cron.next_after(utc(2024, 10, 27, 0, 30)) == utc(2024, 10, 28, 1, 30)


def test_hourly_fires_once_per_utc_hour_across_both_changes():
    cron = Cron.parse("0 * * * *", "Europe/Berlin")
    autumn = cron.between(utc(2024, 10, 26, 22), utc(2024, 10, 27, 4))
    assert autumn == [utc(2024, 10, 26, 22) + timedelta(hours=h) for h in range(7)]
    spring = cron.between(utc(2024, 3, 30, 22), utc(2024, 3, 31, 4))
    assert spring == [utc(2024, 3, 30, 22) + timedelta(hours=h) for h in range(7)]
    quarter = Cron.parse("*/15 * * * *", "Europe/Berlin")
    got = quarter.between(utc(2024, 10, 27, 0), utc(2024, 10, 27, 1, 45))
    assert got == [utc(2024, 10, 27, 0) + timedelta(minutes=15 * i) for i in range(8)]


def test_the_scheduler_fires_hourly_once_per_utc_hour_on_fall_back_day(studio, tmp_path):
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    sched = svc.add("alice", working_copy(tmp_path), "0 * * * *", tz="Europe/Berlin")
    set_next(p, sched["id"], utc(2024, 10, 26, 23))
    fired: list[str] = []
    now = utc(2024, 10, 26, 22, 50)
    while now <= utc(2024, 10, 27, 4, 10):  # the loop wakes every 10 minutes
        fired += ticks(svc.tick(now))
        now += timedelta(minutes=10)
    expected = [utc(2024, 10, 26, 23) + timedelta(hours=h) for h in range(6)]
    assert fired == [t.isoformat().replace("+00:00", "Z") for t in expected]
    assert len(scheduled_runs(p)) == 6


def test_the_scheduler_fires_a_daily_wall_time_once_on_both_dst_days(studio, tmp_path):
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    sched = svc.add("alice", working_copy(tmp_path), "30 2 * * *", tz="Europe/Berlin")
    for start, end, expected in [
        (utc(2024, 3, 30, 12), utc(2024, 4, 1, 12), ["2024-03-31T01:30:00Z", "2024-04-01T00:30:00Z"]),
        (utc(2024, 10, 26, 12), utc(2024, 10, 28, 12), ["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"]),
    ]:  # fmt: skip
        set_next(p, sched["id"], Cron.parse("30 2 * * *", "Europe/Berlin").next_after(start))
        fired: list[str] = []
        now = start
        while now <= end:
            fired += ticks(svc.tick(now))
            now += timedelta(minutes=30)
        assert fired == expected


# --- catch-up ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("catchup", "expected"),
    [
        ("none", []),
        ("latest", ["2024-01-01T13:00:00Z"]),
        (
            "all",
            [
                "2024-01-01T10:00:00Z",
                "2024-01-01T11:00:00Z",
                "2024-01-01T12:00:00Z",
                "2024-01-01T13:00:00Z",
            ],
        ),
    ],
)
def test_catchup_after_downtime(studio, tmp_path, catchup, expected):
    """The scheduler last ran before 10:00 and comes back at 13:30."""
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    sched = svc.add("alice", working_copy(tmp_path), "0 * * * *", catchup=catchup)
    set_next(p, sched["id"], utc(2024, 1, 1, 10))
    results = svc.tick(utc(2024, 1, 1, 13, 30))
    assert ticks(results) == expected
    assert all(r.get("run_id") for r in results if "tick" in r)
    if catchup != "all":
        assert results[0]["skipped_from"] == "2024-01-01T10:00:00Z"
    view = svc.get("alice", sched["id"])
    assert view["next_fire_at"] == "2024-01-01T14:00:00Z"
    assert view["last_fire_at"] == (expected[-1] if expected else None)
    assert view["runs"] == len(expected) == len(scheduled_runs(p))
    assert [f["tick"] for f in view["recent"]] == expected[::-1]
    # nothing more happens until the next tick
    assert svc.tick(utc(2024, 1, 1, 13, 59)) == []
    assert ticks(svc.tick(utc(2024, 1, 1, 14, 0, 5))) == ["2024-01-01T14:00:00Z"]


@pytest.mark.parametrize("catchup", ["none", "latest", "all"])
def test_a_tick_during_a_restart(studio, tmp_path, catchup):
    """10:00 passes while the server restarts: back at 10:00:40 the tick still fires (within the
    grace window, whatever the policy); missed by three minutes it follows the policy."""
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    wf = working_copy(tmp_path)
    quick = svc.add("alice", wf, "*/5 * * * *", catchup=catchup)
    slow = svc.add("alice", wf, "*/5 * * * *", catchup=catchup, params={"name": "late"})
    set_next(p, quick["id"], utc(2024, 1, 1, 10))
    set_next(p, slow["id"], utc(2024, 1, 1, 10))
    assert ticks(svc.tick(utc(2024, 1, 1, 9, 59, 59))) == []

    # back after 40 seconds: only the quick schedule is looked at (the slow one is "down" longer)
    with p.store.transaction() as uow:
        uow.schedules.update(slow["id"], paused=True)
    assert ticks(svc.tick(utc(2024, 1, 1, 10, 0, 40))) == ["2024-01-01T10:00:00Z"]
    with p.store.transaction() as uow:
        uow.schedules.update(slow["id"], paused=False)

    # back after three minutes
    late = svc.tick(utc(2024, 1, 1, 10, 3))
    assert ticks(late) == ([] if catchup == "none" else ["2024-01-01T10:00:00Z"])
    assert all(r["schedule_id"] == slow["id"] for r in late)
    # both fire the next tick on time, once
    on_time = svc.tick(utc(2024, 1, 1, 10, 5))
    assert sorted(r["schedule_id"] for r in on_time) == sorted([quick["id"], slow["id"]])
    assert svc.tick(utc(2024, 1, 1, 10, 5, 30)) == []
    late_runs = [r for r in scheduled_runs(p) if r.params.get("name") == "late"]
    assert len(late_runs) == (1 if catchup == "none" else 2)


def test_all_catchup_is_bounded_per_pass_and_finishes_on_the_next(studio, tmp_path, monkeypatch):
    from mlstudio.scheduling import schedules as module

    monkeypatch.setattr(module, "MAX_FIRES_PER_PASS", 3)
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    sched = svc.add("alice", working_copy(tmp_path), "*/10 * * * *", catchup="all")
    set_next(p, sched["id"], utc(2024, 1, 1, 10))
    now = utc(2024, 1, 1, 10, 55)
    first = ticks(svc.tick(now))
    second = ticks(svc.tick(now))
    assert first == ["2024-01-01T10:00:00Z", "2024-01-01T10:10:00Z", "2024-01-01T10:20:00Z"]
    assert second == ["2024-01-01T10:30:00Z", "2024-01-01T10:40:00Z", "2024-01-01T10:50:00Z"]
    assert svc.tick(now) == []


# --- exactly once -----------------------------------------------------------------------------
SCHEDULER = """
import json, os, sys, time
from datetime import datetime
from mlstudio.platform import Platform
from mlstudio.settings import Settings
from mlstudio.scheduling.schedules import ScheduleService

home, url, now, folder, name = sys.argv[1:]
platform = Platform.open(Settings(home=home, database_url=url, user="alice"), bootstrap=False)
service = ScheduleService(platform.store, platform.runs, platform.modules)
open(os.path.join(folder, name + ".ready"), "w").close()
while not os.path.exists(os.path.join(folder, "go")):
    time.sleep(0.002)
out = []
for _ in range(4):
    out += service.tick(datetime.fromisoformat(now), fired_by=name)
print(json.dumps(out))
"""


def test_two_schedulers_fire_each_tick_exactly_once(studio, tmp_path):
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    wf = working_copy(tmp_path)
    ids = []
    for i in range(4):
        sched = svc.add("alice", wf, "*/10 * * * *", catchup="all", params={"name": f"s{i}"})
        set_next(p, sched["id"], utc(2024, 1, 1, 10))
        ids.append(sched["id"])
    script = tmp_path / "scheduler.py"
    script.write_text(SCHEDULER)
    names = ["scheduler-a", "scheduler-b", "scheduler-c"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(studio.home),
                studio.database_url,
                "2024-01-01T10:55:00+00:00",
                str(tmp_path),
                name,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"{n}.ready").exists() for n in names):
        assert time.monotonic() < deadline, [p.stderr.read() for p in procs if p.poll() is not None]
        time.sleep(0.01)
    (tmp_path / "go").touch()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))

    fired = [r for report in reports for r in report]
    assert len(fired) == 4 * 6  # every tick of every schedule, once in all
    assert len({(r["schedule_id"], r["tick"]) for r in fired}) == 24
    created = scheduled_runs(p)
    assert len(created) == 24 and len({r.id for r in created}) == 24
    for sid in ids:
        rows = fires_of(p, sid)
        assert [r.tick.minute for r in rows] == [0, 10, 20, 30, 40, 50]
        assert all(r.run_id and r.error is None for r in rows)
    assert {r["run_id"] for r in fired} == {r.id for r in created}


# --- failures, pause, resume, remove ----------------------------------------------------------
def test_a_tick_whose_run_cannot_start_fires_once_and_records_why(studio, tmp_path):
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    wf = working_copy(tmp_path)
    sched = svc.add("alice", wf, "0 * * * *")
    Path(wf.rpartition(":")[0]).unlink()
    set_next(p, sched["id"], utc(2024, 1, 1, 10))
    (result,) = svc.tick(utc(2024, 1, 1, 10, 0, 1))
    assert result["run_id"] is None and "does not exist" in result["error"]
    assert svc.tick(utc(2024, 1, 1, 10, 0, 2)) == []  # not retried every second
    view = svc.get("alice", sched["id"])
    assert view["recent"][0]["error"] == result["error"]
    assert view["next_fire_at"] == "2024-01-01T11:00:00Z" and view["runs"] == 0


def test_the_creator_losing_the_runner_role_stops_runs_not_the_scheduler(studio, tmp_path):
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "experimentation")
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    sched = svc.add("bob", working_copy(tmp_path), "0 * * * *")
    studio.ok("user", "revoke", "bob", "runner", "--domain", "experimentation")
    set_next(p, sched["id"], utc(2024, 1, 1, 10))
    (result,) = svc.tick(utc(2024, 1, 1, 10, 0, 1))
    assert result["run_id"] is None and "runner" in result["error"]
    assert scheduled_runs(p) == []
    denied = studio.ok("audit", "--actor", "bob", "--action", "run.start")
    assert [(e["decision"], e["resource"]) for e in denied] == [
        ("deny", f"workflow:{working_copy(tmp_path)}")
    ]


def test_only_runners_of_the_domain_may_schedule_or_control(studio, tmp_path):
    wf = working_copy(tmp_path)
    studio.ok("user", "add", "bob")
    r = studio.fails("schedule", "add", wf, "--cron", "0 * * * *", user="bob", code=4)
    assert "runner" in r.stderr
    sched = studio.ok("schedule", "add", wf, "--cron", "0 * * * *")
    studio.fails("schedule", "pause", sched["id"], user="bob", code=4)
    studio.fails("schedule", "remove", sched["id"], user="bob", code=4)
    assert studio.ok("schedule", "list", user="bob") == []  # bob cannot view experimentation
    denied = studio.ok("audit", "--action", "schedule")
    assert {e["action"] for e in denied if e["decision"] == "deny"} >= {"schedule.add"}


def test_cli_add_list_show_pause_resume_remove(studio, tmp_path):
    wf = working_copy(tmp_path)
    added = studio.ok(
        "schedule", "add", wf, "--cron", "*/5 * * * *", "--tz", "Europe/Berlin",
        "--catchup", "latest", "-p", "name=cron", "--domain", "experimentation",
    )  # fmt: skip
    assert added["state"] == "active" and added["params"] == {"name": "cron"}
    assert added["timezone"] == "Europe/Berlin" and added["catchup"] == "latest"
    assert added["next_fire_at"].endswith("Z")
    sid = added["id"]
    p = studio.platform()
    set_next(p, sid, utc(2024, 1, 1, 10))
    ScheduleService(p.store, p.runs, p.modules).tick(utc(2024, 1, 1, 10, 0, 5))

    (row,) = studio.ok("schedule", "list")
    assert row["id"] == sid and row["runs"] == 1 and row["last_fire_at"] == "2024-01-01T10:00:00Z"
    assert row["recent"][0]["run_state"] == "queued"
    run = studio.ok("runs", "show", row["recent"][0]["run_id"])
    assert run["trigger"] == "schedule" and run["params"] == {"name": "cron"}
    assert studio.ok("schedule", "show", sid[:10])["id"] == sid

    paused = studio.ok("schedule", "pause", sid)
    assert paused["state"] == "paused" and paused["next_fire_at"] is None and paused["changed"]
    assert studio.ok("schedule", "pause", sid)["changed"] is False
    assert (
        ScheduleService(p.store, p.runs, p.modules).tick(utc(2024, 1, 1, 12)) == []
    )  # paused: nothing fires
    resumed = studio.ok("schedule", "resume", sid)
    assert resumed["state"] == "active" and resumed["changed"]
    # latest: the most recent 5-minute tick missed while paused is due at once
    due = datetime.fromisoformat(resumed["next_fire_at"].replace("Z", "+00:00"))
    assert datetime.now(UTC) - timedelta(minutes=5) <= due <= datetime.now(UTC)

    removed = studio.ok("schedule", "remove", sid)
    assert removed["state"] == "removed"
    assert studio.ok("schedule", "list") == []
    studio.fails("schedule", "show", sid, code=3)
    studio.fails("schedule", "pause", "sch_nope", code=3)
    actions = [e["action"] for e in studio.ok("audit", "--action", "schedule")]
    assert {"schedule.add", "schedule.pause", "schedule.resume", "schedule.remove"} <= set(actions)


@pytest.mark.parametrize("catchup", ["none", "latest", "all"])
def test_resume_recomputes_the_next_fire_per_catchup(studio, tmp_path, catchup):
    p = studio.platform()
    svc = ScheduleService(p.store, p.runs, p.modules)
    sched = svc.add("alice", working_copy(tmp_path), "0 * * * *", catchup=catchup)
    svc.pause("alice", sched["id"])
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    set_next(p, sched["id"], hour - timedelta(hours=3))  # paused for three ticks
    resumed = svc.resume("alice", sched["id"])
    expected = {
        "none": hour + timedelta(hours=1),
        "latest": hour,
        "all": hour - timedelta(hours=3),
    }[catchup]
    assert resumed["next_fire_at"] == expected.isoformat().replace("+00:00", "Z")
    fired = ticks(svc.tick(now))
    assert len(fired) == {"none": 0, "latest": 1, "all": 4}[catchup]
