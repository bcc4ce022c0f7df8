"""The installed ``mlstudio`` executable, run as a user runs it: separate processes, a temp home."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mlstudio.testing.flows import mlstudio_executable


@pytest.fixture
def run(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLSTUDIO_") and not k.startswith("PYTEST_")
    }
    env.update(MLSTUDIO_HOME=str(tmp_path / "home"), MLSTUDIO_USER="alice")

    def _run(*args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [mlstudio_executable(), *map(str, args)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if expect is not None:
            assert proc.returncode == expect, proc.stderr
        return proc

    return _run


def test_help_lists_the_command_groups(run, tmp_path):
    proc = run("--help")
    for group in ("init", "whoami", "module", "namespace", "user", "audit"):
        assert f"  {group} " in proc.stdout
    assert proc.stderr == ""
    assert not (tmp_path / "home").exists()  # --help touches nothing
    sub = run("module", "push", "--help")
    assert "--no-tests" in sub.stdout and "--json" in sub.stdout


def test_new_push_list_and_show(run, tmp_path):
    run("namespace", "create", "churn", "--json")
    run("module", "new", "churn/features", "features", "--json")
    pushed = json.loads(run("module", "push", "features", "--no-tests", "--json").stdout)
    assert (pushed["ref"], pushed["unchanged"]) == ("churn/features@1", False)
    assert (tmp_path / "home" / "studio.db").is_file()

    listed = json.loads(run("module", "list", "--json").stdout)
    assert [(m["full_name"], m["tags"]) for m in listed] == [("churn/features", {"latestAlpha": 1})]
    shown = json.loads(run("module", "show", "churn/features@1", "--json").stdout)
    assert {t["name"] for t in shown["selected"]["tasks"]} == {"scale", "total", "pipeline"}
    # human output names the same facts
    human = run("module", "list").stdout
    assert "churn/features" in human and "latestAlpha→1" in human


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("frobnicate",), 2, "No such command 'frobnicate'"),
        (("module", "push"), 2, "Missing argument"),
        (("module", "promote", "churn/features", "two"), 2, "'version'"),
        (("module", "show", "churn/nothing"), 3, "module churn/nothing does not exist"),
        (("module", "show", "Not A Name"), 2, "invalid module name"),
        (("module", "push", "missing-dir"), 2, "missing-dir is not a folder"),
    ],
)
def test_errors_are_one_line_with_a_distinct_exit_code(run, args, code, words):
    for extra in ((), ("--json",)):
        proc = run(*args, *extra, expect=None)
        assert proc.returncode == code, proc.stderr
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert words in proc.stderr
        assert "Traceback" not in proc.stderr
        if extra:
            assert "message" in json.loads(proc.stdout)["error"]


def test_import_mlstudio_loads_nothing_heavy():
    code = (
        "import sys, mlstudio, mlstudio.cli.main; "
        "heavy = ['sqlalchemy', 'alembic', 'pyarrow', 'duckdb', 'ray', 'typer', 'rich', "
        "'pydantic', 'fsspec', 'sqlglot', 'httpx']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
