"""A cache you can trust (issue 10.1): the files a task reads are part of its cached result.

Through the CLI on SQLite and Postgres: a task that reads a file by path is recomputed when the
file changes (``--explain`` names it) and is a hit while it does not; declared ``Path``/``File``
inputs are hashed into the key; ``CachePolicy`` covers what the sandbox cannot see.
"""

from __future__ import annotations

import os

from mlstudio.testing.flows import lines, states, task_of, write_flow

POINTS = """
import pandas as pd
from mlstudio import task, workflow

@task
def total() -> int:
    mark("total")
    return int(pd.read_csv("points.csv")["x"].sum())

@workflow
def wf() -> int:
    return total()
"""


def test_a_task_reading_a_file_by_path_recomputes_when_it_changes_and_explain_names_it(
    studio, tmp_path, monkeypatch
):
    flow = write_flow(tmp_path, POINTS)
    data = tmp_path / "data"
    data.mkdir()
    points = data / "points.csv"
    points.write_text("x,y\n1,2\n3,4\n")
    monkeypatch.chdir(data)  # the task reads points.csv relative to its working directory
    first = studio.ok("run", f"{flow}:wf")
    assert (first["state"], first["output_value"]) == ("succeeded", 4)
    second = studio.ok("run", f"{flow}:wf")
    assert states(second) == {"total": "cached"} and second["output_value"] == 4
    assert len(lines(tmp_path, "total")) == 1

    points.write_text("x,y\n5,2\n3,4\n")  # same size, new content
    third = studio.ok("run", f"{flow}:wf")
    assert states(third) == {"total": "succeeded"} and third["output_value"] == 8
    assert len(lines(tmp_path, "total")) == 2
    assert task_of(first, "total")["reads"]["files"] >= 1
    shown = studio.ok("runs", "show", third["id"], "--explain")
    explain = task_of(shown, "total")["explain"]
    assert explain["compared_with_run"] == first["id"]
    [reason] = explain["reasons"]
    assert f"file {os.path.realpath(points)} changed (content sha256" in reason

    fourth = studio.ok("run", f"{flow}:wf")  # the recomputed result is the new entry
    assert states(fourth) == {"total": "cached"} and fourth["output_value"] == 8
    points.write_text("x,y\n5,2\n3,4\n")  # rewritten with the same bytes: still a hit
    assert states(studio.ok("run", f"{flow}:wf")) == {"total": "cached"}
    points.unlink()
    result = studio.cli("run", f"{flow}:wf", "--json")  # deleted: recomputed, and so it fails
    assert result.code == 1
    gone = result.json
    assert states(gone) == {"total": "failed"}
    assert "FileNotFoundError" in task_of(gone, "total")["error"]


def test_an_absent_file_appearing_or_a_listed_folder_changing_is_a_miss(studio, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.csv").write_text("a")
    config = tmp_path / "config.json"
    flow = write_flow(
        tmp_path,
        f"""
        import json
        from mlstudio import task, workflow

        @task
        def count() -> dict:
            mark("count")
            try:
                options = json.loads(open({str(config)!r}).read())
            except FileNotFoundError:
                options = {{}}
            return {{"files": len(os.listdir({str(inputs)!r})), "options": options}}

        @workflow
        def wf() -> dict:
            return count()
        """,
    )
    assert studio.ok("run", f"{flow}:wf")["output_value"] == {"files": 1, "options": {}}
    assert states(studio.ok("run", f"{flow}:wf")) == {"count": "cached"}
    (inputs / "b.csv").write_text("b")
    listed = studio.ok("run", f"{flow}:wf")
    assert listed["output_value"] == {"files": 2, "options": {}}
    reasons = task_of(studio.ok("runs", "show", listed["id"], "--explain"), "count")["explain"]
    assert reasons["reasons"] == [
        f"cached result not reused: directory {os.path.realpath(inputs)} changed (1 → 2 entries)"
    ]
    config.write_text('{"fast": true}')
    appeared = studio.ok("run", f"{flow}:wf")
    assert appeared["output_value"] == {"files": 2, "options": {"fast": True}}
    assert len(lines(tmp_path, "count")) == 3


def test_declared_file_inputs_are_hashed_into_the_key(studio, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("1\n2\n")
    flow = write_flow(
        tmp_path,
        """
        from pathlib import Path
        from mlstudio import File, task, workflow

        @task
        def size(points: Path) -> int:
            assert isinstance(points, Path)
            mark("size")
            return len(points.read_text().split())

        @task
        def first(points: File) -> str:
            assert isinstance(points, File)
            mark("first")
            return points.read_text().split()[0]

        @workflow
        def wf(points: str) -> dict:
            return {"size": size(points), "first": first(points)}
        """,
    )
    a = studio.ok("run", f"{flow}:wf", "-p", f"points={points}")
    assert a["output_value"] == {"size": 2, "first": "1"}
    points.write_text("7\n8\n9\n")
    b = studio.ok("run", f"{flow}:wf", "-p", f"points={points}")
    assert b["output_value"] == {"size": 3, "first": "7"}
    assert task_of(b, "size")["cache_key"] != task_of(a, "size")["cache_key"]
    reasons = task_of(studio.ok("runs", "show", b["id"], "--explain"), "size")["explain"]
    [reason] = reasons["reasons"]
    assert reason.startswith(f"input file points ({points}) changed (content ")
    points.write_text("1\n2\n")  # back to the first content: its entry is still there
    c = studio.ok("run", f"{flow}:wf", "-p", f"points={points}")
    assert states(c) == {"size": "cached", "first": "cached"}
    assert c["output_value"] == a["output_value"]
    assert len(lines(tmp_path, "size")) == len(lines(tmp_path, "first")) == 2


def test_cache_policies_cover_reads_the_sandbox_cannot_see(studio, tmp_path):
    version = tmp_path / "remote-version.txt"
    version.write_text("v1")
    big = tmp_path / "reference.txt"
    big.write_text("reference 1")
    flow = write_flow(
        tmp_path,
        f"""
        from datetime import timedelta
        from mlstudio import CachePolicy, task, workflow

        def remote_version(**params):
            return open({str(version)!r}).read()  # e.g. an ETag; read when the run is planned

        @task(cache=CachePolicy(key=remote_version))
        def fetch() -> str:
            mark("fetch")
            return "fetched"

        @task(cache=CachePolicy(expire=timedelta(microseconds=1)))
        def fleeting() -> int:
            mark("fleeting")
            return 1

        @task(cache=CachePolicy(reads="ignore"))
        def vouched() -> str:
            mark("vouched")
            return open({str(big)!r}).read()

        @workflow
        def wf() -> list:
            return [fetch(), fleeting(), vouched()]
        """,
    )
    studio.ok("run", f"{flow}:wf")
    big.write_text("reference 2")  # ignored by design (reads="ignore")
    again = studio.ok("run", f"{flow}:wf")
    assert states(again) == {"fetch": "cached", "fleeting": "succeeded", "vouched": "cached"}
    assert again["output_value"] == ["fetched", 1, "reference 1"]
    shown = studio.ok("runs", "show", again["id"], "--explain")
    [reason] = task_of(shown, "fleeting")["explain"]["reasons"]
    assert "expired" in reason and "CachePolicy expire=1e-06 s" in reason
    version.write_text("v2")
    third = studio.ok("run", f"{flow}:wf")
    assert states(third)["fetch"] == "succeeded"
    [reason] = task_of(studio.ok("runs", "show", third["id"], "--explain"), "fetch")["explain"][
        "reasons"
    ]
    assert reason == "CachePolicy key changed ('v1' → 'v2')"
    assert len(lines(tmp_path, "fetch")) == 2 and len(lines(tmp_path, "vouched")) == 1


def test_a_result_whose_input_changed_while_it_ran_is_not_cached(studio, tmp_path):
    counter = tmp_path / "counter.txt"
    counter.write_text("0")
    flow = write_flow(
        tmp_path,
        f"""
        from mlstudio import task, workflow

        @task
        def bump() -> int:
            path = {str(counter)!r}
            value = int(open(path).read()) + 1
            with open(path, "w") as handle:  # read, then rewritten: the read is now gone
                handle.write(str(value))
            return value

        @workflow
        def wf() -> int:
            return bump()
        """,
    )
    assert studio.ok("run", f"{flow}:wf")["output_value"] == 1
    second = studio.ok("run", f"{flow}:wf")
    assert states(second) == {"bump": "succeeded"} and second["output_value"] == 2
    assert task_of(second, "bump")["reads"]["changed_during_task"] == [os.path.realpath(counter)]
    assert studio.ok("cache", "stats")["entries"] == 0


def test_marker_files_a_task_writes_before_reading_are_outputs_not_inputs(studio, tmp_path):
    flow = write_flow(
        tmp_path,
        """
        from mlstudio import task, workflow

        @task
        def item(x: int) -> int:
            return mark("items")  # appends, then reads the file back

        @workflow
        def wf() -> list:
            return item.map(x=[1, 2, 3])
        """,
    )
    studio.ok("run", f"{flow}:wf")
    again = studio.ok("run", f"{flow}:wf")
    assert {s for n, s in states(again).items() if not n.endswith("[*]")} == {"cached"}
    assert len(lines(tmp_path, "items")) == 3
