"""Per-task code identity: what a task's key covers of its module's code, and the fail-safe
fallbacks to the whole module."""

from __future__ import annotations

import textwrap

import pytest

from mlstudio.modules.code_identity import TaskLocation, task_identities

TASKS = """
import numpy as np

from helpers import clean
from mlstudio import task, workflow

LIMIT = 3


def cap(x):
    return min(x, LIMIT)


def unused(x):
    return x - 1


@task
def load(n: int) -> list[int]:
    return [cap(i) for i in range(n)]


@task
def train(xs: list[int]) -> float:
    from sklearn.linear_model import LinearRegression

    return float(np.mean(clean(xs)))


@workflow
def pipeline(n: int = 3) -> float:
    return train(load(n))
"""

HELPERS = """
def clean(xs):
    return [x for x in xs if x is not None]
"""


def identities(files: dict[str, str], tasks=("load", "train"), entry="tasks.py") -> dict:
    raw = {path: textwrap.dedent(text).encode() for path, text in files.items()}
    return task_identities(raw, [TaskLocation(t, entry, t) for t in tasks], [entry])


def module(**changes: str) -> dict[str, str]:
    files = {"tasks.py": TASKS, "helpers.py": HELPERS}
    files.update({k.replace("__", "."): v for k, v in changes.items()})
    return files


def digests(files: dict[str, str], tasks=("load", "train")) -> dict[str, str]:
    out = identities(files, tasks)
    for identity in out.values():
        assert "whole_module" not in identity, identity
    return {name: identity["digest"] for name, identity in out.items()}


BASE = digests(module())


def test_a_task_covers_its_function_and_what_it_references_transitively():
    found = identities(module())
    assert set(found["load"]["parts"]) == {
        "tasks.py:load",
        "tasks.py:cap",
        "tasks.py:LIMIT",
        "tasks.py:task",
    }
    assert found["load"]["parts"]["tasks.py:cap"].startswith("function:")
    assert found["load"]["parts"]["tasks.py:LIMIT"].startswith("constant:")
    assert set(found["train"]["parts"]) == {
        "tasks.py:train",
        "tasks.py:np",
        "tasks.py:clean",
        "tasks.py:task",
        "helpers.py:clean",
    }
    assert found["load"]["imports"] == []
    assert found["train"]["imports"] == ["numpy", "sklearn"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s + "\n# a comment at the end\n",
        lambda s: s.replace("def cap(x):", "# capping\ndef cap(x):  # inline\n\n"),
        lambda s: s.replace(
            "return min(x, LIMIT)", "return min(\n        x,\n        LIMIT,\n    )"
        ),
        lambda s: s.replace(
            "def load(n: int) -> list[int]:", 'def load(n: int) -> list[int]:\n    """Docs."""'
        ),
        lambda s: s.replace("return x - 1", "return x - 2"),  # a function no task uses
    ],
    ids=["comment", "inline comments", "formatting", "docstring", "unused function"],
)
def test_edits_that_do_not_change_what_a_task_runs_keep_every_identity(edit):
    assert digests(module(tasks__py=edit(TASKS))) == BASE


def test_a_helper_only_train_uses_changes_only_train():
    changed = digests(module(helpers__py=HELPERS.replace("is not None", "is not None and x")))
    assert changed["load"] == BASE["load"]
    assert changed["train"] != BASE["train"]


def test_a_constant_reached_through_a_helper_changes_the_task():
    changed = digests(module(tasks__py=TASKS.replace("LIMIT = 3", "LIMIT = 4")))
    assert changed["load"] != BASE["load"]
    assert changed["train"] == BASE["train"]


def test_an_annotation_counts():
    changed = digests(module(tasks__py=TASKS.replace("def load(n: int)", "def load(n: float)")))
    assert changed["load"] != BASE["load"]


def test_module_attributes_and_packages_are_followed():
    files = {
        "tasks.py": """
            import helpers
            from pkg.util import twice
            from mlstudio import task

            @task
            def run(x: int) -> int:
                return helpers.inc(twice(x))
        """,
        "helpers.py": "def inc(x):\n    return x + 1\n\ndef other():\n    return 0\n",
        "pkg/__init__.py": "",
        "pkg/util.py": "from .base import ONE\n\ndef twice(x):\n    return 2 * x * ONE\n",
        "pkg/base.py": "ONE = 1\n",
    }
    found = identities(files, tasks=("run",))["run"]
    assert {"helpers.py:inc", "pkg/util.py:twice", "pkg/util.py:ONE", "pkg/base.py:ONE"} <= set(
        found["parts"]
    )
    assert "helpers.py:other" not in found["parts"]
    before = found["digest"]
    files["pkg/base.py"] = "ONE = 2\n"
    assert identities(files, tasks=("run",))["run"]["digest"] != before


def test_top_level_code_and_side_effect_imports_count_for_every_task():
    seeded = TASKS.replace("LIMIT = 3", "LIMIT = 3\nnp.random.seed(0)")
    first = digests(module(tasks__py=seeded))
    second = digests(module(tasks__py=seeded.replace("seed(0)", "seed(1)")))
    assert first["load"] != second["load"] and first["train"] != second["train"]
    registering = identities(module(tasks__py="import pandas_plugin\n" + TASKS))
    assert registering["load"]["imports"] == ["pandas_plugin"]


def test_imports_skip_the_standard_library_and_mlstudio_but_datasets_bring_their_packages():
    files = {
        "tasks.py": """
            import json
            import os.path
            from mlstudio import Dataset, task

            @task
            def rows(data: Dataset) -> str:
                return json.dumps(os.path.join("a", "b"))
        """
    }
    assert identities(files, tasks=("rows",))["rows"]["imports"] == ["duckdb", "pandas"]


def test_a_registered_function_counts_for_a_task_that_uses_the_registry():
    source = """
        from mlstudio import task

        REGISTRY = {}

        def register(fn):
            REGISTRY[fn.__name__] = fn
            return fn

        @register
        def gbm(x):
            return x * 2

        @task
        def fit(kind: str, x: int) -> int:
            return REGISTRY[kind](x)

        @task
        def other(x: int) -> int:
            return x
    """
    before = identities({"tasks.py": source}, tasks=("fit", "other"))
    after = identities({"tasks.py": source.replace("x * 2", "x * 3")}, tasks=("fit", "other"))
    assert "tasks.py:gbm" in before["fit"]["parts"]
    assert before["fit"]["digest"] != after["fit"]["digest"]
    assert before["other"]["digest"] == after["other"]["digest"]


def test_a_subclass_counts_for_a_task_that_uses_its_base_but_not_the_other_way():
    source = """
        from mlstudio import task

        class Base:
            pass

        class Fast(Base):
            speed = 1

        class Slow(Base):
            speed = 0

        @task
        def kinds() -> list[str]:
            return [c.__name__ for c in Base.__subclasses__()]

        @task
        def fast() -> int:
            return Fast.speed
    """
    before = identities({"tasks.py": source}, tasks=("kinds", "fast"))
    assert {"tasks.py:Fast", "tasks.py:Slow"} <= set(before["kinds"]["parts"])
    assert "tasks.py:Slow" not in before["fast"]["parts"]
    after = identities({"tasks.py": source.replace("speed = 0", "speed = 5")}, ("kinds", "fast"))
    assert after["kinds"]["digest"] != before["kinds"]["digest"]
    assert after["fast"]["digest"] == before["fast"]["digest"]


def test_tasks_sharing_a_decorator_alias_do_not_include_each_other():
    source = """
        from mlstudio import task

        cached_task = task(cache="default")

        @cached_task
        def one() -> int:
            return 1

        @cached_task
        def two() -> int:
            return 2
    """
    before = identities({"tasks.py": source}, tasks=("one", "two"))
    after = identities({"tasks.py": source.replace("return 2", "return 3")}, ("one", "two"))
    assert after["one"]["digest"] == before["one"]["digest"]
    assert after["two"]["digest"] != before["two"]["digest"]


def test_data_files_count_for_every_task_and_docs_do_not():
    with_data = module(points__csv="x\n1\n", README__md="# hi\n")
    first = digests(with_data)
    assert digests({**with_data, "points.csv": "x\n2\n"}) != first
    assert digests({**with_data, "README.md": "# changed\n"}) == first
    assert digests({**with_data, "module.toml": '[module]\nname = "a/b"\n'}) == first


def test_a_file_that_reads_docstrings_keeps_them():
    source = """
        from mlstudio import task

        def helper():
            "Say this."

        @task
        def say() -> str:
            return helper.__doc__
    """
    before = identities({"tasks.py": source}, ("say",))["say"]["digest"]
    after = identities({"tasks.py": source.replace("Say this.", "Say that.")}, ("say",))
    assert after["say"]["digest"] != before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('exec("y = 1")', "exec() runs or looks up code"),
        ('eval("1")', "eval() runs or looks up code"),
        ('globals()["cap"](1)', "globals() runs or looks up code"),
        ('importlib.import_module("math")', "uses importlib.import_module"),
        ('subprocess.run(["python", "script.py"])', "uses subprocess.run"),
        ('getattr(sys.modules[__name__], "cap")(1)', "uses sys.modules"),
        ("helpers.missing(1)", "helpers.missing is not defined at the top of helpers.py"),
    ],
    ids=["exec", "eval", "globals", "importlib", "subprocess", "sys.modules", "unknown attribute"],
)
def test_what_the_analysis_cannot_follow_falls_back_to_the_whole_module(body, reason):
    source = f"""
        import importlib
        import subprocess
        import sys

        import helpers
        from mlstudio import task

        def cap(x):
            return x

        @task
        def dynamic() -> int:
            {body}
            return 1

        @task
        def plain() -> int:
            return cap(2)
    """
    found = identities({"tasks.py": source, "helpers.py": HELPERS}, ("dynamic", "plain"))
    assert reason in found["dynamic"]["whole_module"]
    assert found["dynamic"]["whole_module"].startswith(("tasks.py:", "line "))
    assert found["dynamic"]["imports"] is None  # every installed package counts
    assert "parts" in found["plain"]


def test_a_star_import_of_a_module_file_and_a_broken_file_fall_back():
    star = {
        "tasks.py": "from helpers import *\nfrom mlstudio import task\n\n@task\ndef t() -> int:\n"
        "    return len(clean([1]))\n",
        "helpers.py": HELPERS,
    }
    assert "star import of helpers" in identities(star, ("t",))["t"]["whole_module"]
    broken = {
        "tasks.py": "import helpers\nfrom mlstudio import task\n\n@task\ndef t() -> int:\n"
        "    return helpers.clean([1])\n",
        "helpers.py": "def clean(:\n",
    }
    assert "helpers.py cannot be parsed" in identities(broken, ("t",))["t"]["whole_module"]


def test_recursion_and_mutual_references_terminate():
    source = """
        from mlstudio import task

        def even(n):
            return n == 0 or odd(n - 1)

        def odd(n):
            return n != 0 and even(n - 1)

        @task
        def parity(n: int) -> bool:
            return even(n)
    """
    parts = identities({"tasks.py": source}, ("parity",))["parity"]["parts"]
    assert {"tasks.py:even", "tasks.py:odd"} <= set(parts)


def test_string_annotations_are_followed():
    source = """
        from mlstudio import task

        class Config:
            size = 1

        @task
        def sized(c: "Config") -> int:
            return 1
    """
    assert "tasks.py:Config" in identities({"tasks.py": source}, ("sized",))["sized"]["parts"]


def test_a_task_bound_by_assignment_is_keyed_on_that_statement():
    """SQL tasks are ``name = sql_task("name", "SELECT …")``: the SQL is their code."""
    source = """
        from mlstudio import sql_task

        totals = sql_task("totals", "SELECT customer_id, sum(x) AS x FROM t GROUP BY 1")
        other = sql_task("other", "SELECT 1 AS one")
    """
    tasks = [
        TaskLocation("totals", "tasks.py", "totals"),
        TaskLocation("other", "tasks.py", "other"),
    ]
    before = task_identities({"tasks.py": textwrap.dedent(source).encode()}, tasks, ["tasks.py"])
    assert before["totals"]["parts"]["tasks.py:totals"].startswith("constant:")
    edited = textwrap.dedent(source).replace("sum(x)", "max(x)").encode()
    after = task_identities({"tasks.py": edited}, tasks, ["tasks.py"])
    assert after["totals"]["digest"] != before["totals"]["digest"]
    assert after["other"]["digest"] == before["other"]["digest"]


def test_introspection_names_the_binding_a_task_is_found_under():
    from mlstudio.modules.code_identity import identities_of_definitions

    source = b"from mlstudio import task\n\n@task(name='renamed')\ndef fn() -> int:\n    return 1\n"
    definitions = [
        {"name": "renamed", "kind": "task", "file": "tasks.py", "attr": "fn", "line": 3},
        {"name": "flow", "kind": "workflow", "file": "tasks.py", "attr": "flow", "line": 9},
    ]
    found = identities_of_definitions({"tasks.py": source}, definitions)
    assert set(found) == {"renamed"}
    assert "tasks.py:fn" in found["renamed"]["parts"]


def test_a_failure_of_the_analysis_itself_falls_back_instead_of_failing(monkeypatch):
    from mlstudio.modules import code_identity

    def broken(self, task):
        raise RuntimeError("unexpected tree")

    monkeypatch.setattr(code_identity._Closure, "task", broken)
    found = identities(module())
    assert found["load"] == {
        "whole_module": "the code analysis failed (RuntimeError: unexpected tree)",
        "imports": None,
    }


def test_a_top_level_mutation_of_another_files_object_counts_for_every_task():
    files = {
        "tasks.py": """
            import helpers
            import limits
            from mlstudio import task

            @task
            def capped(x: int) -> int:
                return helpers.cap(x)
        """,
        "helpers.py": "LIMIT = 3\n\ndef cap(x):\n    return min(x, LIMIT)\n",
        "limits.py": "import helpers\n\nhelpers.LIMIT = 5\n",
    }
    before = identities(files, ("capped",))["capped"]
    assert "limits.py:<top-level code>" in before["parts"]
    files["limits.py"] = "import helpers\n\nhelpers.LIMIT = 7\n"
    assert identities(files, ("capped",))["capped"]["digest"] != before["digest"]
