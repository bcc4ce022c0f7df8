"""Bad input and faults: each one through the CLI, on SQLite and on Postgres.

Nothing here sleeps and hopes: tasks leave marker files (outside the working copy) and the tests
wait for them, or for a run state, with a deadline.
"""

from __future__ import annotations

import json
from typing import Any

from mlstudio.testing.flows import (
    kill_group,
    lines,
    pid_alive,
    start_mlstudio,
    states,
    task_of,
    wait_until,
    write_flow,
)


def run_failing(studio, *args: str) -> dict[str, Any]:
    """``mlstudio run`` of a run that fails: exit 1, the run's JSON on stdout."""
    result = studio.cli("run", *args, "--json")
    assert result.code == 1, (result.code, result.stderr)
    data = result.json
    assert data["state"] == "failed"
    return data


# --- failures inside tasks --------------------------------------------------------------------
def test_a_raising_task_fails_the_run_and_the_independent_branch_finishes(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def boom(x: int) -> int:
            print("about to fail on", x)
            raise ValueError(f"bad value {x}")

        @task
        def after(x: int) -> int:
            mark("after")
            return x

        @task
        def independent(x: int) -> int:
            mark("independent")
            return x + 1

        @task
        def downstream(x: int) -> int:
            return x * 2

        @workflow
        def faulty(x: int = 7) -> dict:
            return {"a": after(boom(x)), "b": downstream(independent(x))}
        """,
    )
    run = run_failing(studio, f"{flow}:faulty")
    assert states(run) == {
        "boom": "failed",
        "after": "upstream_failed",
        "independent": "succeeded",
        "downstream": "succeeded",
    }
    assert task_of(run, "boom")["error"] == "ValueError: bad value 7"
    assert "upstream failed: boom" in task_of(run, "after")["error"]
    assert "boom" in run["error"] and "bad value 7" in run["error"]
    assert run["output_value"] is None
    assert lines(tmp_path, "after") == []  # never executed

    logs = studio.ok("runs", "logs", run["id"], "--task", "boom")
    assert [(e["node"], e["attempt"]) for e in logs] == [("boom", 1)]
    text = logs[0]["text"]
    assert "about to fail on 7" in text  # the task's own output
    assert "Traceback (most recent call last)" in text
    assert "flow.py" in text and 'raise ValueError(f"bad value {x}")' in text
    assert "mlstudio/workflows" not in text  # only the user's frames
    studio.fails("runs", "logs", run["id"], "--task", "nosuch", code=3)


def test_fail_fast_cancels_the_rest(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def boom() -> int:
            raise RuntimeError("broken")

        @task
        def slow() -> int:
            mark("slow.started", str(os.getpid()))
            block(60)
            mark("slow.finished")
            return 1

        @task
        def after_slow(x: int) -> int:
            mark("after_slow")
            return x

        @workflow
        def fast(x: int = 1) -> dict:
            return {"boom": boom(), "slow": after_slow(slow())}
        """,
    )
    run = run_failing(studio, f"{flow}:fast", "--fail-fast")
    assert run["fail_fast"] is True
    assert "fail-fast" in run["error"]
    assert states(run) == {"boom": "failed", "slow": "cancelled", "after_slow": "cancelled"}
    assert lines(tmp_path, "slow.finished") == [] and lines(tmp_path, "after_slow") == []
    started = lines(tmp_path, "slow.started")
    if started:  # it had reached a worker: that process was killed
        wait_until(lambda: not pid_alive(int(started[0])), "the slow task's process to die")


def test_retries_back_off_and_succeed_on_the_third_attempt(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import current, task, workflow

        @task(retries=2, retry_delay=0.2)
        def flaky() -> int:
            attempt = mark("flaky", repr(time.time()))
            print("attempt", current().attempt)
            if attempt < 3:
                raise ConnectionError(f"transient failure {attempt}")
            return attempt

        @task(retries=1, retry_delay=0.01)
        def hopeless() -> int:
            mark("hopeless")
            raise RuntimeError("always")

        @workflow
        def retrying() -> dict:
            return {"flaky": flaky(), "hopeless": hopeless()}
        """,
    )
    run = run_failing(studio, f"{flow}:retrying")
    flaky = task_of(run, "flaky")
    assert (flaky["state"], flaky["attempt"], flaky["error"]) == ("succeeded", 3, None)
    hopeless = task_of(run, "hopeless")
    assert (hopeless["state"], hopeless["attempt"]) == ("failed", 2)
    assert hopeless["error"] == "RuntimeError: always"
    assert len(lines(tmp_path, "hopeless")) == 2  # retries + 1 attempts, no more
    # the delay doubles: at least 0.2 s before attempt 2, at least 0.4 s before attempt 3
    t1, t2, t3 = (float(t) for t in lines(tmp_path, "flaky"))
    assert t2 - t1 >= 0.2 * 0.95
    assert t3 - t2 >= 0.4 * 0.95
    # each attempt has its own log
    logs = studio.ok("runs", "logs", run["id"], "--task", "flaky")
    assert [e["attempt"] for e in logs] == [1, 2, 3]
    assert "transient failure 1" in logs[0]["text"] and "attempt 1" in logs[0]["text"]
    assert "transient failure 2" in logs[1]["text"]
    assert "attempt 3" in logs[2]["text"] and "Traceback" not in logs[2]["text"]


def test_a_task_exceeding_its_timeout_is_killed_and_fails(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task(timeout=0.5)
        def hangs() -> int:
            mark("hangs.started", str(os.getpid()))
            block(60)
            mark("hangs.finished")
            return 1

        @task
        def fine() -> int:
            return 42

        @workflow
        def timed() -> dict:
            return {"hangs": hangs(), "fine": fine()}
        """,
    )
    run = run_failing(studio, f"{flow}:timed")
    hangs = task_of(run, "hangs")
    assert hangs["state"] == "failed"
    assert "timed out after 0.5s" in hangs["error"]
    assert task_of(run, "fine")["state"] == "succeeded"
    pid = int(lines(tmp_path, "hangs.started")[0])
    assert not pid_alive(pid)  # its worker process was killed
    assert lines(tmp_path, "hangs.finished") == []


def test_a_dying_worker_fails_its_task_and_the_engine_carries_on(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        import signal

        from mlstudio import task, workflow

        @task
        def dies() -> int:
            os._exit(9)

        @task(retries=1, retry_delay=0.01)
        def dies_once() -> int:
            if mark("dies_once") == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            return 5

        @task
        def after(x: int) -> int:
            return x

        @task
        def fine(x: int) -> int:
            return x + 1

        @workflow
        def crashy() -> dict:
            return {"dies": after(dies()), "once": fine(dies_once()), "fine": fine(1)}
        """,
    )
    run = run_failing(studio, f"{flow}:crashy")
    dies = task_of(run, "dies")
    assert dies["state"] == "failed"
    assert "worker process died" in dies["error"] and "exit code 9" in dies["error"]
    assert task_of(run, "after")["state"] == "upstream_failed"
    once = task_of(run, "dies_once")
    assert (once["state"], once["attempt"]) == ("succeeded", 2)
    assert len(lines(tmp_path, "dies_once")) == 2
    assert (task_of(run, "fine")["state"], task_of(run, "fine-2")["state"]) == (
        "succeeded",
        "succeeded",
    )
    # the next run works on fresh workers
    again = studio.cli("run", f"{flow}:crashy", "--json").json
    assert task_of(again, "dies_once")["state"] == "cached"


def test_an_output_that_cannot_be_serialized_fails_the_task(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def gives_lambda() -> object:
            return lambda: 1

        @task
        def gives_generator() -> object:
            return (i for i in range(3))

        @task
        def consumer(x: object) -> int:
            return 1

        @workflow
        def unserializable() -> list:
            return [consumer(gives_lambda()), gives_generator()]
        """,
    )
    run = run_failing(studio, f"{flow}:unserializable")
    assert states(run) == {
        "gives_lambda": "failed",
        "gives_generator": "failed",
        "consumer": "upstream_failed",
    }
    lam, gen = task_of(run, "gives_lambda"), task_of(run, "gives_generator")
    assert "type function cannot be serialized" in lam["error"]
    assert "type generator cannot be serialized" in gen["error"]
    assert lam["attempt"] == 1


# --- bad input: rejected before anything runs -------------------------------------------------
PARAMS_FLOW = """
from mlstudio import task, workflow

@task
def first(n: int) -> int:
    mark("first")
    return n

@workflow
def typed(n: int, ratio: float = 0.5, flag: bool = False, names: str = "") -> int:
    return first(n)
"""


def test_a_parameter_of_the_wrong_type_is_refused_and_no_run_is_created(studio, tmp_path):
    flow = write_flow(tmp_path, PARAMS_FLOW)
    result = studio.fails("run", f"{flow}:typed", "-p", "n=abc", code=2)
    assert "n='abc' is not an int" in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_parameter"
    # every problem is listed at once
    result = studio.fails(
        "run", f"{flow}:typed", "-p", "n=1.5", "-p", "ratio=x", "-p", "flag=maybe", code=2
    )
    details = json.loads(result.stdout)["error"]["details"]
    assert len(details) == 3
    assert any(d.startswith("n=") for d in details)
    assert any(d.startswith("ratio=") for d in details)
    assert any(d.startswith("flag=") for d in details)
    result = studio.fails("run", f"{flow}:typed", code=2)
    assert "missing parameter n" in result.stderr
    studio.fails("run", f"{flow}:typed", "-p", "no equals sign", code=2)
    assert studio.ok("runs", "list") == []
    assert lines(tmp_path, "first") == []


def test_an_unknown_parameter_is_refused_naming_it(studio, tmp_path):
    flow = write_flow(tmp_path, PARAMS_FLOW)
    result = studio.fails("run", f"{flow}:typed", "-p", "n=1", "-p", "colour=red", code=2)
    assert "unknown parameter(s) colour" in result.stderr
    assert "typed takes: n, ratio, flag, names" in result.stderr
    assert studio.ok("runs", "list") == []
    result = studio.fails("run", f"{flow}:nosuch", code=3)
    assert "no workflow 'nosuch'" in result.stderr and "typed" in result.stderr


def test_an_invalid_workflow_is_rejected_with_every_problem_listed(studio, tmp_path):
    studio.ok("namespace", "create", "team")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "module.toml").write_text('[module]\nname = "team/lib"\nowners = ["alice"]\n')
    (lib / "tasks.py").write_text(
        "from mlstudio import task\n\n\n@task\ndef scale(x: int) -> int:\n    return x * 2\n"
    )
    studio.ok("module", "push", lib, "--no-tests")
    studio.ok("module", "tag", "team/lib", "stable", "1")
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import Dataset, task, use, workflow

        @task
        def word() -> str:
            mark("word")
            return "w"

        @task
        def count_rows(data: Dataset) -> int:
            return data.num_rows

        @task
        def double(n: int) -> int:
            return n * 2

        @task
        def pair(a: int, b: int) -> int:
            return a + b

        @workflow
        def invalid() -> list:
            w = word()
            return [
                pair(a=1),                                  # missing argument b
                count_rows(w),                              # str where a Dataset is expected
                double(w),                                  # str where an int is expected
                use("team/nosuch").scale(1),                # unknown module
                use("team/lib:nosuchtag").scale(1),         # unknown tag
                use("team/lib:stable").nosuchtask(1),       # unknown task in a used module
                use("team/lib:stable").scale(1),            # fine
            ]
        """,
    )
    result = studio.fails("run", f"{flow}:invalid", code=2)
    assert "6 problem(s)" in result.stderr and "nothing was run" in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_workflow"
    details = error["details"]
    assert len(details) == 6, details
    assert any("pair" in d and "missing a required argument: 'b'" in d for d in details)
    assert any("count_rows" in d and "expects Dataset but word returns str" in d for d in details)
    assert any("double" in d and "expects int but word returns str" in d for d in details)
    assert any("team/nosuch" in d and "does not exist" in d for d in details)
    assert any("nosuchtag" in d for d in details)
    assert any("nosuchtask" in d and "it has: scale" in d for d in details)
    assert studio.ok("runs", "list") == []
    assert lines(tmp_path, "word") == []


# --- control: cancel, kill -9 and resume ------------------------------------------------------
CANCELLABLE = """
from mlstudio import task, workflow

@task
def long_job() -> int:
    mark("long.started", str(os.getpid()))
    block(60)
    mark("long.finished")
    return 1

@task
def next_step(x: int) -> int:
    mark("next")
    return x

@workflow
def cancellable() -> int:
    return next_step(long_job())
"""


def test_cancelling_a_running_run_kills_its_task(studio, tmp_path):
    flow = write_flow(tmp_path, CANCELLABLE)
    started = studio.ok("run", f"{flow}:cancellable", "--detach")
    wait_until(lambda: lines(tmp_path, "long.started"), "the task to start")
    pid = int(lines(tmp_path, "long.started")[0])
    assert studio.ok("runs", "show", started["id"])["state"] == "running"

    cancel = studio.ok("runs", "cancel", started["id"])
    assert cancel["cancel_requested"] is True
    assert cancel["state"] in ("cancelling", "cancelled")
    wait_until(
        lambda: studio.ok("runs", "show", started["id"])["state"] == "cancelled",
        "the run to be cancelled",
    )
    wait_until(lambda: not pid_alive(pid), "the task's process to be killed")
    shown = studio.ok("runs", "show", started["id"])
    assert states(shown) == {"long_job": "cancelled", "next_step": "cancelled"}
    assert lines(tmp_path, "long.finished") == [] and lines(tmp_path, "next") == []
    # a finished run can be neither cancelled nor resumed
    result = studio.fails("runs", "cancel", started["id"], code=5)
    assert "already cancelled" in result.stderr
    studio.fails("runs", "resume", started["id"], code=5)


def test_an_engine_whose_run_was_taken_over_stops_and_overwrites_nothing(
    studio, platform, tmp_path, monkeypatch
):
    """An engine that stalled past its heartbeat and lost its run to another process (a
    driver's takeover, a cancel) finds out at its next heartbeat and stops: the run stays as
    the new holder has it, and the stopped engine's tasks are killed."""
    import threading

    from mlstudio.core.clock import utcnow
    from mlstudio.workflows import engine as engine_module
    from mlstudio.workflows.executors.base import ExecutorStopped

    monkeypatch.setattr(engine_module, "HEARTBEAT_S", 0.1)
    flow = write_flow(tmp_path, CANCELLABLE)
    run = platform.runs.submit("alice", f"{flow}:cancellable", {})
    executor = platform.runs.make_executor("local")
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["state"] = platform.runs.engine(executor).drive(run.id)
        except ExecutorStopped as exc:
            outcome["stopped"] = str(exc)
        finally:
            executor.shutdown()

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    wait_until(lambda: lines(tmp_path, "long.started"), "the task to start")
    pid = int(lines(tmp_path, "long.started")[0])
    with platform.store.transaction() as uow:  # another process takes the run over
        uow.runs.update_run(run.id, engine_id="elsewhere:1", heartbeat_at=utcnow())
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "state" not in outcome and "no longer driven by" in outcome["stopped"]
    record = platform.runs.get(run.id)
    assert (record.state, record.engine_id) == ("running", "elsewhere:1")
    wait_until(lambda: not pid_alive(pid), "the stopped engine's task to be killed")
    assert lines(tmp_path, "long.finished") == []


def test_kill_9_of_the_engine_then_resume_finishes_without_redoing_work(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def first(x: int) -> int:
            mark("first")
            return x + 1

        @task
        def second(x: int) -> int:
            if mark("second") == 1:  # the first attempt blocks until the engine is killed
                mark("second.blocked", str(os.getpid()))
                block(120)
            return x * 10

        @task
        def third(x: int) -> int:
            mark("third")
            return x + 5

        @workflow
        def durable(x: int = 1) -> int:
            return third(second(first(x)))
        """,
    )
    proc = start_mlstudio("run", f"{flow}:durable", "--json", env=studio.env())
    try:
        wait_until(lambda: lines(tmp_path, "second.blocked"), "the second task to start")
    finally:
        kill_group(proc)  # the engine and its workers
    worker = int(lines(tmp_path, "second.blocked")[0])
    wait_until(lambda: not pid_alive(worker), "the killed worker to be gone")

    [run] = studio.ok("runs", "list")
    assert run["state"] == "running"  # nobody got to record anything else
    shown = studio.ok("runs", "show", run["id"])
    assert states(shown) == {"first": "succeeded", "second": "running", "third": "pending"}

    resumed = studio.ok("runs", "resume", run["id"])
    assert resumed["id"] == run["id"]
    assert resumed["state"] == "succeeded"
    assert resumed["output_value"] == (1 + 1) * 10 + 5
    assert states(resumed) == {"first": "succeeded", "second": "succeeded", "third": "succeeded"}
    assert task_of(resumed, "first")["attempt"] == 1
    assert task_of(resumed, "second")["attempt"] == 2  # the lost attempt, then the new one
    # completed work was not redone
    assert len(lines(tmp_path, "first")) == 1
    assert len(lines(tmp_path, "second")) == 2
    assert len(lines(tmp_path, "third")) == 1
    # and it cannot be resumed twice
    result = studio.fails("runs", "resume", run["id"], code=5)
    assert "already succeeded" in result.stderr


def test_resume_of_a_finished_run_is_refused(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def only() -> int:
            return 1

        @workflow
        def done() -> int:
            return only()
        """,
    )
    run = studio.ok("run", f"{flow}:done")
    result = studio.fails("runs", "resume", run["id"], code=5)
    assert f"run {run['id']} already succeeded" in result.stderr
    assert "mlstudio runs clone" in result.stderr  # the way forward
    assert studio.ok("runs", "show", run["id"])["state"] == "succeeded"


def test_show_of_an_unknown_run_is_not_found(studio):
    result = studio.fails("runs", "show", "run_doesnotexist", code=3)
    assert "run_doesnotexist does not exist" in result.stderr
    studio.fails("runs", "logs", "run_doesnotexist", code=3)
    studio.fails("runs", "cancel", "run_doesnotexist", code=3)
    studio.fails("runs", "resume", "run_doesnotexist", code=3)
    studio.fails("runs", "clone", "run_doesnotexist", code=3)
