"""The module registry through the CLI, as a user drives it, on SQLite and on Postgres.

Every test asserts on ``--json`` output. Pushes that are not about tests use ``--no-tests``
(running a module's tests costs about a second each).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

TASKS = '''"""Tasks of {name}."""

from mlstudio import task


@task
def {task}(values: list[float], factor: float = 2.0) -> list[float]:
    """{doc}"""
    return [v * factor for v in values]
'''

PASSING_TEST = """from tasks import {task}


def test_{task}_works():
    assert {task}([1.0], factor=3.0) == [3.0]
"""


def write_module(
    root: Path,
    name: str,
    *,
    description: str = "",
    task: str = "scale",
    doc: str = "Multiply every value.",
    with_tests: bool = True,
) -> Path:
    """A small module folder (module.toml, tasks.py and, optionally, one passing test)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        f'[module]\nname = "{name}"\ndescription = "{description}"\nowners = ["alice"]\n'
    )
    (root / "tasks.py").write_text(TASKS.format(name=name, task=task, doc=doc))
    if with_tests:
        (root / "tests").mkdir(exist_ok=True)
        (root / "tests" / "test_tasks.py").write_text(PASSING_TEST.format(task=task))
    return root


def bump(module_dir: Path, text: str = "changed") -> None:
    """Change the module's content (a new version on the next push)."""
    with (module_dir / "tasks.py").open("a") as handle:
        handle.write(f"\n# {text}\n")


def versions(studio, ref: str) -> list[int]:
    return [v["version"] for v in studio.ok("module", "show", ref)["versions"]]


def tags(studio, ref: str) -> dict[str, int]:
    return {t["name"]: t["version"] for t in studio.ok("module", "show", ref)["tags"]}


def moves(history: list[dict[str, Any]], tag: str) -> list[tuple[int | None, int, str, str]]:
    return [
        (e["from_version"], e["to_version"], e["action"], e["actor"])
        for e in history
        if e["tag"] == tag
    ]


# --- home and identity ------------------------------------------------------------------------
def test_init_creates_the_home_and_makes_the_caller_admin(studio):
    shutil.rmtree(studio.home)  # "every command creates the home on first use"

    info = studio.ok("init")

    assert Path(info["home"]) == studio.home
    assert studio.home.is_dir()
    assert info["database"] == studio.database_url
    if studio.backend == "sqlite":
        assert (studio.home / "studio.db").is_file()
    assert info["artifacts"] == (studio.home / "artifacts").as_posix()
    me = studio.ok("whoami")
    assert me["user"] == "alice" and me["registered"] is True
    assert [(g["role"], g["scope_kind"]) for g in me["grants"]] == [("admin", "platform")]
    # a second init is harmless and does not hand admin to anyone else
    assert studio.ok("init")["grants"] == info["grants"]
    bob = studio.ok("whoami", user="bob")
    assert bob["registered"] is False and bob["grants"] == []


def test_scaffold_push_unchanged_and_new_version(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = tmp_path / "features"
    created = studio.ok("module", "new", "churn/features", folder)
    assert created["module"] == "churn/features"
    assert {Path(f).relative_to(folder).as_posix() for f in created["files"]} == {
        "module.toml",
        "tasks.py",
        "tests/test_tasks.py",
    }

    first = studio.ok("module", "push", folder, "-m", "first cut")
    assert (first["version"], first["ref"], first["unchanged"]) == (1, "churn/features@1", False)
    assert first["tests"]["ok"] is True
    assert first["tests"]["passed"] == 2 and first["tests"]["failed"] == 0
    assert len(first["digest"]) == 64
    assert tags(studio, "churn/features") == {"latestAlpha": 1}

    again = studio.ok("module", "push", folder)
    assert again["unchanged"] is True
    assert (again["version"], again["digest"]) == (1, first["digest"])
    assert versions(studio, "churn/features") == [1]

    bump(folder)
    second = studio.ok("module", "push", folder, "--no-tests")
    assert (second["version"], second["unchanged"]) == (2, False)
    assert second["digest"] != first["digest"]
    shown = studio.ok("module", "show", "churn/features@1")
    assert shown["selected"]["message"] == "first cut"
    assert shown["selected"]["pushed_by"] == "alice"
    assert shown["selected"]["tests_passed"] is True
    assert shown["selected"]["test_summary"]["passed"] == 2
    assert tags(studio, "churn/features") == {"latestAlpha": 2}
    assert studio.ok("module", "list")[0]["latest_version"] == 2


def test_digest_ignores_file_order_mtimes_and_pycache(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = write_module(tmp_path / "a", "churn/features")
    (folder / "helpers").mkdir()
    (folder / "helpers" / "util.py").write_text("X = 1\n")
    first = studio.ok("module", "push", folder, "--no-tests")

    # touch everything, and leave the litter a working copy collects
    for path in folder.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "tasks.cpython-311.pyc").write_bytes(b"\x00junk")
    (folder / "helpers" / "__pycache__").mkdir()
    (folder / "helpers" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (folder / "tasks.pyc").write_bytes(b"junk")
    (folder / ".pytest_cache").mkdir()
    (folder / ".pytest_cache" / "v").write_text("junk")
    touched = studio.ok("module", "push", folder, "--no-tests")
    assert touched["unchanged"] is True
    assert touched["digest"] == first["digest"]

    # the same files created in the opposite order, in another folder
    other = tmp_path / "b"
    files = sorted(
        (p for p in folder.rglob("*") if p.is_file() and "cache" not in str(p)), reverse=True
    )
    for path in files:
        target = other / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    copied = studio.ok("module", "push", other, "--no-tests")
    assert copied["unchanged"] is True and copied["digest"] == first["digest"]
    assert versions(studio, "churn/features") == [1]


# --- tags, promotion, rollback, audit ----------------------------------------------------------
def test_promote_tag_rollback_and_the_audit_trail(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = write_module(tmp_path / "features", "churn/features")
    for n in (1, 2, 3):
        if n > 1:
            bump(folder, f"v{n}")
        assert studio.ok("module", "push", folder)["version"] == n

    assert studio.ok("module", "promote", "churn/features", "1") == {
        "module": "churn/features",
        "tag": "latest",
        "from": None,
        "to": 1,
        "moved": True,
    }
    assert studio.ok("module", "promote", "churn/features", "2")["from"] == 1
    assert studio.ok("module", "promote", "churn/features", "3")["from"] == 2
    assert studio.ok("module", "show", "churn/features")["selected"]["version"] == 3
    # promoting to where it already is records nothing
    assert studio.ok("module", "promote", "churn/features", "3")["moved"] is False

    back = studio.ok("module", "rollback", "churn/features")
    assert (back["tag"], back["from"], back["to"]) == ("latest", 3, 2)
    assert studio.ok("module", "show", "churn/features:latest")["selected"]["version"] == 2
    assert studio.ok("module", "rollback", "churn/features", "--tag", "latest")["to"] == 1
    refused = studio.fails("module", "rollback", "churn/features", code=5)
    assert "no earlier version" in refused.stderr
    assert tags(studio, "churn/features")["latest"] == 1

    # any tag, on any version, and its own rollback
    assert studio.ok("module", "tag", "churn/features", "stable", "2")["to"] == 2
    assert studio.ok("module", "tag", "churn/features", "stable", "3")["from"] == 2
    assert studio.ok("module", "rollback", "churn/features", "--tag", "stable")["to"] == 2
    assert studio.ok("module", "rollback", "churn/features", "--tag", "latestAlpha")["to"] == 2
    assert tags(studio, "churn/features") == {"latest": 1, "latestAlpha": 2, "stable": 2}

    history = studio.ok("module", "show", "churn/features")["tag_history"]
    assert moves(history, "latest") == [
        (None, 1, "promote", "alice"),
        (1, 2, "promote", "alice"),
        (2, 3, "promote", "alice"),
        (3, 2, "rollback", "alice"),
        (2, 1, "rollback", "alice"),
    ]
    assert moves(history, "latestAlpha") == [
        (None, 1, "push", "alice"),
        (1, 2, "push", "alice"),
        (2, 3, "push", "alice"),
        (3, 2, "rollback", "alice"),
    ]
    assert all(e["at"] for e in history)

    events = studio.ok("audit", "--limit", "1000")
    by_action: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_action.setdefault(event["action"], []).append(event)
    pushes = sorted(e["resource"] for e in by_action["module.push"])
    assert pushes == ["churn/features@1", "churn/features@2", "churn/features@3"]
    promotions = sorted(
        (e["details"]["from"] or 0, e["details"]["to"]) for e in by_action["module.promote"]
    )
    assert promotions == [(0, 1), (1, 2), (2, 3)]
    tag_moves = [e for e in by_action["tag.move"] if e["resource"] == "churn/features:latest"]
    assert sorted(e["details"]["action"] for e in tag_moves) == ["rollback", "rollback"]
    assert {e["actor"] for e in events} == {"alice"}
    only = studio.ok("audit", "--action", "module.promote")
    assert {e["action"] for e in only} == {"module.promote"} and len(only) == 3


def test_show_resolves_tags_and_versions_with_task_signatures(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = write_module(tmp_path / "features", "churn/features", description="churn features")
    studio.ok("module", "push", folder, "--no-tests")
    (folder / "tasks.py").write_text(
        TASKS.format(name="x", task="scale", doc="Scale.")
        + '\n\n@task\ndef total(values: list[float]) -> float:\n    """Add up."""\n'
        "    return sum(values)\n"
    )
    studio.ok("module", "push", folder, "--no-tests")
    studio.ok("user", "add", "bob")
    studio.ok("namespace", "grant", "churn", "bob", "maintainer")
    studio.ok("module", "tag", "churn/features", "stable", "1", user="bob")

    newest = studio.ok("module", "show", "churn/features")  # no `latest` yet: latestAlpha
    assert newest["selected"]["version"] == 2
    assert newest["module"]["description"] == "churn features"
    signatures = {t["name"]: t["signature"]["text"] for t in newest["selected"]["tasks"]}
    assert signatures == {
        "scale": "(values: list[float], factor: float = 2.0) -> list[float]",
        "total": "(values: list[float]) -> float",
    }
    scale = next(t for t in newest["selected"]["tasks"] if t["name"] == "scale")
    assert scale["kind"] == "task" and scale["file"] == "tasks.py"
    assert scale["signature"]["params"][1] == {"name": "factor", "type": "float", "default": 2.0}

    first = studio.ok("module", "show", "churn/features@1")
    assert first["selected"]["version"] == 1
    assert [t["name"] for t in first["selected"]["tasks"]] == ["scale"]
    assert studio.ok("module", "show", "churn/features:stable")["selected"]["version"] == 1
    assert studio.ok("module", "show", "churn/features:latestAlpha")["selected"]["version"] == 2
    assert [v["version"] for v in first["versions"]] == [1, 2]
    assert {t["name"]: (t["version"], t["updated_by"]) for t in first["tags"]} == {
        "latestAlpha": (2, "alice"),
        "stable": (1, "bob"),
    }
    assert moves(first["tag_history"], "stable") == [(None, 1, "tag", "bob")]
    assert moves(first["tag_history"], "latestAlpha") == [
        (None, 1, "push", "alice"),
        (1, 2, "push", "alice"),
    ]

    assert "latest" in studio.fails("module", "show", "churn/features:latest", code=3).stderr
    assert "@7" in studio.fails("module", "show", "churn/features@7", code=3).stderr
    assert "churn/nothing" in studio.fails("module", "show", "churn/nothing", code=3).stderr


def test_list_searches_names_descriptions_and_task_names(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    studio.ok("namespace", "create", "fraud")
    for folder, name, description, task in [
        ("f", "churn/features", "customer features", "scale"),
        ("t", "churn/trainer", "gradient boosting", "fit_booster"),
        ("s", "fraud/scoring", "scores transactions", "score_rows"),
    ]:
        write_module(tmp_path / folder, name, description=description, task=task, doc="Doc.")
        studio.ok("module", "push", tmp_path / folder, "--no-tests")

    def names(*args: str) -> list[str]:
        return [m["full_name"] for m in studio.ok("module", "list", *args)]

    assert names() == ["churn/features", "churn/trainer", "fraud/scoring"]
    assert names("--search", "trainer") == ["churn/trainer"]  # name
    assert names("--search", "GRADIENT") == ["churn/trainer"]  # description, any case
    assert names("--search", "fit_booster") == ["churn/trainer"]  # task name
    assert names("--search", "score_rows") == ["fraud/scoring"]
    assert names("--search", "nothing-like-this") == []
    assert names("--namespace", "fraud") == ["fraud/scoring"]
    assert names("--namespace", "churn", "--search", "features") == ["churn/features"]
    assert names("--namespace", "fraud", "--search", "features") == []
    listed = studio.ok("module", "list", "--namespace", "fraud")[0]
    assert listed["description"] == "scores transactions"
    assert listed["tags"] == {"latestAlpha": 1}
    assert listed["latest_version"] == 1


def test_git_commit_is_recorded(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    repo = tmp_path / "repo"
    folder = write_module(repo / "features", "churn/features")
    git = ["git", "-C", str(repo), "-c", "user.email=a@example.com", "-c", "user.name=A"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()

    studio.ok("module", "push", folder, "--no-tests")
    bump(folder)  # uncommitted change
    studio.ok("module", "push", folder, "--no-tests")
    plain = write_module(tmp_path / "plain", "churn/plain")
    studio.ok("module", "push", plain, "--no-tests")

    first = studio.ok("module", "show", "churn/features@1")["selected"]
    assert (first["git_commit"], first["git_dirty"]) == (head, False)
    second = studio.ok("module", "show", "churn/features@2")["selected"]
    assert (second["git_commit"], second["git_dirty"]) == (head, True)
    assert studio.ok("module", "show", "churn/features")["versions"][0]["git_commit"] == head
    assert studio.ok("module", "show", "churn/plain")["selected"]["git_commit"] is None


# --- tests gate publication ---------------------------------------------------------------------
def test_push_without_tests_publishes_but_cannot_be_promoted(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = write_module(tmp_path / "features", "churn/features")
    pushed = studio.ok("module", "push", folder, "--no-tests")
    assert pushed["version"] == 1
    assert pushed["tests"]["skipped"] is True and pushed["tests"]["ok"] is False
    assert studio.ok("module", "show", "churn/features@1")["selected"]["tests_passed"] is False

    refused = studio.fails("module", "promote", "churn/features", "1", code=5)
    assert "tests did not pass" in refused.stderr
    assert tags(studio, "churn/features") == {"latestAlpha": 1}
    # other tags are not gated
    assert studio.ok("module", "tag", "churn/features", "candidate", "1")["to"] == 1


def test_failing_tests_publish_nothing(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    folder = write_module(tmp_path / "features", "churn/features")
    (folder / "tests" / "test_broken.py").write_text(
        "def test_ok():\n    pass\n\n\ndef test_broken_math():\n    assert 1 + 1 == 3\n"
    )

    failed = studio.fails("module", "push", folder, code=8)
    assert "test_broken_math" in failed.stderr
    assert "nothing was published" in failed.stderr
    error = failed.json["error"]
    assert error["code"] == "module_tests_failed"
    assert error["details"]["tests"]["failed"] == 1
    assert error["details"]["tests"]["passed"] == 2
    assert [f["test"].rsplit("::", 1)[-1] for f in error["details"]["tests"]["failures"]] == [
        "test_broken_math"
    ]
    assert studio.ok("module", "list") == []
    studio.fails("module", "show", "churn/features", code=3)
    assert not any(e["action"] == "module.push" for e in studio.ok("audit"))
    cas = studio.home / "artifacts" / "cas"
    assert not cas.exists() or not any(p.is_file() for p in cas.rglob("*"))


# --- namespaces and roles ---------------------------------------------------------------------
def test_namespace_roles_gate_push_promote_and_tag(studio, tmp_path):
    studio.ok("namespace", "create", "churn")
    studio.ok("user", "add", "bob")
    studio.ok("user", "add", "carol")
    folder = write_module(tmp_path / "features", "churn/features", with_tests=False)

    denied = studio.fails("module", "push", folder, "--no-tests", user="bob", code=4)
    assert "bob" in denied.stderr and "churn" in denied.stderr
    assert studio.ok("module", "list") == []

    studio.ok("namespace", "grant", "churn", "bob", "maintainer")
    pushed = studio.ok("module", "push", folder, user="bob")
    assert pushed["version"] == 1 and pushed["tests"]["ok"] is True  # no tests folder
    assert studio.ok("module", "show", "churn/features@1")["selected"]["pushed_by"] == "bob"
    assert studio.ok("module", "promote", "churn/features", "1", user="bob")["to"] == 1

    studio.ok("namespace", "grant", "churn", "carol", "reader")
    bump(folder)
    studio.fails("module", "push", folder, "--no-tests", user="carol", code=4)
    studio.fails("module", "tag", "churn/features", "stable", "1", user="carol", code=4)
    studio.fails("module", "promote", "churn/features", "1", user="carol", code=4)
    studio.fails("module", "rollback", "churn/features", user="carol", code=4)
    assert versions(studio, "churn/features") == [1]
    # anyone may read the catalog, even without any grant
    assert [m["full_name"] for m in studio.ok("module", "list", user="carol")] == ["churn/features"]
    assert studio.ok("module", "show", "churn/features", user="dave")["selected"]["version"] == 1

    # only admins create namespaces; only owners (and admins) grant in one
    assert "admin" in studio.fails("namespace", "create", "fraud", user="bob", code=4).stderr
    studio.fails("namespace", "grant", "churn", "carol", "maintainer", user="bob", code=4)
    assert [n["name"] for n in studio.ok("namespace", "list")] == ["churn"]
    studio.ok("namespace", "create", "fraud", "--owner", "bob")
    studio.ok("namespace", "grant", "fraud", "carol", "maintainer", user="bob")
    members = {
        m["user"]: m["role"]
        for n in studio.ok("namespace", "list")
        if n["name"] == "fraud"
        for m in n["members"]
    }
    assert members == {"bob": "owner", "carol": "maintainer"}

    bob_events = studio.ok("audit", "--actor", "bob")
    assert {"module.push", "module.promote"} <= {e["action"] for e in bob_events}
    assert {e["actor"] for e in bob_events} == {"bob"}
