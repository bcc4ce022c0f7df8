"""The rough edges a newcomer hit (issue 10, point 11), on SQLite and on Postgres: typos and
filters that match nothing say so, errors go to stderr, a working copy's syntax error says to
fix the file, a missing column is called missing, and a re-import or push over a different
schema or scaffold says what changed."""

from __future__ import annotations

from pathlib import Path

from mlstudio.testing.flows import working_copy


def test_a_typo_of_a_command_names_the_closest_one(studio):
    typo = studio.cli("modul", "list")
    assert typo.code == 2
    assert "No such command 'modul'. Did you mean 'module' or 'model'?" in typo.stderr
    assert "Did you mean" not in studio.cli("zzzz").stderr  # nothing close: no guess


def test_cache_clear_and_audit_say_when_nothing_matched(studio):
    cleared = studio.cli("cache", "clear", "--workflow", "nosuch/wf")
    assert cleared.code == 0
    assert "no cache entries matched --workflow nosuch/wf; nothing removed" in cleared.stdout
    assert studio.ok("cache", "clear", "--workflow", "nosuch/wf") == {"removed": 0}

    studio.ok("namespace", "create", "shop")  # an event with action namespace.create
    unknown = studio.cli("audit", "--action", "nosuch")
    assert unknown.code == 0 and "no audit events matched --action nosuch" in unknown.stdout
    assert "actions in the log:" in unknown.stdout and "namespace" in unknown.stdout
    typo = studio.cli("audit", "--action", "namespce.create")
    assert "(did you mean namespace.create" in typo.stdout
    assert studio.ok("audit", "--action", "nosuch") == []
    nobody = studio.cli("audit", "--actor", "zed")
    assert nobody.code == 0 and "no audit events matched --actor zed" in nobody.stdout


def test_a_failed_run_prints_its_error_line_on_stderr(studio, tmp_path):
    flow = working_copy(tmp_path)
    failed = studio.cli("run", flow, "-p", "name=boom")
    assert failed.code == 1
    assert "failed" in failed.stdout  # the summary and the task table stay on stdout
    assert "error:" not in failed.stdout
    assert "error:" in failed.stderr and "ValueError: boom" in failed.stderr


def test_a_syntax_error_in_a_working_copy_says_to_fix_the_file_not_to_push(studio, tmp_path):
    flow = working_copy(tmp_path, "from mlstudio import workflow\n\n@workflow\ndef greet(:\n")
    broken = studio.fails("run", flow, code=2)
    assert "working copy" in broken.stderr and "flow.py" in broken.stderr
    assert "SyntaxError" in broken.stderr
    assert "fix the file and run it again" in broken.stderr
    assert "push" not in broken.stderr


COLUMNS_FLOW = """
from mlstudio import dataset, task, workflow

@task(columns={"t": ["id", "revenue"]})
def count(t) -> int:
    return t.num_rows

@workflow
def pipeline() -> int:
    return count(dataset("shop/customers"))
"""


def test_a_declared_column_the_dataset_lacks_is_missing_not_unclassified(studio, tmp_path):
    csv = tmp_path / "customers.csv"
    csv.write_text("id,amount\n1,2.5\n2,3.0\n")
    studio.ok("namespace", "create", "shop")
    studio.ok("data", "import", str(csv), "--name", "shop/customers", "--classify", "id=internal")
    flow = working_copy(tmp_path, COLUMNS_FLOW, "pipeline")
    failed = studio.cli("run", flow, "--json")
    assert failed.code == 1
    error = failed.json.get("error", failed.stderr)
    assert "shop/customers@1 has no column revenue (its columns: id, amount)" in str(error)
    assert "unclassified" not in str(error)
    [denied] = studio.ok("audit", "--action", "data.read")
    [violation] = denied["details"]["violations"]
    assert violation["rule"] == "missing" and violation["column"] == "revenue"


def test_a_reimport_over_a_different_schema_says_what_changed(studio, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,email,amount\n1,a@x.example,2.5\n")
    second.write_text("id,email,region\n1,a@x.example,eu\n")
    studio.ok("namespace", "create", "shop")
    assert studio.ok("data", "import", str(first), "--name", "shop/a")["schema_changes"] is None
    changed = studio.ok("data", "import", str(second), "--name", "shop/a")["schema_changes"]
    assert changed == {
        "previous": "shop/a@1",
        "columns_added": ["region"],
        "columns_removed": ["amount"],
        "types_changed": [],
    }
    human = studio.cli("data", "import", str(first), "--name", "shop/a")
    assert "since shop/a@2: columns added: amount; columns removed: region" in human.stdout
    same = studio.cli("data", "import", str(first), "--name", "shop/a")
    assert "since shop/a@3: same columns" in same.stdout


def _module(folder: Path, description: str, source: str, file: str = "tasks.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "module.toml").write_text(
        f'[module]\nname = "shop/feats"\ndescription = "{description}"\nrequirements = []\n'
    )
    (folder / file).write_text(source)
    return folder


def test_a_push_over_a_different_scaffold_says_what_changed(studio, tmp_path):
    studio.ok("namespace", "create", "shop")
    ours = _module(
        tmp_path / "ours",
        "Account features",
        "from mlstudio import task\n\n@task\ndef build(x: int) -> int:\n    return x\n",
        file="features.py",
    )
    assert studio.ok("module", "push", str(ours), "--no-tests")["changes"] is None
    # a fresh scaffold with the same name, pushed over it
    scaffold = tmp_path / "scaffold"
    studio.ok("module", "new", "shop/feats", str(scaffold))
    pushed = studio.ok("module", "push", str(scaffold))
    changes = pushed["changes"]
    assert changes["previous"] == "shop/feats@1"
    assert changes["description"] == {
        "from": "Account features",
        "to": "feats tasks for the shop team",
    }
    assert changes["tasks_removed"] == ["build"]
    assert set(changes["tasks_added"]) == {"scale", "total", "pipeline"}
    assert changes["files_removed"] == ["features.py"]
    assert set(changes["files_added"]) == {"tasks.py", "tests/test_tasks.py"}
    # and a human push prints it
    (scaffold / "extra.py").write_text("VALUE = 1\n")
    human = studio.cli("module", "push", str(scaffold))
    assert human.code == 0 and "files added: extra.py" in human.stdout
    assert "2 tests passed" in human.stdout
