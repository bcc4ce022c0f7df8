"""Running workflows through the CLI as a user would, on SQLite and on Postgres.

Every test writes a small working copy (``tmp_path/wf/flow.py``) and runs it with
``mlstudio run PATH.py:FUNCTION``; assertions are on the ``--json`` output.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.flows import states, task_of, wait_finished


def write(folder: Path, source: str, name: str = "flow.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


def wait_for_run(studio, run_id: str, deadline_s: float = 60.0) -> dict[str, Any]:
    """Poll ``runs show`` until the run is terminal (fails the test after the deadline)."""
    return wait_finished(
        lambda: studio.ok("runs", "show", run_id),
        f"run {run_id} to finish",
        deadline_s,
        every_s=0.1,
    )


# --- shapes of workflows ----------------------------------------------------------------------
def test_linear_chain_passes_each_result_on_and_shows_the_output_value(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import task, workflow

        @task
        def load(n: int) -> list[int]:
            return list(range(1, n + 1))

        @task
        def double(xs: list[int]) -> list[int]:
            return [2 * x for x in xs]

        @task
        def summarize(xs: list[int], label: str) -> dict:
            return {"label": label, "total": sum(xs), "count": len(xs)}

        @workflow
        def chain(n: int, label: str = "sum") -> dict:
            return summarize(double(load(n)), label)
        """,
    )
    run = studio.ok("run", f"{flow}:chain", "-p", "n=4", "-p", "label=doubled")
    assert run["state"] == "succeeded"
    assert run["params"] == {"n": 4, "label": "doubled"}  # coerced to the declared int
    assert states(run) == {"load": "succeeded", "double": "succeeded", "summarize": "succeeded"}
    assert all(t["attempt"] == 1 and not t["cache_hit"] for t in run["tasks"])
    assert run["output_value"] == {"label": "doubled", "total": 20, "count": 4}
    # the stored run says the same when looked at later
    shown = studio.ok("runs", "show", run["id"])
    assert shown["output_value"] == run["output_value"]
    assert shown["workflow"] == f"{flow.resolve()}:chain"
    # what a graph and a timeline need: each task's dependencies and its stored times
    assert {t["node"]: t["deps"] for t in shown["tasks"]} == {
        "load": [],
        "double": ["load"],
        "summarize": ["double"],
    }
    by = {t["node"]: t for t in shown["tasks"]}
    assert by["load"]["finished_at"] <= by["double"]["started_at"]
    assert by["double"]["finished_at"] <= by["summarize"]["started_at"]


def test_dynamic_fan_out_over_a_task_result_and_join(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import current, task, workflow

        @task
        def numbers(n: int) -> list[int]:
            return list(range(n))

        @task
        def square(x: int) -> dict:
            return {"x": x, "sq": x * x, "node": current().node_id}

        @task
        def join(items: list[dict]) -> dict:
            return {"squares": [i["sq"] for i in items], "nodes": [i["node"] for i in items]}

        @workflow
        def fan(n: int = 5) -> dict:
            return join(square.map(x=numbers(n)))
        """,
    )
    run = studio.ok("run", f"{flow}:fan", "-p", "n=5")
    assert run["state"] == "succeeded"
    children = [f"square[{i}]" for i in range(5)]
    assert states(run) == {
        "numbers": "succeeded",
        "square[*]": "succeeded",
        **dict.fromkeys(children, "succeeded"),
        "join": "succeeded",
    }
    assert all(task_of(run, c)["attempt"] == 1 for c in children)
    deps = {t["node"]: t["deps"] for t in run["tasks"]}
    assert deps["square[*]"] == ["numbers"] and deps["square[3]"] == ["numbers"]
    assert deps["join"] == ["square[*]"]
    # every child ran, with its own element, and the join got them in order
    assert run["output_value"] == {"squares": [0, 1, 4, 9, 16], "nodes": children}


def test_dynamic_fan_out_over_an_empty_list_still_joins(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import task, workflow

        @task
        def numbers(n: int) -> list[int]:
            return list(range(n))

        @task
        def square(x: int) -> int:
            return x * x

        @task
        def total(xs: list[int]) -> int:
            return sum(xs) + 100

        @workflow
        def fan(n: int = 0) -> int:
            return total(square.map(x=numbers(n)))
        """,
    )
    run = studio.ok("run", f"{flow}:fan")
    assert states(run) == {"numbers": "succeeded", "square[*]": "succeeded", "total": "succeeded"}
    assert run["output_value"] == 100


def test_static_map_over_a_list_parameter(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import task, workflow

        @task
        def scale(x: int, factor: int) -> int:
            return x * factor

        @task
        def collect(values: list[int]) -> list[int]:
            return values

        @workflow
        def static(xs: list[int], factor: int = 10) -> list[int]:
            return collect(scale.map(x=xs, factor=factor))
        """,
    )
    run = studio.ok("run", f"{flow}:static", "-p", "xs=[1, 2, 3]", "-p", "factor=3")
    assert run["state"] == "succeeded"
    # known at planning time: one node per element, no dynamic parent
    assert states(run) == {
        "scale[0]": "succeeded",
        "scale[1]": "succeeded",
        "scale[2]": "succeeded",
        "collect": "succeeded",
    }
    assert run["output_value"] == [3, 6, 9]


def test_nested_sub_workflows_are_inlined_under_their_name(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import task, workflow

        @task
        def clean(text: str) -> str:
            return text.strip().lower()

        @task
        def length(text: str) -> int:
            return len(text)

        @task
        def add(a: int, b: int) -> int:
            return a + b

        @workflow
        def measure(text: str) -> int:
            return length(clean(text))

        @workflow
        def outer(a: str = "  Hello ", b: str = "WORLD!") -> int:
            return add(measure(a), measure(b))
        """,
    )
    run = studio.ok("run", f"{flow}:outer")
    assert run["state"] == "succeeded"
    assert states(run) == {
        "measure/clean": "succeeded",
        "measure/length": "succeeded",
        "measure-2/clean": "succeeded",
        "measure-2/length": "succeeded",
        "add": "succeeded",
    }
    assert run["output_value"] == 5 + 6


def test_when_runs_the_chosen_branch_and_skips_the_other(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import task, when, workflow

        @task
        def score(x: int) -> int:
            return x * 2

        @task
        def is_good(s: int) -> bool:
            return s > 5

        @task
        def deploy(s: int) -> str:
            return f"deployed {s}"

        @task
        def announce(msg: str) -> str:
            return msg.upper()

        @task
        def alert(s: int) -> str:
            return f"alert {s}"

        @workflow
        def gate(good: int = 10, bad: int = 1) -> dict:
            g, b = score(good), score(bad)
            first = when(
                is_good(g), then=lambda: announce(deploy(g)), otherwise=lambda: alert(g)
            )
            second = when(
                is_good(b), then=lambda: announce(deploy(b)), otherwise=lambda: alert(b)
            )
            return {"first": first, "second": second}
        """,
    )
    run = studio.ok("run", f"{flow}:gate")
    assert run["state"] == "succeeded"
    s = states(run)
    # the first condition is true: its `then` chain ran, `otherwise` was skipped
    assert (s["deploy"], s["announce"], s["alert"]) == ("succeeded", "succeeded", "skipped")
    # the second is false: the whole `then` chain (and what depends on it) was skipped
    assert (s["deploy-2"], s["announce-2"], s["alert-2"]) == ("skipped", "skipped", "succeeded")
    assert run["output_value"] == {"first": "DEPLOYED 20", "second": "alert 2"}


def test_sql_task_over_a_dataset_with_pandas_and_dataset_consumers(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        import pandas as pd
        import pyarrow as pa

        from mlstudio import Dataset, sql_task, task, workflow

        # a table made from nothing is unclassified (enforced as restricted) unless declared
        @task(classify={"*": "internal"})
        def events(n: int) -> pa.Table:
            return pa.table({
                "customer": [f"c{i % 3}" for i in range(n)],
                "seats": list(range(n)),
            })

        per_customer = sql_task(
            "per_customer",
            "SELECT customer, SUM(seats) AS seats, COUNT(*) AS events "
            "FROM events GROUP BY customer ORDER BY customer",
        )

        @task
        def as_pandas(df: pd.DataFrame) -> dict:
            assert isinstance(df, pd.DataFrame), type(df)
            return {row.customer: int(row.seats) for row in df.itertuples()}

        @task
        def as_dataset(data: Dataset) -> dict:
            top = data.sql("SELECT customer FROM data ORDER BY seats DESC LIMIT 1")
            return {"columns": data.columns, "rows": data.num_rows,
                    "top": top.to_arrow().column("customer")[0].as_py()}

        @workflow
        def report(n: int = 7) -> dict:
            table = per_customer(events=events(n))
            return {"seats": as_pandas(table), "shape": as_dataset(table)}
        """,
    )
    run = studio.ok("run", f"{flow}:report")
    assert run["state"] == "succeeded", run["error"]
    assert set(states(run).values()) == {"succeeded"}
    # c0: 0+3+6, c1: 1+4, c2: 2+5
    assert run["output_value"] == {
        "seats": {"c0": 9, "c1": 5, "c2": 7},
        "shape": {"columns": ["customer", "seats", "events"], "rows": 3, "top": "c0"},
    }


def test_picklable_objects_flow_downstream(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from dataclasses import dataclass

        from mlstudio import task, workflow

        @dataclass
        class Point:
            x: float
            y: float

            def norm(self) -> float:
                return (self.x ** 2 + self.y ** 2) ** 0.5

        @task
        def make() -> dict:
            return {"pair": (1, 2), "tags": {"b", "a"}, "point": Point(3.0, 4.0)}

        @task
        def inspect_it(obj: dict) -> dict:
            return {
                "pair": [type(obj["pair"]).__name__, list(obj["pair"])],
                "tags": [type(obj["tags"]).__name__, sorted(obj["tags"])],
                "norm": obj["point"].norm(),
                "class": type(obj["point"]).__name__,
            }

        @workflow
        def objects() -> dict:
            return inspect_it(make())
        """,
    )
    run = studio.ok("run", f"{flow}:objects")
    assert run["state"] == "succeeded", run["error"]
    assert run["output_value"] == {
        "pair": ["tuple", [1, 2]],
        "tags": ["set", ["a", "b"]],
        "norm": 5.0,
        "class": "Point",
    }


def test_the_python_api_submits_executes_and_shows_a_run(studio, tmp_path):
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import task, workflow

        @task
        def inc(x: int) -> int:
            return x + 1

        @workflow
        def twice(x: int = 0) -> int:
            return inc(inc(x))
        """,
    )
    platform = studio.platform()
    try:
        record = platform.runs.submit("alice", f"{flow}:twice", {"x": "40"})
        assert record.state == "queued"
        done = platform.runs.execute(record.id)
        assert done.state == "succeeded"
        shown = platform.runs.show(record.id, actor=platform.actor)
    finally:
        platform.close()
    assert shown["output_value"] == 42
    assert states(shown) == {"inc": "succeeded", "inc-2": "succeeded"}


# --- composition across modules ---------------------------------------------------------------
LIB_MANIFEST = '[module]\nname = "team/lib"\ndescription = "shared tasks"\nowners = ["alice"]\n'
LIB_TASKS = """
from mlstudio import task, workflow

FACTOR = {factor}

@task
def scale(x: int) -> int:
    return x * FACTOR

@workflow
def scaled(x: int = 1) -> int:
    return scale(x)
"""
LIB_TEST = """
from tasks import FACTOR, scale

def test_scale():
    assert scale(2) == 2 * FACTOR
"""


def write_lib(folder: Path, factor: int) -> Path:
    write(folder, LIB_MANIFEST, "module.toml")
    write(folder, LIB_TASKS.format(factor=factor), "tasks.py")
    write(folder / "tests", LIB_TEST, "test_tasks.py")
    return folder


def test_use_pins_the_resolved_version_and_clone_keeps_it(studio, tmp_path):
    studio.ok("namespace", "create", "team")
    lib = write_lib(tmp_path / "lib", factor=10)
    assert studio.ok("module", "push", lib)["version"] == 1
    studio.ok("module", "promote", "team/lib", "1")
    flow = write(
        tmp_path / "wf",
        """
        from mlstudio import task, use, workflow

        @task
        def plus_one(x: int) -> int:
            return x + 1

        @workflow
        def composed(x: int = 2) -> int:
            lib = use("team/lib")
            return plus_one(lib.scale(x))
        """,
    )
    first = studio.ok("run", f"{flow}:composed")
    assert first["state"] == "succeeded"
    assert first["output_value"] == 21
    pinned = {k: v for k, v in first["lock"].items() if v["module"] == "team/lib"}
    assert [(v["version"], v["tag"]) for v in pinned.values()] == [(1, "latest")]
    assert task_of(first, "scale")["state"] == "succeeded"

    # a new version becomes latest
    write_lib(lib, factor=100)
    assert studio.ok("module", "push", lib)["version"] == 2
    studio.ok("module", "promote", "team/lib", "2")

    # a clone re-uses the old run's lock: still version 1, so everything is a cache hit
    clone = studio.ok("runs", "clone", first["id"])
    assert clone["parent_run_id"] == first["id"]
    assert clone["output_value"] == 21
    assert [v["version"] for v in clone["lock"].values() if v["module"] == "team/lib"] == [1]
    assert set(states(clone).values()) == {"cached"}
    # a fresh run resolves the tag again
    fresh = studio.ok("run", f"{flow}:composed")
    assert [v["version"] for v in fresh["lock"].values() if v["module"] == "team/lib"] == [2]
    assert fresh["output_value"] == 201
    # and the pushed module's own workflow runs by name, by tag or by version
    assert studio.ok("run", "team/lib/scaled", "-p", "x=3")["output_value"] == 300
    by_version = studio.ok("run", "team/lib/scaled@1", "-p", "x=3")
    assert by_version["output_value"] == 30
    assert by_version["workflow"] == "team/lib/scaled"


# --- detach and listing -----------------------------------------------------------------------
def test_detach_returns_at_once_and_the_run_finishes_in_the_background(studio, tmp_path):
    release = tmp_path / "markers" / "release"
    release.parent.mkdir()
    flow = write(
        tmp_path / "wf",
        """
        import time
        from pathlib import Path

        from mlstudio import task, workflow

        @task
        def gate(release: str) -> str:
            deadline = time.monotonic() + 30
            while not Path(release).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("never released: the CLI did not return at once")
                time.sleep(0.02)
            return "released"

        @workflow
        def background(release: str) -> str:
            return gate(release)
        """,
    )
    started = studio.ok("run", f"{flow}:background", "-p", f"release={release}", "--detach")
    # the CLI returned while the task is still blocked on the release file
    assert started["state"] == "queued" and started["detached_pid"] > 0
    assert studio.ok("runs", "show", started["id"])["state"] in ("queued", "running")
    release.write_text("go")
    done = wait_for_run(studio, started["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["output_value"] == "released"


def test_runs_list_filters_by_state_workflow_user_and_domain(studio, tmp_path):
    studio.ok("user", "add", "bob")
    studio.ok("user", "grant", "bob", "runner", "--domain", "adhoc")
    good = write(
        tmp_path / "good",
        """
        from mlstudio import task, workflow

        @task
        def one() -> int:
            return 1

        @workflow
        def fine() -> int:
            return one()
        """,
    )
    bad = write(
        tmp_path / "bad",
        """
        from mlstudio import task, workflow

        @task
        def boom() -> int:
            raise RuntimeError("no")

        @workflow
        def broken() -> int:
            return boom()
        """,
    )
    ok_run = studio.ok("run", f"{good}:fine")
    failed = studio.cli("run", f"{bad}:broken", "--domain", "adhoc", "--json", user="bob")
    assert failed.code == 1
    bad_run = failed.json
    assert bad_run["state"] == "failed"

    def ids(*args: str) -> list[str]:
        return [r["id"] for r in studio.ok("runs", "list", *args)]

    assert ids() == [bad_run["id"], ok_run["id"]]  # newest first
    assert ids("--state", "failed") == [bad_run["id"]]
    assert ids("--state", "succeeded") == [ok_run["id"]]
    assert ids("--user", "bob") == [bad_run["id"]]
    assert ids("--domain", "experimentation") == [ok_run["id"]]
    assert ids("--workflow", str(good.resolve())) == [ok_run["id"]]
    assert ids("--state", "running") == []
    assert ids("--limit", "1") == [bad_run["id"]]
    assert ids("--limit", "1", "--offset", "1") == [ok_run["id"]]
    listed = studio.ok("runs", "list", "--user", "bob")[0]
    assert listed["tasks"] == {"failed": 1}
    assert listed["domain"] == "adhoc" and listed["created_by"] == "bob"


@pytest.mark.parametrize("ref", ["nosuch/mod/wf", "nosuch/mod/wf:beta", "nosuch/mod/wf@3"])
def test_running_an_unknown_pushed_module_is_not_found(studio, ref):
    result = studio.fails("run", ref, code=3)
    assert "nosuch/mod" in result.stderr
    assert studio.ok("runs", "list") == []
