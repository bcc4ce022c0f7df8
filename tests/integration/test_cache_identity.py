"""Cache keys that recompute only what changed (issue 10, points 2 and 3), through the CLI on
SQLite and on Postgres: a task is keyed on its own code (what it references in its module) and
on the installed packages its code imports, and ``runs show --explain`` names what changed.

Tasks count their executions in marker files outside the module (see mlstudio.testing.flows);
a cache hit is a task that did not execute again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlstudio.testing.distributions import build_wheel, install_distribution
from mlstudio.testing.flows import (
    PRELUDE,
    lines,
    mlstudio_executable,
    states,
    task_of,
    write_flow,
)


def executions(tmp_path: Path, name: str) -> int:
    return len(lines(tmp_path, name))


def reasons(shown: dict[str, Any], node: str) -> list[str]:
    return task_of(shown, node)["explain"]["reasons"]


def explain(studio, run: dict[str, Any], node: str) -> list[str]:
    return reasons(studio.ok("runs", "show", run["id"], "--explain"), node)


PIPELINE = """
from helpers import scale
from mlstudio import task, workflow

OFFSET = 1


@task
def load(n: int) -> list[int]:
    mark("load")
    return [i + OFFSET for i in range(n)]


@task
def train(xs: list[int]) -> int:
    mark("train")
    return sum(scale(x) for x in xs)


@workflow
def pipeline(n: int = 3) -> int:
    return train(load(n))
"""

HELPERS = """
def scale(x):
    return x * 2
"""


def working_copy(tmp_path: Path, source: str = PIPELINE, helpers: str = HELPERS) -> Path:
    flow = write_flow(tmp_path, source)
    (flow.parent / "helpers.py").write_text(helpers)
    return flow


def test_a_comment_or_reformatting_of_the_module_recomputes_no_task(studio, tmp_path):
    flow = working_copy(tmp_path)
    first = studio.ok("run", f"{flow}:pipeline")
    assert first["output_value"] == 2 * (1 + 2 + 3)

    edited = flow.read_text().replace(
        "def load(n: int) -> list[int]:",
        'def load(n: int) -> list[int]:  # the rows\n    """Load n rows."""\n',
    )
    flow.write_text(edited + "\n\n# appended: a comment changes nothing a task runs\n")
    (flow.parent / "helpers.py").write_text("# scaling\n" + HELPERS.replace("x * 2", "(x  *  2)"))
    second = studio.ok("run", f"{flow}:pipeline")
    assert (
        next(iter(second["lock"].values()))["digest"]
        != next(iter(first["lock"].values()))["digest"]
    )  # the module did change
    assert states(second) == {"load": "cached", "train": "cached"}
    assert (executions(tmp_path, "load"), executions(tmp_path, "train")) == (1, 1)
    assert second["output_value"] == first["output_value"]


def test_a_helper_only_train_uses_recomputes_only_train_and_explain_names_it(studio, tmp_path):
    flow = working_copy(tmp_path)
    first = studio.ok("run", f"{flow}:pipeline")
    (flow.parent / "helpers.py").write_text(HELPERS.replace("x * 2", "x * 3"))
    second = studio.ok("run", f"{flow}:pipeline")
    assert second["output_value"] == 3 * (1 + 2 + 3)
    assert states(second) == {"load": "cached", "train": "succeeded"}
    assert (executions(tmp_path, "load"), executions(tmp_path, "train")) == (1, 2)
    shown = studio.ok("runs", "show", second["id"], "--explain")
    assert reasons(shown, "train") == ["code changed: function scale in helpers.py"]
    assert task_of(shown, "train")["explain"]["compared_with_run"] == first["id"]

    # a constant only load uses: load recomputes; train only because its input changed
    flow.write_text(flow.read_text().replace("OFFSET = 1", "OFFSET = 10"))
    third = studio.ok("run", f"{flow}:pipeline")
    assert states(third) == {"load": "succeeded", "train": "succeeded"}
    assert explain(studio, third, "load") == ["code changed: constant OFFSET in flow.py"]
    assert [r.split(" (")[0] for r in explain(studio, third, "train")] == ["input xs changed"]


def test_a_task_the_analysis_cannot_follow_is_keyed_on_its_whole_module(studio, tmp_path):
    source = """
    from mlstudio import task, workflow


    def untouched():
        return 0


    @task
    def dynamic(n: int) -> int:
        mark("dynamic")
        scope = {}
        exec("value = n * 2", {"n": n}, scope)
        return scope["value"]


    @task
    def static(n: int) -> int:
        mark("static")
        return n + untouched()


    @workflow
    def both(n: int = 2) -> list:
        return [dynamic(n), static(n)]
    """
    flow = write_flow(tmp_path, source)
    first = studio.ok("run", f"{flow}:both")
    assert first["output_value"] == [4, 2]
    # an edit to an unrelated function: the static task keeps its key, the dynamic one cannot
    flow.write_text(flow.read_text() + "\n\ndef added():\n    return 1\n")
    second = studio.ok("run", f"{flow}:both")
    assert states(second) == {"dynamic": "succeeded", "static": "cached"}
    (reason,) = explain(studio, second, "dynamic")
    assert reason.startswith("code changed (module digest ")
    assert "dynamic is keyed on its whole module: flow.py:" in reason
    assert "exec() runs or looks up code the analysis cannot see" in reason


ENV_FLOW = """
import ck_versioned

from mlstudio import task, workflow


@task
def versioned(n: int) -> str:
    mark("versioned")
    return f"{ck_versioned.VERSION}:{n}"


@task
def plain(n: int) -> int:
    mark("plain")
    return n + 1


@workflow
def envs(n: int = 1) -> dict:
    return {"v": versioned(n), "p": plain(n)}
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site folder on this process's import path (spawned workers inherit it)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("ck_versioned", None)


def test_only_the_packages_a_task_imports_count_and_explain_names_the_version(
    studio, tmp_path, site
):
    install_distribution(site, "ck-versioned", "1.0", requires=["ck-base>=1"])
    install_distribution(site, "ck-base", "1.0")
    install_distribution(site, "ck-unrelated", "1.0")
    flow = write_flow(tmp_path, ENV_FLOW)
    first = studio.ok("run", f"{flow}:envs")
    assert first["output_value"] == {"v": "1.0:1", "p": 2}

    # installing or upgrading anything the tasks do not import: every entry stays a hit
    install_distribution(site, "ck-unrelated", "2.0")
    install_distribution(site, "ck-fresh", "0.1")
    second = studio.ok("run", f"{flow}:envs")
    assert states(second) == {"versioned": "cached", "plain": "cached"}

    # the imported package changes version: its task recomputes, the other stays a hit
    install_distribution(site, "ck-versioned", "2.0", requires=["ck-base>=1"])
    third = studio.ok("run", f"{flow}:envs")
    assert states(third) == {"versioned": "succeeded", "plain": "cached"}
    assert third["output_value"] == {"v": "2.0:1", "p": 2}
    assert explain(studio, third, "versioned") == ["environment changed: ck-versioned 1.0 → 2.0"]

    # a package it requires counts too (the closure over Requires-Dist)
    install_distribution(site, "ck-base", "1.1")
    fourth = studio.ok("run", f"{flow}:envs")
    assert states(fourth) == {"versioned": "succeeded", "plain": "cached"}
    assert explain(studio, fourth, "versioned") == ["environment changed: ck-base 1.0 → 1.1"]
    assert (executions(tmp_path, "versioned"), executions(tmp_path, "plain")) == (3, 1)


def _pushed_module(tmp_path: Path, helpers: str = HELPERS, extra: str = "") -> Path:
    folder = tmp_path / "ident"
    folder.mkdir(exist_ok=True)
    (tmp_path / "markers").mkdir(exist_ok=True)
    (folder / "module.toml").write_text(
        '[module]\nname = "churn/ident"\ndescription = "per-task identity"\n'
    )
    prelude = PRELUDE.replace("@MARKERS@", repr(str(tmp_path / "markers")))
    (folder / "tasks.py").write_text(prelude + PIPELINE + extra)
    (folder / "helpers.py").write_text(helpers)
    return folder


def test_a_pushed_version_stores_each_tasks_identity_and_unchanged_tasks_hit(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = _pushed_module(tmp_path)
    assert studio.ok("module", "push", folder, "--no-tests")["version"] == 1
    tasks = {
        t["name"]: t for t in studio.ok("module", "show", "churn/ident@1")["selected"]["tasks"]
    }
    assert set(tasks["train"]["code_identity"]["parts"]) >= {"tasks.py:train", "helpers.py:scale"}
    assert "helpers.py:scale" not in tasks["load"]["code_identity"]["parts"]
    assert "code_identity" not in tasks["pipeline"]  # a workflow has no cache key
    first = studio.ok("run", "churn/ident/pipeline@1")
    assert first["output_value"] == 12

    _pushed_module(tmp_path, extra="\n# v2: only a comment\n")
    assert studio.ok("module", "push", folder, "--no-tests")["version"] == 2
    second = studio.ok("run", "churn/ident/pipeline@2")
    assert states(second) == {"load": "cached", "train": "cached"}

    _pushed_module(tmp_path, helpers=HELPERS.replace("x * 2", "x * 5"))
    assert studio.ok("module", "push", folder, "--no-tests")["version"] == 3
    third = studio.ok("run", "churn/ident/pipeline@3")
    assert states(third) == {"load": "cached", "train": "succeeded"}
    assert third["output_value"] == 30
    assert explain(studio, third, "train") == ["code changed: function scale in helpers.py"]
    # going back to version 1 is a hit for both again
    assert set(states(studio.ok("run", "churn/ident/pipeline@1")).values()) == {"cached"}


WHEEL_TASKS = """
import ck_wheel

from mlstudio import task, workflow


@task
def pinned(n: int) -> str:
    mark("pinned")
    return f"{ck_wheel.VERSION}:{n}"


@task
def plain(n: int) -> int:
    mark("plain")
    return n * 2


@workflow
def both(n: int = 1) -> dict:
    return {"pinned": pinned(n), "plain": plain(n)}
"""


def run_apart(studio, workflow: str) -> dict[str, Any]:
    """``mlstudio run`` in a process of its own: planning a module with requirements puts its
    environment's site-packages on the planning process's ``sys.path`` for good (and spawned
    workers inherit it), so two environments planned in one process would shadow each other."""
    proc = subprocess.run(
        [mlstudio_executable(), "run", workflow, "--json"],
        env={**os.environ, **studio.env()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_module_with_requirements_is_keyed_on_its_environments_packages(studio, tmp_path):
    """The module's uv environment (built offline from a local wheel) is resolved like the
    host: a new pin of the package a task imports is a miss that names both versions."""
    studio.ok("namespace", "create", "churn")
    folder = tmp_path / "pinned"
    folder.mkdir()
    (tmp_path / "markers").mkdir()
    prelude = PRELUDE.replace("@MARKERS@", repr(str(tmp_path / "markers")))
    (folder / "tasks.py").write_text(prelude + WHEEL_TASKS)

    def push(version: str) -> dict[str, Any]:
        wheel = build_wheel(tmp_path / f"wheels-{version}", "ck-wheel", version)
        (folder / "module.toml").write_text(
            '[module]\nname = "churn/pinned"\ndescription = "pins a local wheel"\n'
            f'requirements = ["ck-wheel @ {wheel.as_uri()}"]\n'
        )
        return studio.ok("module", "push", folder, "--no-tests")

    assert push("1.0")["version"] == 1
    first = run_apart(studio, "churn/pinned/both@1")
    assert first["output_value"] == {"pinned": "1.0:1", "plain": 2}
    assert push("2.0")["version"] == 2
    second = run_apart(studio, "churn/pinned/both@2")
    assert second["output_value"] == {"pinned": "2.0:1", "plain": 2}
    assert states(second) == {"pinned": "succeeded", "plain": "cached"}
    assert explain(studio, second, "pinned") == ["environment changed: ck-wheel 1.0 → 2.0"]
