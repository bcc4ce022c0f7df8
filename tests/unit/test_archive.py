"""Deterministic module builds: the digest is a function of the content only."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from mlstudio.errors import InvalidInputError
from mlstudio.modules.archive import build_module, extract_archive, read_archive

FILES = {
    "module.toml": b'[module]\nname = "churn/features"\n',
    "tasks.py": b"from mlstudio import task\n",
    "pkg/__init__.py": b"",
    "pkg/util.py": b"X = 1\n",
    "tests/test_tasks.py": b"def test_ok():\n    pass\n",
    "data/lookup.csv": b"a,b\n1,2\n",
    "run.sh": b"#!/bin/sh\necho hi\n",
}


def make_tree(root: Path, files: dict[str, bytes] = FILES, *, reverse: bool = False) -> Path:
    for rel in sorted(files, reverse=reverse):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])
    if (root / "run.sh").exists():
        (root / "run.sh").chmod(0o755)
    return root


def test_same_content_gives_the_same_digest_and_archive_bytes(tmp_path):
    a = build_module(make_tree(tmp_path / "a"))
    b = build_module(make_tree(tmp_path / "b", reverse=True))  # created in the other order
    assert a.digest == b.digest
    assert a.archive == b.archive
    assert [f.path for f in a.files] == sorted(FILES)
    assert len(a.digest) == 64 and int(a.digest, 16) >= 0


def test_digest_ignores_mtimes_pycache_and_non_executable_mode_bits(tmp_path):
    root = make_tree(tmp_path / "m")
    before = build_module(root)

    for path in root.rglob("*"):
        os.utime(path, (12345, 12345))
    (root / "tasks.py").chmod(0o600)  # not executable either way
    (root / "pkg" / "util.py").chmod(0o664)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "tasks.cpython-311.pyc").write_bytes(b"junk")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"junk")
    (root / "stray.pyc").write_bytes(b"junk")
    (root / ".DS_Store").write_bytes(b"junk")
    for folder in (".git", ".venv", ".pytest_cache", "node_modules", "mlstudio_x.egg-info"):
        (root / folder).mkdir()
        (root / folder / "file").write_text("junk")

    after = build_module(root)
    assert after.digest == before.digest
    assert after.archive == before.archive


@pytest.mark.parametrize(
    "change",
    ["content", "rename", "new_file", "executable", "empty_file_added"],
)
def test_every_real_change_changes_the_digest(tmp_path, change):
    root = make_tree(tmp_path / "m")
    before = build_module(root).digest
    if change == "content":
        (root / "pkg" / "util.py").write_bytes(b"X = 2\n")
    elif change == "rename":
        (root / "pkg" / "util.py").rename(root / "pkg" / "utils.py")
    elif change == "new_file":
        (root / "pkg" / "more.py").write_bytes(b"Y = 1\n")
    elif change == "executable":
        (root / "tasks.py").chmod(0o755)
    elif change == "empty_file_added":
        (root / "pkg" / "py.typed").write_bytes(b"")
    assert build_module(root).digest != before


def test_a_file_moved_between_folders_changes_the_digest(tmp_path):
    one = make_tree(tmp_path / "one", {"a/x.py": b"1", "b/y.py": b"2"})
    two = make_tree(tmp_path / "two", {"a/y.py": b"2", "b/x.py": b"1"})
    assert build_module(one).digest != build_module(two).digest


def test_exclude_globs_leave_files_out_of_the_build(tmp_path):
    root = make_tree(tmp_path / "m")
    (root / "data" / "big.parquet").write_bytes(b"\x00" * 1000)
    (root / "notes.md").write_text("scratch")

    build = build_module(root, ("data/*", "*.md"))
    paths = [f.path for f in build.files]
    assert not any(p.startswith("data/") for p in paths)
    assert "notes.md" not in paths
    assert "tasks.py" in paths

    # the same as a tree that never had those files
    clean = make_tree(
        tmp_path / "clean", {k: v for k, v in FILES.items() if not k.startswith("data/")}
    )
    assert build.digest == build_module(clean).digest
    # and editing an excluded file changes nothing
    (root / "notes.md").write_text("other scratch")
    assert build_module(root, ("data/*", "*.md")).digest == build.digest


def test_symlinked_file_is_refused(tmp_path):
    root = make_tree(tmp_path / "m")
    (tmp_path / "outside.txt").write_text("secret")
    (root / "pkg" / "link.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(InvalidInputError, match=r"pkg/link.txt is a symbolic link"):
        build_module(root)
    # an excluded link is fine
    assert (
        build_module(root, ("pkg/link.txt",)).digest
        == build_module(make_tree(tmp_path / "n")).digest
    )


def test_symlinked_folder_is_refused(tmp_path):
    root = make_tree(tmp_path / "m")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "code.py").write_text("Z = 1\n")
    (root / "vendored").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    # silently leaving it out would publish a module that differs from the working copy
    with pytest.raises(InvalidInputError, match=r"vendored is a symbolic link"):
        build_module(root)
    assert build_module(root, ("vendored",)).digest == build_module(root, ("vendored/*",)).digest


def test_archive_is_a_plain_deterministic_tar_gz(tmp_path):
    build = build_module(make_tree(tmp_path / "m"))
    raw = gzip.decompress(build.archive)
    assert raw[257:262] == b"ustar"  # a tar, stored with fixed metadata:
    assert build.archive[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    assert build.size_bytes == sum(len(v) for v in FILES.values())


def test_extract_round_trip(tmp_path):
    root = make_tree(tmp_path / "m")
    build = build_module(root)

    contents = read_archive(build.archive)
    assert {path: data for path, (data, _) in contents.items()} == FILES
    assert {path for path, (_, executable) in contents.items() if executable} == {"run.sh"}

    dest = tmp_path / "out" / "module"
    extract_archive(build.archive, dest)
    assert {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} == set(FILES)
    for rel, data in FILES.items():
        assert (dest / rel).read_bytes() == data
    assert os.access(dest / "run.sh", os.X_OK)
    assert not os.access(dest / "tasks.py", os.X_OK)
    rebuilt = build_module(dest)
    assert (rebuilt.digest, rebuilt.archive) == (build.digest, build.archive)
