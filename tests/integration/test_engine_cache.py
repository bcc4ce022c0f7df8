"""Deterministic caching through the CLI, on SQLite and on Postgres.

Tasks count their executions in marker files (outside the working copy, so writing them does
not change the module digest): a cache hit is a task that did not execute again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.flows import lines, states, task_of, write_flow


def executions(tmp_path: Path, name: str) -> int:
    """How many times tasks ran ``mark(name)``."""
    return len(lines(tmp_path, name))


def reasons(shown: dict[str, Any], node: str) -> list[str]:
    return task_of(shown, node)["explain"]["reasons"]


CHAIN = """
import time

from mlstudio import task, workflow

@task
def load(n: int) -> list[int]:
    mark("load")
    time.sleep(0.05)
    return list(range(n))

@task
def square(x: int) -> int:
    mark("square")
    return x * x

@task
def total(xs: list[int]) -> int:
    mark("total")
    return sum(xs)

@workflow
def pipeline(n: int = 4) -> int:
    return total(square.map(x=load(n)))
"""


def test_identical_rerun_is_fully_cached_and_stats_count_hits_and_saved_time(studio, tmp_path):
    flow = write_flow(tmp_path, CHAIN)
    first = studio.ok("run", f"{flow}:pipeline")
    assert first["state"] == "succeeded"
    tasks = [n for n in states(first) if not n.endswith("[*]")]
    assert sorted(tasks) == ["load", "square[0]", "square[1]", "square[2]", "square[3]", "total"]
    assert {states(first)[n] for n in tasks} == {"succeeded"}

    second = studio.ok("run", f"{flow}:pipeline")
    assert second["state"] == "succeeded"
    assert second["output_value"] == first["output_value"] == 0 + 1 + 4 + 9
    assert {states(second)[n] for n in tasks} == {"cached"}
    assert all(task_of(second, n)["cache_hit"] for n in tasks)
    # nothing executed again
    assert (executions(tmp_path, "load"), executions(tmp_path, "square")) == (1, 4)
    assert executions(tmp_path, "total") == 1
    # a hit carries the original compute time: that is what it saved
    for n in tasks:
        assert task_of(second, n)["cache_key"] == task_of(first, n)["cache_key"]
        assert task_of(second, n)["duration_s"] == pytest.approx(task_of(first, n)["duration_s"])

    stats = studio.ok("cache", "stats")
    workflow = f"{flow.resolve()}:pipeline"
    assert set(stats["per_workflow"]) == {workflow}
    per = stats["per_workflow"][workflow]
    assert (per["hits"], per["misses"]) == (6, 6)
    assert per["hit_ratio"] == pytest.approx(0.5)
    assert per["saved_s"] == pytest.approx(per["computed_s"], abs=0.002)
    assert per["saved_s"] >= 0.05  # load slept that long, and its hit saved it
    assert (stats["hits"], stats["misses"], stats["entries"]) == (6, 6, 6)
    assert stats["saved_s"] == per["saved_s"]


def test_changing_a_parameter_reruns_only_the_affected_tasks(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def left(a: int) -> int:
            mark("left")
            return a * 10

        @task
        def parity(b: int) -> int:
            mark("parity")
            return b % 2

        @task
        def right(b: int) -> int:
            mark("right")
            return b + 1

        @task
        def combine(x: int, y: int) -> int:
            mark("combine")
            return x + y

        @task
        def label(p: int) -> str:
            mark("label")
            return "odd" if p else "even"

        @workflow
        def split(a: int = 1, b: int = 1) -> dict:
            return {"sum": combine(left(a), right(b)), "label": label(parity(b))}
        """,
    )
    first = studio.ok("run", f"{flow}:split", "-p", "a=1", "-p", "b=1")
    assert first["output_value"] == {"sum": 12, "label": "odd"}
    second = studio.ok("run", f"{flow}:split", "-p", "a=1", "-p", "b=3")
    assert second["output_value"] == {"sum": 14, "label": "odd"}
    assert states(second) == {
        "left": "cached",  # does not depend on b
        "right": "succeeded",
        "parity": "succeeded",
        "combine": "succeeded",  # its input changed
        "label": "cached",  # parity recomputed to the same value: the key is the same
    }
    assert [executions(tmp_path, t) for t in ("left", "right", "parity", "label")] == [1, 2, 2, 1]

    shown = studio.ok("runs", "show", second["id"], "--explain")
    assert reasons(shown, "right") == ["parameter b changed (1 → 3)"]
    assert len(reasons(shown, "combine")) == 1
    assert reasons(shown, "combine")[0].startswith("input y changed")
    assert task_of(shown, "combine")["explain"]["compared_with_run"] == first["id"]
    assert "explain" not in task_of(shown, "left")  # a hit needs no explanation


def test_editing_a_task_recomputes_only_that_task_and_explain_names_it(studio, tmp_path):
    source = """
    from mlstudio import task, workflow

    @task
    def base(n: int) -> int:
        mark("base")
        return n

    @task
    def step(x: int) -> int:
        mark("step")
        return x + 1

    @workflow
    def edit(n: int = 1) -> int:
        return step(base(n))
    """
    flow = write_flow(tmp_path, source)
    first = studio.ok("run", f"{flow}:edit")
    assert first["output_value"] == 2
    assert studio.ok("run", f"{flow}:edit")["tasks"][0]["state"] == "cached"

    write_flow(tmp_path, source.replace("return x + 1", "return x + 1000"))
    edited = studio.ok("run", f"{flow}:edit")
    assert edited["output_value"] == 1001
    # each task is keyed on its own code: only the edited one recomputes
    assert states(edited) == {"base": "cached", "step": "succeeded"}
    assert (executions(tmp_path, "base"), executions(tmp_path, "step")) == (1, 2)
    old_digest = next(iter(first["lock"].values()))["digest"]
    new_digest = next(iter(edited["lock"].values()))["digest"]
    assert old_digest != new_digest  # the module version did change

    shown = studio.ok("runs", "show", edited["id"], "--explain")
    assert reasons(shown, "step") == ["code changed: function step in flow.py"]


def test_a_cache_version_bump_invalidates_that_task_only(studio, tmp_path, monkeypatch):
    # the version comes from the environment so the module's code (and digest) stays the same
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task(cache_version=os.environ.get("FEATURES_VERSION", "1"))
        def features(n: int) -> int:
            mark("features")
            return n * 2

        @task
        def other(n: int) -> int:
            mark("other")
            return n + 1

        @task
        def model(f: int, o: int) -> int:
            mark("model")
            return f + o

        @workflow
        def versioned(n: int = 5) -> int:
            return model(features(n), other(n))
        """,
    )
    monkeypatch.setenv("FEATURES_VERSION", "1")
    first = studio.ok("run", f"{flow}:versioned")
    monkeypatch.setenv("FEATURES_VERSION", "2")
    bumped = studio.ok("run", f"{flow}:versioned")
    assert bumped["output_value"] == first["output_value"] == 16
    assert states(bumped) == {"features": "succeeded", "other": "cached", "model": "cached"}
    assert executions(tmp_path, "features") == 2
    shown = studio.ok("runs", "show", bumped["id"], "--explain")
    assert reasons(shown, "features") == ["cache_version changed ('1' → '2')"]
    # going back to a version seen before is a hit again
    monkeypatch.setenv("FEATURES_VERSION", "1")
    again = studio.ok("run", f"{flow}:versioned")
    assert states(again)["features"] == "cached"


def test_recompute_never_hits_and_off_never_stores(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def stable(n: int) -> int:
            mark("stable")
            return n

        @task(cache="recompute")
        def sample(n: int) -> int:
            mark("sample")
            return n % 3

        @task
        def after_sample(s: int) -> int:
            mark("after_sample")
            return s * 10

        @task(cache="off")
        def private(n: int) -> int:
            mark("private")
            return -n

        @workflow
        def modes(n: int = 4) -> list:
            return [stable(n), after_sample(sample(n)), private(n)]
        """,
    )
    first = studio.ok("run", f"{flow}:modes")
    assert first["output_value"] == [4, 10, -4]
    second = studio.ok("run", f"{flow}:modes")
    assert second["output_value"] == [4, 10, -4]
    assert states(second) == {
        "stable": "cached",
        "sample": "succeeded",  # recompute: looked up never
        "after_sample": "cached",  # same input as before: still a hit
        "private": "succeeded",  # off: nothing stored to hit
    }
    assert [executions(tmp_path, t) for t in ("stable", "sample", "after_sample", "private")] == [
        1,
        2,
        1,
        2,
    ]
    # off never stored an entry; a default task did
    assert studio.ok("cache", "clear", "--task", "private")["removed"] == 0
    assert studio.ok("cache", "clear", "--task", "stable")["removed"] == 1


def test_no_cache_recomputes_everything_and_cache_clear_forgets(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def one(n: int) -> int:
            mark("one")
            return n + 1

        @task
        def two(x: int) -> int:
            mark("two")
            return x * 2

        @workflow
        def small(n: int = 1) -> int:
            return two(one(n))
        """,
    )
    first = studio.ok("run", f"{flow}:small")
    assert first["no_cache"] is False
    forced = studio.ok("run", f"{flow}:small", "--no-cache")
    assert forced["no_cache"] is True
    assert states(forced) == {"one": "succeeded", "two": "succeeded"}
    assert (executions(tmp_path, "one"), executions(tmp_path, "two")) == (2, 2)
    assert studio.ok("run", f"{flow}:small")["tasks"][0]["state"] == "cached"

    workflow = f"{flow.resolve()}:small"
    assert studio.ok("cache", "clear", "--workflow", "/no/such/place")["removed"] == 0
    assert studio.ok("cache", "clear", "--workflow", workflow)["removed"] == 2
    assert studio.ok("cache", "stats")["entries"] == 0
    after = studio.ok("run", f"{flow}:small")
    assert states(after) == {"one": "succeeded", "two": "succeeded"}
    assert (executions(tmp_path, "one"), executions(tmp_path, "two")) == (3, 3)
    assert after["output_value"] == first["output_value"] == 4


def test_clone_with_new_parameters_reuses_unchanged_tasks(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def prepare(rows: int) -> list[int]:
            mark("prepare")
            return list(range(rows))

        @task
        def fit(data: list[int], alpha: float) -> float:
            mark("fit")
            return sum(data) * alpha

        @workflow
        def train(rows: int = 10, alpha: float = 0.5) -> float:
            return fit(prepare(rows), alpha)
        """,
    )
    first = studio.ok("run", f"{flow}:train", "-p", "rows=4")
    assert first["output_value"] == 3.0
    clone = studio.ok("runs", "clone", first["id"], "-p", "alpha=2")
    assert clone["parent_run_id"] == first["id"]
    assert clone["trigger"] == "clone"
    assert clone["params"] == {"rows": 4, "alpha": 2.0}  # the old ones, with alpha replaced
    assert clone["workflow"] == first["workflow"]
    assert clone["lock"] == first["lock"]
    assert states(clone) == {"prepare": "cached", "fit": "succeeded"}
    assert clone["output_value"] == 12.0
    assert (executions(tmp_path, "prepare"), executions(tmp_path, "fit")) == (1, 2)
    # a bad parameter on a clone is refused like on a run, and starts nothing
    studio.fails("runs", "clone", first["id"], "-p", "alpha=lots", code=2)
    assert len(studio.ok("runs", "list")) == 2


def test_a_missing_blob_on_a_cache_hit_is_recomputed(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        import pyarrow as pa

        from mlstudio import Dataset, task, workflow

        @task(classify={"*": "internal"})
        def table(n: int) -> Dataset:
            mark("table")
            return Dataset.from_arrow(pa.table({"x": list(range(n))}))

        @task
        def rows(data: Dataset) -> int:
            mark("rows")
            return data.num_rows

        @workflow
        def blobs(n: int = 6) -> dict:
            t = table(n)
            return {"table": t, "rows": rows(t)}
        """,
    )
    first = studio.ok("run", f"{flow}:blobs")
    artifact = first["output_value"]["table"]
    assert artifact["format"] == "parquet"
    assert first["output_value"]["rows"] == 6
    digest = artifact["artifact"]
    blob = studio.home / "artifacts" / "cas" / digest[:2] / digest[2:]
    assert blob.is_file()
    blob.unlink()

    second = studio.ok("run", f"{flow}:blobs")
    assert second["state"] == "succeeded"
    # the hit was unusable: recomputed; its (identical) output keeps the next task a hit
    assert states(second) == {"table": "succeeded", "rows": "cached"}
    assert executions(tmp_path, "table") == 2
    assert executions(tmp_path, "rows") == 1
    assert blob.is_file()
    assert second["output_value"] == first["output_value"]
    shown = studio.ok("runs", "show", second["id"], "--explain")
    assert reasons(shown, "table") == [
        "same key: the cached result was unusable (missing blob, or caching was off)"
    ]
    third = studio.ok("run", f"{flow}:blobs")
    assert states(third) == {"table": "cached", "rows": "cached"}
