"""Deterministic module archives and their safe extraction.

The *content digest* of a module is the sha256 of a canonical listing of its files
(``path``, executable bit, sha256 of the bytes), so it does not depend on file order, mtimes,
owners, ``__pycache__`` or the compression library. The archive itself is a tar.gz written with
fixed metadata, stored content-addressed under its own digest.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mlstudio.errors import ArchiveError, InvalidInputError

ALWAYS_EXCLUDED_DIRS = {
    "__pycache__",
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".ipynb_checkpoints",
    ".tox",
    "node_modules",
    ".idea",
    ".vscode",
}
ALWAYS_EXCLUDED_FILES = {".DS_Store", "Thumbs.db"}
ALWAYS_EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".swp")
MAX_MODULE_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class FileEntry:
    path: str  # posix, relative
    executable: bool
    sha256: str
    size: int
    data: bytes


@dataclass(frozen=True)
class ModuleBuild:
    digest: str  # content digest (the module version's identity)
    archive: bytes  # deterministic tar.gz
    files: tuple[FileEntry, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.size for f in self.files)


def collect_files(root: Path, exclude: tuple[str, ...] = ()) -> list[FileEntry]:
    entries: list[FileEntry] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in ALWAYS_EXCLUDED_DIRS and not d.endswith(".egg-info")
        )
        for d in dirnames:  # os.walk lists linked folders but never enters them: refuse them
            rel_dir = (Path(dirpath) / d).relative_to(root).as_posix()
            excluded = any(
                fnmatch.fnmatch(rel_dir, p) or fnmatch.fnmatch(f"{rel_dir}/", p) for p in exclude
            )
            if (Path(dirpath) / d).is_symlink() and not excluded:
                raise InvalidInputError(
                    f"{rel_dir} is a symbolic link; modules may only contain regular files",
                    hint="copy the folder in or add it to [module].exclude",
                )
        for filename in sorted(filenames):
            full = Path(dirpath) / filename
            rel = full.relative_to(root).as_posix()
            if filename in ALWAYS_EXCLUDED_FILES or filename.endswith(ALWAYS_EXCLUDED_SUFFIXES):
                continue
            if any(fnmatch.fnmatch(rel, pattern) for pattern in exclude):
                continue
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise InvalidInputError(
                    f"{rel} is a symbolic link; modules may only contain regular files",
                    hint="copy the file in or add it to [module].exclude",
                )
            if not stat.S_ISREG(info.st_mode):
                continue
            data = full.read_bytes()
            total += len(data)
            if total > MAX_MODULE_BYTES:
                raise InvalidInputError(
                    f"module is larger than {MAX_MODULE_BYTES // 2**20} MiB",
                    hint="keep data out of modules (use `mlstudio data import`) or exclude it",
                )
            entries.append(
                FileEntry(
                    path=rel,
                    executable=bool(info.st_mode & stat.S_IXUSR),
                    sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data),
                    data=data,
                )
            )
    entries.sort(key=lambda e: e.path)
    return entries


def content_digest(files: list[FileEntry] | tuple[FileEntry, ...]) -> str:
    h = hashlib.sha256(b"mlstudio-module-v1\n")
    for entry in sorted(files, key=lambda e: e.path):
        h.update(f"{entry.path}\0{int(entry.executable)}\0{entry.sha256}\n".encode())
    return h.hexdigest()


def build_module(root: Path, exclude: tuple[str, ...] = ()) -> ModuleBuild:
    files = collect_files(root, exclude)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in files:
            info = tarfile.TarInfo(entry.path)
            info.size = entry.size
            info.mode = 0o755 if entry.executable else 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(entry.data))
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return ModuleBuild(
        digest=content_digest(files), archive=compressed.getvalue(), files=tuple(files)
    )


def _safe_member(member: tarfile.TarInfo) -> str:
    name = member.name
    if not member.isfile():
        raise ArchiveError(
            f"archive member {name!r} is not a regular file", hint="archives may hold only files"
        )
    pure = PurePosixPath(name)
    if name.startswith(("/", "\\")) or pure.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(
            f"archive member {name!r} has an absolute path", hint="use relative paths"
        )
    if any(part == ".." for part in pure.parts) or "\\" in name:
        raise ArchiveError(f"archive member {name!r} escapes the archive root", hint="remove '..'")
    return pure.as_posix()


def read_archive(archive: bytes) -> dict[str, tuple[bytes, bool]]:
    """Validate every member (no absolute paths, ``..``, links or devices) and return contents."""
    out: dict[str, tuple[bytes, bool]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar:
                path = _safe_member(member)
                handle = tar.extractfile(member)
                assert handle is not None
                out[path] = (handle.read(), bool(member.mode & 0o100))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"archive is not a readable tar.gz: {exc}", hint="rebuild it") from exc
    return out


def extract_archive(archive: bytes, dest: Path) -> None:
    """Extract into ``dest`` (created), after validating every member first."""
    contents = read_archive(archive)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    for path, (data, executable) in contents.items():
        target = (dest / path).resolve()
        if root not in target.parents:
            raise ArchiveError(f"archive member {path!r} escapes the destination")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o755 if executable else 0o644)
