"""Bad input gets a one-line error naming the problem, a distinct exit code, and changes nothing.

Registry cases run on SQLite and Postgres (the ``studio`` fixture); the archive-safety cases
exercise pure functions and have no backend.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest

from mlstudio.errors import ArchiveError, CorruptArtifactError, NotFoundError
from mlstudio.modules.archive import extract_archive, read_archive

TASKS = '''from mlstudio import task


@task
def scale(values: list[float], factor: float = 2.0) -> list[float]:
    """Multiply every value."""
    return [v * factor for v in values]
'''

MANIFEST = '[module]\nname = "{name}"\ndescription = "test module"\n'


def write_module(root: Path, name: str = "churn/features", *, tasks: str = TASKS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(MANIFEST.format(name=name))
    (root / "tasks.py").write_text(tasks)
    return root


@pytest.fixture
def churn(studio):
    """A studio with the namespace ``churn`` (alice is admin and its owner)."""
    studio.ok("namespace", "create", "churn")
    return studio


def assert_nothing_published(studio) -> None:
    assert studio.ok("module", "list") == []
    events = studio.ok("audit", "--limit", "1000")  # a refused push is audited, as a deny
    assert not any(e["action"] == "module.push" and e["decision"] == "allow" for e in events)


# --- the manifest -----------------------------------------------------------------------------
def test_missing_manifest(churn, tmp_path):
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "tasks.py").write_text(TASKS)
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert "module.toml is missing" in failed.stderr
    assert failed.json["error"]["code"] == "invalid_manifest"
    assert_nothing_published(churn)


def test_push_of_a_folder_that_does_not_exist(churn, tmp_path):
    failed = churn.fails("module", "push", tmp_path / "nope", "--no-tests", code=2)
    assert "nope is not a folder" in failed.stderr
    assert_nothing_published(churn)


def test_malformed_toml(churn, tmp_path):
    folder = write_module(tmp_path / "features")
    (folder / "module.toml").write_text('[module\nname = "churn/features"\n')
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert "module.toml is not valid TOML" in failed.stderr
    assert "line 1" in failed.stderr
    assert_nothing_published(churn)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[tool]\nname = "churn/features"\n', "has no [module] table"),
        ('name = "churn/features"\n', "has no [module] table"),
        ('[module]\ndescription = "no name"\n', "[module].name is missing"),
        ('[module]\nname = "churn/features"\nrequirments = ["six"]\n', "unknown key(s) in [module]: requirments"),
        ('[module]\nname = 3\n', "[module].name must be a string"),
        ('[module]\nname = "churn/features"\nrequirements = "six"\n', "[module].requirements must be a list"),
        ('[module]\nname = "churn/features"\nrequirements = ["six>>1"]\n', "requirement 'six>>1' is invalid"),
    ],
    ids=["no-module-table", "top-level-name", "no-name", "unknown-key", "name-not-string", "requirements-not-list", "bad-requirement"],
)  # fmt: skip
def test_manifest_structure(churn, tmp_path, text, problem):
    folder = write_module(tmp_path / "features")
    (folder / "module.toml").write_text(text)
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert problem in failed.stderr
    assert "module.toml" in failed.stderr
    assert_nothing_published(churn)


@pytest.mark.parametrize(
    "name", ["Churn/Features", "churn", "a/b/c", "churn/", "/features", "churn/fe atures"]
)
def test_module_name_not_ns_slash_name(churn, tmp_path, name):
    folder = write_module(tmp_path / "features", name=name)
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert f"invalid module name {name!r}" in failed.stderr
    assert "NS/NAME" in failed.stderr  # the fix
    assert_nothing_published(churn)
    churn.fails("module", "new", name, tmp_path / "new", code=2)
    assert not (tmp_path / "new").exists()


# --- the code ---------------------------------------------------------------------------------
def test_task_file_that_fails_to_import(churn, tmp_path):
    folder = write_module(
        tmp_path / "features", tasks="from mlstudio import task\n\nimport no_such_package_xyz\n"
    )
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert "tasks.py:3" in failed.stderr
    assert "no_such_package_xyz" in failed.stderr
    assert failed.json["error"]["code"] == "module_import_failed"
    assert_nothing_published(churn)


def test_error_raised_inside_a_helper_points_at_the_module_file(churn, tmp_path):
    folder = write_module(tmp_path / "features", tasks=TASKS + "\nfrom helpers import boom\n")
    (folder / "helpers.py").write_text(
        'def _x():\n    pass\n\n\nraise RuntimeError("bad config")\n'
    )
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert "helpers.py:5" in failed.stderr and "bad config" in failed.stderr
    assert_nothing_published(churn)


def test_syntax_error(churn, tmp_path):
    folder = write_module(tmp_path / "features", tasks=TASKS + "\n\ndef broken(:\n    pass\n")
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    line = TASKS.count("\n") + 3
    assert f"tasks.py:{line}" in failed.stderr
    assert "SyntaxError" in failed.stderr
    assert_nothing_published(churn)


def test_module_without_tasks(churn, tmp_path):
    folder = write_module(tmp_path / "features", tasks="X = 1\n")
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert "defines no @task or @workflow" in failed.stderr
    assert_nothing_published(churn)


def test_symlink_in_the_module_is_refused(churn, tmp_path):
    folder = write_module(tmp_path / "features")
    (tmp_path / "secret.txt").write_text("outside")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    failed = churn.fails("module", "push", folder, "--no-tests", code=2)
    assert "link.txt is a symbolic link" in failed.stderr
    assert_nothing_published(churn)


# --- namespaces and rights --------------------------------------------------------------------
def test_namespace_that_does_not_exist(churn, tmp_path):
    folder = write_module(tmp_path / "scoring", name="fraud/scoring")
    failed = churn.fails("module", "push", folder, "--no-tests", code=3)
    assert "namespace fraud does not exist" in failed.stderr
    assert "mlstudio namespace create fraud" in failed.stderr
    assert_nothing_published(churn)
    assert [n["name"] for n in churn.ok("namespace", "list")] == ["churn"]


def test_namespace_without_rights(churn, tmp_path):
    churn.ok("user", "add", "bob")
    folder = write_module(tmp_path / "features")
    failed = churn.fails("module", "push", folder, "--no-tests", user="bob", code=4)
    assert "bob may not push modules in namespace churn" in failed.stderr
    assert "mlstudio namespace grant churn bob maintainer" in failed.stderr
    assert_nothing_published(churn)
    # …and nothing else he could try in it works either
    churn.ok("module", "push", folder, "--no-tests")
    for args in (
        ("module", "tag", "churn/features", "stable", "1"),
        ("module", "rollback", "churn/features", "--tag", "latestAlpha"),
        ("namespace", "grant", "churn", "bob", "owner"),
    ):
        churn.fails(*args, user="bob", code=4)
    shown = churn.ok("module", "show", "churn/features")
    assert [t["name"] for t in shown["tags"]] == ["latestAlpha"]
    assert len(shown["tag_history"]) == 1


def test_bad_namespace_names_and_roles(churn):
    assert "invalid namespace" in churn.fails("namespace", "create", "Bad NS", code=2).stderr
    assert "already exists" in churn.fails("namespace", "create", "churn", code=5).stderr
    churn.ok("user", "add", "bob")
    failed = churn.fails("namespace", "grant", "churn", "bob", "emperor", code=2)
    assert "unknown namespace role 'emperor'" in failed.stderr
    assert (
        "user nobody does not exist"
        in churn.fails("namespace", "grant", "churn", "nobody", "reader", code=3).stderr
    )
    assert [n["name"] for n in churn.ok("namespace", "list")] == ["churn"]


# --- promotion and tags -----------------------------------------------------------------------
def test_promoting_a_version_that_does_not_exist(churn, tmp_path):
    churn.ok("module", "push", write_module(tmp_path / "features"), "--no-tests")
    failed = churn.fails("module", "promote", "churn/features", "9", code=3)
    assert "churn/features@9 does not exist" in failed.stderr
    assert (
        "module churn/nope does not exist"
        in churn.fails("module", "promote", "churn/nope", "1", code=3).stderr
    )
    churn.fails("module", "promote", "churn/features", "zero", code=2)
    assert [t["name"] for t in churn.ok("module", "show", "churn/features")["tags"]] == [
        "latestAlpha"
    ]


def test_promoting_a_version_whose_tests_did_not_pass(churn, tmp_path):
    folder = write_module(tmp_path / "features")
    churn.ok("module", "push", folder, "--no-tests")
    failed = churn.fails("module", "promote", "churn/features", "1", code=5)
    assert "churn/features@1 cannot become latest: its tests did not pass" in failed.stderr
    # nor through the generic tag command, which is the same move
    churn.fails("module", "tag", "churn/features", "latest", "1", code=5)
    shown = churn.ok("module", "show", "churn/features")
    assert [t["name"] for t in shown["tags"]] == ["latestAlpha"]
    assert not any(e["action"] == "module.promote" for e in churn.ok("audit"))


@pytest.mark.parametrize("tag", ["1bad", "has space", "_x", "a/b", ""])
def test_tag_name_that_is_not_an_identifier(churn, tmp_path, tag):
    churn.ok("module", "push", write_module(tmp_path / "features"), "--no-tests")
    failed = churn.fails("module", "tag", "churn/features", tag, "1", code=2)
    assert f"invalid tag name {tag!r}" in failed.stderr
    churn.fails("module", "rollback", "churn/features", "--tag", tag, code=2)
    if tag:
        churn.fails("module", "show", f"churn/features:{tag}", code=2)
    assert [t["name"] for t in churn.ok("module", "show", "churn/features")["tags"]] == [
        "latestAlpha"
    ]


# --- the artifact store -----------------------------------------------------------------------
def blob_files(studio) -> list[Path]:
    return [p for p in (studio.home / "artifacts" / "cas").rglob("*") if p.is_file()]


def test_corrupted_blob_is_an_error_never_used(churn, tmp_path):
    churn.ok("module", "push", write_module(tmp_path / "features"), "--no-tests")
    platform = churn.platform()
    try:
        version = platform.modules.resolve("churn/features@1")
        good = platform.modules.archive(version)
        assert "tasks.py" in read_archive(good)
        [blob] = blob_files(churn)
        assert blob.relative_to(churn.home / "artifacts" / "cas").as_posix() == (
            f"{version.archive_digest[:2]}/{version.archive_digest[2:]}"
        )
        blob.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))

        with pytest.raises(
            CorruptArtifactError, match=f"artifact {version.archive_digest[:12]} is corrupt"
        ):
            platform.modules.archive(version)

        blob.unlink()
        with pytest.raises(NotFoundError, match="missing from the artifact store"):
            platform.modules.archive(version)
    finally:
        platform.close()
    # the registry itself is untouched
    assert [v["version"] for v in churn.ok("module", "show", "churn/features")["versions"]] == [1]


# --- unsafe archives (no backend involved) ----------------------------------------------------
def tar_bytes(members: list[tuple[str, bytes]], *, link: tuple[str, str] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            tar.addfile(info)
    return raw.getvalue()


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        ("/tmp/evil.py", "absolute path"),
        ("../evil.py", "escapes the archive root"),
        ("pkg/../../evil.py", "escapes the archive root"),
        ("pkg/..", "escapes the archive root"),
        ("C:/evil.py", "absolute path"),
        ("..\\evil.py", "escapes the archive root"),
    ],
)
def test_archive_member_outside_the_root_is_refused(tmp_path, member, problem):
    archive = tar_bytes([("tasks.py", b"ok = 1\n"), (member, b"pwned = 1\n")])
    with pytest.raises(ArchiveError, match=problem):
        read_archive(archive)
    (tmp_path / "sandbox").mkdir()
    dest = tmp_path / "sandbox" / "dest"
    with pytest.raises(ArchiveError, match=problem):
        extract_archive(archive, dest)
    # validated before anything is written: not even the good member, and nothing outside
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["sandbox"]
    assert not Path("/tmp/evil.py").exists()


def test_archive_links_and_garbage_are_refused(tmp_path):
    linked = tar_bytes([("tasks.py", b"ok = 1\n")], link=("data", "/etc"))
    with pytest.raises(ArchiveError, match="'data' is not a regular file"):
        extract_archive(linked, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    with pytest.raises(ArchiveError, match=r"not a readable tar\.gz"):
        read_archive(b"definitely not a tarball")


# --- concurrent pushes ------------------------------------------------------------------------
def mlstudio_exe() -> str:
    return str(Path(sys.executable).with_name("mlstudio"))


def push_concurrently(studio, folders: list[Path]) -> list[dict]:
    """Start one `mlstudio module push` process per folder at once; return their JSON results."""
    env = {**os.environ, **studio.env()}
    barrier = threading.Barrier(len(folders))
    results: list[subprocess.CompletedProcess[str] | None] = [None] * len(folders)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = subprocess.run(
            [mlstudio_exe(), "module", "push", str(folders[i]), "--no-tests", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(folders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = []
    for proc in results:
        assert proc is not None
        assert proc.returncode == 0, proc.stderr
        out.append(json.loads(proc.stdout))
    return out


def test_concurrent_pushes_of_different_content_get_distinct_versions(churn, tmp_path):
    folders = []
    for i in range(3):
        folder = write_module(tmp_path / f"copy{i}")
        (folder / "variant.py").write_text(f"VARIANT = {i}\n")
        folders.append(folder)

    results = push_concurrently(churn, folders)

    assert sorted(r["version"] for r in results) == [1, 2, 3]
    assert not any(r["unchanged"] for r in results)
    assert len({r["digest"] for r in results}) == 3
    shown = churn.ok("module", "show", "churn/features")
    by_version = {v["version"]: v["digest"] for v in shown["versions"]}
    assert by_version == {r["version"]: r["digest"] for r in results}
    # the latestAlpha history is one unbroken chain over every version
    chain = [
        (e["from_version"], e["to_version"])
        for e in shown["tag_history"]
        if e["tag"] == "latestAlpha"
    ]
    assert len(chain) == 3 and chain[0][0] is None
    assert all(prev[1] == cur[0] for prev, cur in itertools.pairwise(chain))
    assert sorted(to for _, to in chain) == [1, 2, 3]
    assert {t["name"]: t["version"] for t in shown["tags"]} == {"latestAlpha": chain[-1][1]}
    pushes = [e for e in churn.ok("audit") if e["action"] == "module.push"]
    assert sorted(e["resource"] for e in pushes) == [f"churn/features@{n}" for n in (1, 2, 3)]


def test_concurrent_pushes_of_the_same_content_make_one_version(churn, tmp_path):
    first = write_module(tmp_path / "one")
    second = tmp_path / "two"
    shutil.copytree(first, second)

    results = push_concurrently(churn, [first, second])

    assert [r["version"] for r in results] == [1, 1]
    assert results[0]["digest"] == results[1]["digest"]
    assert sorted(r["unchanged"] for r in results) == [False, True]
    shown = churn.ok("module", "show", "churn/features")
    assert [v["version"] for v in shown["versions"]] == [1]
    assert [(e["tag"], e["from_version"], e["to_version"]) for e in shown["tag_history"]] == [
        ("latestAlpha", None, 1)
    ]
    assert len(blob_files(churn)) == 1
