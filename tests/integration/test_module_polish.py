"""Registry polish, through the CLI on SQLite and Postgres: catalog search and paging, healing
pushes (tests re-run for unpromotable versions, damaged archives rewritten), the environment a
module's tests see, uv's error messages, `init` hiding passwords, and modules with no tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from mlstudio.modules.archive import read_archive

TASKS = '''"""Tasks of {name}."""

from mlstudio import task, workflow


@task
def {task}(values: list[float], factor: float = 2.0) -> list[float]:
    """Multiply every value by a coefficient."""
    return [v * factor for v in values]


@workflow
def {flow}(values: list[float]) -> list[float]:
    """Run {task} once."""
    return {task}(values)
'''

PASSING = """from tasks import {task}


def test_{task}():
    assert {task}([1.0], factor=3.0) == [3.0]
"""

FAILING = """def test_broken_math():
    assert 1 + 1 == 3
"""


def write_module(
    root: Path,
    name: str,
    *,
    description: str = "",
    task: str = "scale",
    flow: str = "pipeline",
    test: str | None = PASSING,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        f'[module]\nname = "{name}"\ndescription = "{description}"\n', encoding="utf-8"
    )
    (root / "tasks.py").write_text(TASKS.format(name=name, task=task, flow=flow))
    if test is not None:
        (root / "tests").mkdir(exist_ok=True)
        (root / "tests" / "test_tasks.py").write_text(test.format(task=task))
    return root


@pytest.fixture
def churn(studio):
    studio.ok("namespace", "create", "churn")
    return studio


def names(studio, *args: str) -> list[str]:
    return [m["full_name"] for m in studio.ok("module", "list", *args)]


def audit(studio, action: str) -> list[dict[str, Any]]:
    return [e for e in studio.ok("audit", "--limit", "1000") if e["action"] == action]


def blob(studio, digest: str) -> Path:
    return studio.home / "artifacts" / "cas" / digest[:2] / digest[2:]


# --- 1. the catalog ---------------------------------------------------------------------------
def test_search_treats_like_wildcards_as_plain_text(churn, tmp_path):
    churn.ok("namespace", "create", "fraud")
    for folder, name, description in [
        ("a", "churn/snake_case", "plain words"),
        ("b", "churn/coverage", "100% covered"),
        ("c", "fraud/other", "nothing special"),
    ]:
        write_module(tmp_path / folder, name, description=description, task=f"t_{folder}")
        churn.ok("module", "push", tmp_path / folder, "--no-tests")

    assert names(churn, "--search", "%") == ["churn/coverage"]
    assert names(churn, "--search", "100%") == ["churn/coverage"]
    assert names(churn, "--search", "0% c") == ["churn/coverage"]
    assert names(churn, "--search", "0%c") == []  # not "0, anything, c"
    assert names(churn, "--search", "e_c") == ["churn/snake_case"]  # not "e, any char, c"
    assert names(churn, "--search", "ke_ca") == ["churn/snake_case"]
    assert names(churn, "--search", "t_b") == ["churn/coverage"]  # a task name
    assert names(churn, "--search", "\\") == []
    assert names(churn, "--search", "churn/") == ["churn/coverage", "churn/snake_case"]


def test_search_matches_task_and_workflow_names_not_signatures_or_docstrings(churn, tmp_path):
    folder = write_module(
        tmp_path / "f", "churn/features", description="features", task="fit_booster"
    )
    churn.ok("module", "push", folder, "--no-tests")

    assert names(churn, "--search", "fit_booster") == ["churn/features"]  # task name
    assert names(churn, "--search", "BOOST") == ["churn/features"]  # any case
    assert names(churn, "--search", "pipeline") == ["churn/features"]  # workflow name
    # words that only occur in the JSON of the task list
    for text in ("float", "list[", "coefficient", "Multiply", "factor", "signature", '"name"'):
        assert names(churn, "--search", text) == [], text

    # only the newest version's tasks count
    write_module(folder, "churn/features", description="features", task="new_name")
    churn.ok("module", "push", folder, "--no-tests")
    assert names(churn, "--search", "new_name") == ["churn/features"]
    assert names(churn, "--search", "fit_booster") == []


def test_search_is_the_same_for_non_ascii_text_on_every_backend(churn, tmp_path):
    write_module(tmp_path / "a", "churn/ete", description="Données d'ÉTÉ")
    churn.ok("module", "push", tmp_path / "a", "--no-tests")
    assert names(churn, "--search", "été") == ["churn/ete"]
    assert names(churn, "--search", "DONNÉES") == ["churn/ete"]
    assert names(churn, "--search", "hiver") == []


def test_list_pages_with_limit_and_offset(churn, tmp_path):
    for n in range(5):
        write_module(tmp_path / f"m{n}", f"churn/m{n}", description="even" if n % 2 == 0 else "odd")
        churn.ok("module", "push", tmp_path / f"m{n}", "--no-tests")

    assert names(churn) == [f"churn/m{n}" for n in range(5)]
    assert names(churn, "--limit", "2") == ["churn/m0", "churn/m1"]
    assert names(churn, "--limit", "2", "--offset", "2") == ["churn/m2", "churn/m3"]
    assert names(churn, "--offset", "4") == ["churn/m4"]
    assert names(churn, "--offset", "5") == []
    # paging applies to the matches
    assert names(churn, "--search", "even", "--limit", "2") == ["churn/m0", "churn/m2"]
    assert names(churn, "--search", "even", "--offset", "1", "--limit", "1") == ["churn/m2"]
    assert names(churn, "--search", "even", "--offset", "2") == ["churn/m4"]
    churn.fails("module", "list", "--limit", "0", code=2)
    churn.fails("module", "list", "--offset", "-1", code=2)

    human = churn.cli("module", "list", "--limit", "2")
    assert human.code == 0 and "more with --offset 2" in human.stdout


# --- 2. an unchanged push runs the tests a --no-tests push skipped -----------------------------
def test_unchanged_push_runs_skipped_tests_and_makes_the_version_promotable(churn, tmp_path):
    folder = write_module(tmp_path / "f", "churn/features")
    first = churn.ok("module", "push", folder, "--no-tests")
    assert first["tests"]["skipped"] is True and first["tests_passed"] is False
    churn.fails("module", "promote", "churn/features", "1", code=5)

    # unchanged, still without tests: nothing runs
    again = churn.ok("module", "push", folder, "--no-tests")
    assert (again["unchanged"], again["tests_rerun"]) == (True, False)

    rerun = churn.ok("module", "push", folder)
    assert (rerun["version"], rerun["unchanged"], rerun["tests_rerun"]) == (1, True, True)
    assert rerun["tests"]["ok"] is True and rerun["tests"]["passed"] == 1
    assert rerun["tests_passed"] is True
    shown = churn.ok("module", "show", "churn/features@1")
    assert shown["selected"]["tests_passed"] is True
    assert shown["selected"]["test_summary"]["passed"] == 1
    assert [v["version"] for v in shown["versions"]] == [1]
    [event] = audit(churn, "module.tests")
    assert event["resource"] == "churn/features@1"
    assert event["details"]["version"] == 1 and event["details"]["tests_passed"] is True
    assert len(audit(churn, "module.push")) == 1

    assert churn.ok("module", "promote", "churn/features", "1")["to"] == 1
    # once passed, an unchanged push is just unchanged
    plain = churn.ok("module", "push", folder)
    assert (plain["unchanged"], plain["tests_rerun"]) == (True, False)
    assert len(audit(churn, "module.tests")) == 1


def test_unchanged_push_whose_rerun_tests_fail_changes_nothing(churn, tmp_path):
    folder = write_module(tmp_path / "f", "churn/features", test=FAILING)
    churn.ok("module", "push", folder, "--no-tests")

    failed = churn.fails("module", "push", folder, code=8)
    assert "test_broken_math" in failed.stderr
    assert "churn/features@1 was not changed" in failed.stderr
    assert failed.json["error"]["details"]["tests"]["failed"] == 1
    shown = churn.ok("module", "show", "churn/features")
    assert shown["selected"]["tests_passed"] is False
    assert shown["selected"]["test_summary"] == {"skipped": True, "ok": False}
    assert [v["version"] for v in shown["versions"]] == [1]
    assert [t["name"] for t in shown["tags"]] == ["latestAlpha"]
    assert audit(churn, "module.tests") == []
    churn.fails("module", "promote", "churn/features", "1", code=5)


# --- 3. an unchanged push repairs a damaged archive ---------------------------------------------
def test_unchanged_push_rewrites_a_corrupt_or_missing_archive(churn, tmp_path):
    folder = write_module(tmp_path / "f", "churn/features")
    churn.ok("module", "push", folder, "--no-tests")
    digest = churn.ok("module", "show", "churn/features@1")["selected"]["archive_digest"]
    stored = blob(churn, digest)
    good = stored.read_bytes()

    assert churn.ok("module", "push", folder, "--no-tests")["repaired"] is False
    stored.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    repaired = churn.ok("module", "push", folder, "--no-tests")
    assert (repaired["unchanged"], repaired["repaired"], repaired["version"]) == (True, True, 1)
    assert stored.read_bytes() == good

    stored.unlink()
    assert churn.ok("module", "push", folder)["repaired"] is True  # with a test re-run too
    assert stored.read_bytes() == good
    assert churn.ok("module", "push", folder)["repaired"] is False

    platform = churn.platform()
    try:
        version = platform.modules.resolve("churn/features@1")
        assert version.archive_digest == digest
        assert "tasks.py" in read_archive(platform.modules.archive(version))
    finally:
        platform.close()
    events = audit(churn, "module.repair")
    assert [e["resource"] for e in events] == ["churn/features@1"] * 2
    assert [v["version"] for v in churn.ok("module", "show", "churn/features")["versions"]] == [1]


def test_a_lost_archive_built_with_other_bytes_is_replaced_by_the_rebuilt_one(churn, tmp_path):
    """Another zlib may compress the same content differently: then the version points at the
    rebuilt archive, but only when the one it had is gone (an intact one is kept)."""
    from mlstudio.core.hashing import sha256_bytes
    from mlstudio.core.ids import ModuleName

    folder = write_module(tmp_path / "f", "churn/features")
    churn.ok("module", "push", folder, "--no-tests")
    platform = churn.platform()
    try:
        version = platform.modules.resolve("churn/features@1")
        rebuilt = version.archive_digest
        other = platform.cas.put(b"the same files, compressed by another zlib")
        with platform.store.transaction() as uow:
            module = uow.modules.get_module(ModuleName.parse("churn/features").full)
            uow.modules.set_archive_digest(module, 1, other)
    finally:
        platform.close()

    assert churn.ok("module", "push", folder, "--no-tests")["repaired"] is False  # intact: kept
    assert churn.ok("module", "show", "churn/features@1")["selected"]["archive_digest"] == other
    blob(churn, other).unlink()
    assert churn.ok("module", "push", folder, "--no-tests")["repaired"] is True
    selected = churn.ok("module", "show", "churn/features@1")["selected"]
    assert selected["archive_digest"] == rebuilt
    assert sha256_bytes(blob(churn, rebuilt).read_bytes()) == rebuilt
    [event] = audit(churn, "module.repair")
    assert event["details"] == {"archive": rebuilt, "was": other}


def test_content_store_repair_only_writes_what_is_missing_or_corrupt(tmp_path):
    from mlstudio.core.hashing import sha256_bytes
    from mlstudio.store.artifacts.cas import ContentStore
    from mlstudio.store.artifacts.objectstore import LocalObjectStore

    cas = ContentStore(LocalObjectStore(tmp_path))
    digest = sha256_bytes(b"payload")
    path = tmp_path / ContentStore.key(digest)
    assert cas.repair(b"payload") is True  # missing: written
    assert cas.repair(b"payload") is False  # intact: left alone
    inode = path.stat().st_ino
    os.utime(path, (1, 1))
    # not rewritten (same file), only refreshed: a re-used blob counts as just written for gc
    assert cas.repair(b"payload") is False and path.stat().st_ino == inode
    assert path.stat().st_mtime > 1
    path.write_bytes(b"paylaod")
    assert cas.intact(digest) is False
    assert cas.repair(b"payload") is True
    assert cas.get(digest) == b"payload"


# --- 4. uv's errors ----------------------------------------------------------------------------
def test_uv_error_messages_name_the_problem_not_the_caret(tmp_path):
    from mlstudio.errors import EnvironmentBuildError
    from mlstudio.modules.envs import EnvironmentManager, uv_error_detail

    with pytest.raises(EnvironmentBuildError) as raised:
        EnvironmentManager(tmp_path).lock(("six===!",))  # uv refuses it without any index
    message = raised.value.message
    assert "\n" not in message and len(message) < 400
    assert "^" not in message
    assert "resolving requirements failed" in message and "comparison operator" in message

    fancy = (
        "  \N{MULTIPLICATION SIGN} No solution found when resolving dependencies:\n"
        "  ╰─▶ Because there is no version of six==99 and you require six==99, we can\n"
        "      conclude that your requirements are unsatisfiable.\n"
    )
    detail = uv_error_detail(fancy)
    assert detail.startswith("No solution found when resolving dependencies: Because there")
    assert uv_error_detail("six\n   ^^^\n") == "six"
    assert uv_error_detail("  ^^^\n\n") == "no output"
    long = uv_error_detail("error: " + "x" * 1000)
    assert len(long) == 300 and long.endswith("…")


# --- 5. the environment of a module's tests ----------------------------------------------------
ENV_TEST = """import os
import sys
from pathlib import Path


def test_the_platform_connection_is_not_inherited():
    for name in ("MLSTUDIO_DATABASE_URL", "MLSTUDIO_URL", "MLSTUDIO_TOKEN",
                 "MLSTUDIO_ARTIFACT_URL"):
        assert name not in os.environ, name
    home = Path(os.environ["MLSTUDIO_HOME"])
    assert home.is_dir() and not any(home.iterdir())
    assert home.resolve() != Path(Path(__file__).with_name("home.txt").read_text()).resolve()
"""


def test_module_tests_do_not_see_the_platform_connection(churn, tmp_path):
    folder = write_module(tmp_path / "f", "churn/features", test=ENV_TEST)
    (folder / "tests" / "home.txt").write_text(str(churn.home))
    # everything the user's shell could hold (no server URL: the CLI would talk to it)
    churn.monkeypatch.setenv("MLSTUDIO_TOKEN", "mls_secret_token")
    churn.monkeypatch.setenv("MLSTUDIO_ARTIFACT_URL", str(churn.home / "artifacts"))
    assert os.environ.get("MLSTUDIO_URL") is None

    tested = churn.ok("module", "test", folder)
    assert tested["tests"]["passed"] == 1, tested
    pushed = churn.ok("module", "push", folder)
    assert pushed["tests"]["ok"] is True, pushed["tests"]


def test_module_tests_cannot_reach_a_server(monkeypatch, tmp_path):
    from mlstudio.modules.archive import build_module
    from mlstudio.modules.introspect import package_root
    from mlstudio.modules.testrunner import run_module_tests

    folder = write_module(tmp_path / "f", "churn/features", test=ENV_TEST)
    (folder / "tests" / "home.txt").write_text(str(tmp_path / "home"))
    for name in ("MLSTUDIO_DATABASE_URL", "MLSTUDIO_URL", "MLSTUDIO_TOKEN"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/never")
    monkeypatch.setenv("MLSTUDIO_HOME", str(tmp_path / "home"))
    report = run_module_tests(build_module(folder), "tests", sys.executable, package_root(), 120)
    assert report.ok and report.passed == 1, report.output_tail


# --- 6. init never prints a password ----------------------------------------------------------
def test_init_hides_the_database_password(studio):
    from sqlalchemy.engine import make_url

    if studio.backend == "postgres":  # trust authentication: the password is never checked
        url = make_url(studio.database_url).set(password="s3cret-pw")
        studio.database_url = url.render_as_string(hide_password=False)
    info = studio.ok("init")
    assert "s3cret-pw" not in info["database"]
    human = studio.cli("init")
    assert human.code == 0 and "s3cret-pw" not in human.stdout + human.stderr
    if studio.backend == "postgres":
        assert info["database"] == make_url(studio.database_url).render_as_string()
        assert ":***@" in info["database"]
    else:
        assert info["database"] == studio.database_url


# --- 7. modules without tests -----------------------------------------------------------------
def test_module_without_tests_is_promotable_with_a_warning(churn, tmp_path):
    folder = write_module(tmp_path / "f", "churn/bare", test=None)
    pushed = churn.ok("module", "push", folder)
    assert pushed["tests"]["ok"] is True and pushed["tests"]["collected"] == 0

    promoted = churn.ok("module", "promote", "churn/bare", "1")
    assert promoted["to"] == 1 and promoted["moved"] is True
    assert promoted["warning"] == "churn/bare@1 has no tests; it is latest all the same"
    shown = churn.ok("module", "show", "churn/bare")
    assert [v["tests"] for v in shown["versions"]] == ["no tests"]

    (folder / "tasks.py").write_text((folder / "tasks.py").read_text() + "\n# v2\n")
    human = churn.cli("module", "push", folder)
    assert human.code == 0 and "no tests" in human.stdout, human.stdout
    human = churn.cli("module", "promote", "churn/bare", "2")
    assert human.code == 0
    assert human.stderr == "warning: churn/bare@2 has no tests; it is latest all the same\n"
    assert "1 → 2" in human.stdout
    human = churn.cli("module", "show", "churn/bare")
    assert human.code == 0 and "no tests" in human.stdout

    # a module with tests promotes without a warning
    tested = write_module(tmp_path / "t", "churn/tested")
    churn.ok("module", "push", tested)
    assert "warning" not in churn.ok("module", "promote", "churn/tested", "1")
    assert churn.cli("module", "promote", "churn/tested", "1").stderr == ""
    statuses = {
        v["version"]: v["tests"] for v in churn.ok("module", "show", "churn/tested")["versions"]
    }
    assert statuses == {1: "passed"}
