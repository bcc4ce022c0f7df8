# ruff: noqa: SIM115  (the opens below are meant to be refused, not managed)
"""The task sandbox's audit hook, in this process: what it refuses, records and lets through.

``confine`` switches the hook on for a block (the runtime wraps a task's code in it); outside
it the hook does nothing, so installing it in the test process is harmless.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mlstudio.workflows import sandbox
from mlstudio.workflows.cache import readset


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path]:
    home = tmp_path / "home"
    (home / "artifacts" / "ab").mkdir(parents=True)
    (home / "artifacts" / "ab" / "blob").write_bytes(b"secret table")
    (home / "logs" / "run_1").mkdir(parents=True)
    (home / "logs" / "run_1" / "other.1.log").write_text("someone else's log\n")
    (home / "studio.db").write_bytes(b"SQLite format 3\0")
    code = home / "cache" / "modules" / "d1"
    code.mkdir(parents=True)
    (code / "helpers.py").write_text("X = 1\n")
    scratch_base = tmp_path / "scratch"
    mine = scratch_base / "mine"
    theirs = scratch_base / "theirs"
    mine.mkdir(parents=True)
    theirs.mkdir()
    (theirs / "tmp.txt").write_text("another attempt's file")
    data = tmp_path / "data"
    data.mkdir()
    (data / "points.csv").write_text("x\n1\n")
    return {
        "home": home,
        "code": code,
        "scratch_base": scratch_base,
        "mine": mine,
        "theirs": theirs,
        "data": data,
    }


def policy(roots: dict[str, Path]) -> dict:
    home = roots["home"]
    return {
        "roots": {
            str(home): "inside the mlstudio home",
            str(home / "artifacts"): "inside mlstudio's artifact store",
            str(roots["scratch_base"]): "another task's scratch space",
        },
        "files": {str(home / "studio.db"): "mlstudio's metadata database"},
        "scratch": str(roots["scratch_base"]),
    }


def confined(roots: dict[str, Path]):
    return sandbox.confine(
        policy(roots), code_roots=(str(roots["code"]),), scratch=str(roots["mine"])
    )


REFUSED = {
    "open the artifact blob": lambda r: open(r["home"] / "artifacts" / "ab" / "blob", "rb"),
    "os.open the database": lambda r: os.open(r["home"] / "studio.db", os.O_RDONLY),
    "read another task's log": lambda r: (r["home"] / "logs" / "run_1" / "other.1.log").read_text(),
    "list the home": lambda r: os.listdir(r["home"]),
    "scandir the artifacts": lambda r: list(os.scandir(r["home"] / "artifacts")),
    "walk the home": lambda r: list(os.walk(r["home"])),
    "glob the home": lambda r: list(r["home"].glob("*")),
    "copy the blob out": lambda r: shutil.copy(
        r["home"] / "artifacts" / "ab" / "blob", r["data"] / "stolen"
    ),
    "copytree the logs": lambda r: shutil.copytree(r["home"] / "logs", r["data"] / "logs"),
    "rename the database": lambda r: os.rename(r["home"] / "studio.db", r["data"] / "db"),
    "remove the blob": lambda r: os.remove(r["home"] / "artifacts" / "ab" / "blob"),
    "rmtree the logs": lambda r: shutil.rmtree(r["home"] / "logs"),
    "hard-link the blob": lambda r: os.link(
        r["home"] / "artifacts" / "ab" / "blob", r["data"] / "link"
    ),
    "connect to the database": lambda r: sqlite3.connect(r["home"] / "studio.db"),
    "connect to the database by URI": lambda r: sqlite3.connect(
        f"file:{r['home'] / 'studio.db'}?mode=ro", uri=True
    ),
    "open the -wal file": lambda r: open(str(r["home"] / "studio.db") + "-wal", "w"),
    "open another attempt's scratch": lambda r: (r["theirs"] / "tmp.txt").read_text(),
    "write into the module code": lambda r: (r["code"] / "helpers.py").write_text("X = 2\n"),
    "chmod the database": lambda r: os.chmod(r["home"] / "studio.db", 0o666),
}


SWALLOWED = {"walk the home", "glob the home"}  # these ignore errors: the refusal still counts


@pytest.mark.parametrize("what", sorted(REFUSED))
def test_every_way_into_a_protected_root_is_refused_naming_the_path(roots, what):
    raised = None
    with confined(roots) as scope:
        try:
            REFUSED[what](roots)
        except PermissionError as exc:
            raised = exc
    assert (raised is None) == (what in SWALLOWED)
    assert scope.denials, "the refusal is kept for the runtime (the attempt is denied)"
    message = scope.denials[0]["message"]
    assert message.startswith("the task sandbox refused")
    assert str(roots["home"]) in message or str(roots["scratch_base"]) in message
    if raised is not None:
        assert message in str(raised)
    # nothing was changed
    assert (roots["home"] / "studio.db").read_bytes() == b"SQLite format 3\0"
    assert (roots["home"] / "artifacts" / "ab" / "blob").exists()
    assert (roots["code"] / "helpers.py").read_text() == "X = 1\n"
    assert not (roots["data"] / "stolen").exists() and not (roots["data"] / "link").exists()


def test_symlinks_and_proc_fd_paths_are_resolved_before_the_check(roots, tmp_path):
    link = tmp_path / "innocent.csv"
    link.symlink_to(roots["home"] / "studio.db")
    relative_home = os.path.relpath(roots["home"] / "studio.db")
    with confined(roots) as scope:
        with pytest.raises(PermissionError, match="metadata database"):
            open(link, "rb")
        with pytest.raises(PermissionError, match="metadata database"):
            open(relative_home, "rb")
        with pytest.raises(PermissionError):
            open(f"/proc/self/root{roots['home'] / 'studio.db'}", "rb")
    assert len(scope.denials) == 3


def test_allowed_the_own_code_scratch_interpreter_and_outside_files(roots):
    with confined(roots) as scope:
        assert (roots["code"] / "helpers.py").read_text() == "X = 1\n"  # own code, read-only
        (roots["mine"] / "work.txt").write_text("scratch")  # own scratch
        assert (roots["mine"] / "work.txt").read_text() == "scratch"
        assert "json" in os.listdir(os.path.dirname(os.__file__))  # the stdlib
        assert (roots["data"] / "points.csv").read_text() == "x\n1\n"  # outside: recorded
        with sandbox.trusted():  # the worker's own access while a task runs
            assert (roots["home"] / "studio.db").read_bytes().startswith(b"SQLite")
    assert scope.denials == []
    assert set(scope.reads) == {os.path.realpath(roots["data"] / "points.csv")}


def test_outside_the_block_nothing_is_checked_or_recorded(roots):
    with confined(roots):
        pass
    assert (roots["home"] / "studio.db").read_bytes().startswith(b"SQLite")
    with sandbox.confine(None, code_roots=(), scratch=None) as scope:
        assert (roots["home"] / "studio.db").read_bytes().startswith(b"SQLite")
    assert scope is None


def test_the_read_set_has_reads_listings_not_own_outputs_and_notes_subprocesses(roots, tmp_path):
    data = roots["data"]
    (data / "b.csv").write_text("b")
    out = tmp_path / "out.txt"
    with confined(roots) as scope:
        (data / "points.csv").read_text()
        sorted(os.listdir(data))
        out.write_text("written first")  # the task's own output: not an input
        out.read_text()
        with open(data / "missing.json", "a"):  # created by the task
            pass
        with contextlib.suppress(FileNotFoundError):
            open(data / "config.json").read()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    built = readset.finish(scope)
    files = {f["path"]: f for f in built["files"]}
    assert set(files) == {
        os.path.realpath(data / "points.csv"),
        os.path.realpath(data / "config.json"),
    }
    assert files[os.path.realpath(data / "config.json")] == {
        "path": os.path.realpath(data / "config.json"),
        "missing": True,
    }
    assert files[os.path.realpath(data / "points.csv")]["sha256"] is not None
    assert [d["path"] for d in built["dirs"]] == [os.path.realpath(data)]
    assert built["effects"][0]["kind"] == "subprocess"
    assert sys.executable in built["effects"][0]["what"]
    assert readset.validate(built) == []
    assert readset.cacheable(built)


def test_an_edited_source_outside_the_module_is_seen_through_its_pyc(roots, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "outside_helper_mod.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(lib))
    try:
        import importlib

        importlib.invalidate_caches()
        __import__("outside_helper_mod")  # compiles the .pyc, outside the sandbox
        sys.modules.pop("outside_helper_mod")
        with confined(roots) as scope:
            __import__("outside_helper_mod")
    finally:
        sys.path.remove(str(lib))
        sys.modules.pop("outside_helper_mod", None)
    assert os.path.realpath(lib / "outside_helper_mod.py") in scope.reads
    assert not any(p.endswith(".pyc") for p in scope.reads)


def test_the_database_server_and_the_workers_credentials_are_out_of_reach(roots, monkeypatch):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    rules = {**policy(roots), "sockets": {f"127.0.0.1:{port}": "mlstudio's metadata database"}}
    secret = "postgresql+psycopg://mlstudio:s3cret@127.0.0.1/studio"
    monkeypatch.setenv("MLSTUDIO_DATABASE_URL", secret)
    monkeypatch.setattr(sandbox, "_DROPPED", [False])  # as in a fresh worker process
    try:
        with sandbox.confine(rules, code_roots=(), scratch=None) as scope:
            assert "MLSTUDIO_DATABASE_URL" not in os.environ
            with pytest.raises(PermissionError, match=f"127.0.0.1:{port}: it is mlstudio's"):
                socket.create_connection(("127.0.0.1", port), timeout=5)
            with pytest.raises(PermissionError, match="the worker's credentials"):
                open("/proc/self/environ", "rb")  # what the process started with
            with pytest.raises(PermissionError, match="the worker's credentials"):
                open(f"/proc/{os.getppid()}/environ", "rb")
        assert "MLSTUDIO_DATABASE_URL" not in os.environ, "a process that runs tasks keeps none"
        assert scope.denials[0]["operation"] == "socket.connect"
        socket.create_connection(("127.0.0.1", port), timeout=5).close()  # the worker may
    finally:
        server.close()


def test_the_policy_of_a_host_protects_its_home_stores_database_and_scratch(tmp_path):
    from mlstudio.settings import Settings

    home = tmp_path / "home"
    pg = sandbox.policy_for(
        Settings(home=home, database_url="postgresql+psycopg://postgres@127.0.0.1:5432/x")
    )
    assert pg["sockets"] == {"127.0.0.1:5432": "mlstudio's metadata database (127.0.0.1:5432)"}
    lite = sandbox.policy_for(
        Settings(home=home, database_url=f"sqlite:///{tmp_path / 'elsewhere.db'}")
    )
    assert set(lite["files"]) == {
        f"{os.path.realpath(tmp_path / 'elsewhere.db')}{suffix}"
        for suffix in ("", "-wal", "-shm", "-journal")
    }
    assert os.path.realpath(home) in lite["roots"] and lite["scratch"] in lite["roots"]
    merged = sandbox.merge(pg, lite)
    assert set(merged["roots"]) == set(pg["roots"]) | set(lite["roots"])
    assert merged["sockets"] == pg["sockets"] and merged["files"] == lite["files"]
