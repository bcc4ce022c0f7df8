"""Small output warts (issue 10, point 13), on SQLite and on Postgres: the DuckDB warning in
SQL tasks' logs, "1 tests passed", union signatures, and the catalog's description."""

from __future__ import annotations

from pathlib import Path

from mlstudio.testing.flows import working_copy

SQL_FLOW = """
from mlstudio import sql_task, task, workflow
import pandas as pd

@task(classify={"*": "internal"})
def numbers() -> pd.DataFrame:
    return pd.DataFrame({"n": [1, 2, 3]})

doubled = sql_task("doubled", "SELECT n * 2 AS m FROM t")

@workflow
def flow():
    return doubled(t=numbers())
"""


def test_a_sql_task_logs_no_duckdb_warning(studio, tmp_path):
    run = studio.ok("run", working_copy(tmp_path, SQL_FLOW, "flow"))
    assert run["state"] == "succeeded"
    logs = studio.ok("runs", "logs", run["id"], "--task", "doubled")
    text = "".join(entry["text"] for entry in logs)
    assert "Warning" not in text, text


def _module(folder: Path, description: str, tests: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "module.toml").write_text(
        f'[module]\nname = "shop/scoring"\ndescription = "{description}"\nrequirements = []\n'
    )
    (folder / "tasks.py").write_text(
        "from __future__ import annotations\n\n"
        "from mlstudio import task, workflow\n\n\n"
        "@task\n"
        "def pick(kinds: list[str] | None = None, limit: int | None = None) -> list[str]:\n"
        "    return (kinds or ['a'])[: limit or None]\n\n\n"
        "@workflow\n"
        "def flow(kinds: list[str] | None = None) -> list[str]:\n"
        "    return pick(kinds)\n"
    )
    (folder / "tests").mkdir(exist_ok=True)
    body = "".join(
        f"def test_{i}():\n    from tasks import pick\n    assert pick(['x']) == ['x']\n\n\n"
        for i in range(tests)
    )
    (folder / "tests" / "test_tasks.py").write_text(body)
    return folder


def test_one_test_passed_and_signatures_print_unions_as_written(studio, tmp_path):
    studio.ok("namespace", "create", "shop")
    pushed = studio.cli("module", "push", str(_module(tmp_path / "m", "Scoring")))
    assert pushed.code == 0, pushed.stderr
    assert "1 test passed" in pushed.stdout and "1 tests" not in pushed.stdout
    shown = studio.ok("module", "show", "shop/scoring:latestAlpha")
    signatures = {t["name"]: t["signature"]["text"] for t in shown["selected"]["tasks"]}
    assert signatures["pick"] == (
        "(kinds: list[str] | None = None, limit: int | None = None) -> list[str]"
    )
    assert signatures["flow"] == "(kinds: list[str] | None = None) -> list[str]"
    # an optional list parameter still takes JSON, and null
    studio.ok("module", "promote", "shop/scoring", "1")
    ran = studio.ok("run", "shop/scoring/flow", "-p", 'kinds=["b", "c"]')
    assert ran["output_value"] == ["b", "c"]
    assert studio.ok("run", "shop/scoring/flow", "-p", "kinds=null")["output_value"] == ["a"]


def test_the_catalog_describes_a_module_by_its_promoted_version(studio, tmp_path):
    studio.ok("namespace", "create", "shop")
    studio.ok("module", "push", str(_module(tmp_path / "v1", "Scoring, stable")))
    [listed] = studio.ok("module", "list")
    assert listed["description"] == "Scoring, stable"  # nothing promoted yet: the newest
    studio.ok("module", "promote", "shop/scoring", "1")
    studio.ok("module", "push", str(_module(tmp_path / "v2", "Scoring, experimental", tests=2)))
    [listed] = studio.ok("module", "list")
    assert listed["tags"] == {"latest": 1, "latestAlpha": 2}
    assert listed["description"] == "Scoring, stable"
    assert studio.ok("module", "list", "--search", "experimental") == []
    studio.ok("module", "promote", "shop/scoring", "2")
    [listed] = studio.ok("module", "list")
    assert listed["description"] == "Scoring, experimental"
    studio.ok("module", "rollback", "shop/scoring")
    [listed] = studio.ok("module", "list")
    assert listed["description"] == "Scoring, stable"
