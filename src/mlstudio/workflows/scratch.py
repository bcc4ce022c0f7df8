"""Per-attempt scratch directories: ``current().scratch``, and ``TMPDIR`` while a task runs.

Each attempt gets a fresh directory under the host's scratch folder (``$TMPDIR/mlstudio-scratch-UID``
unless the sandbox policy says otherwise), named after its run, node, attempt and the worker's
pid, readable only by its owner (0700), and removed when the attempt ends. A worker that was
killed mid-task leaves its directory behind: the next runtime started on the host removes the
directories of workers that are gone (:func:`sweep`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def create(base: str, run_id: str, node_id: str, attempt: int, owner: int | None = None) -> str:
    """A new, empty directory for one attempt (owned by ``owner``, a uid, when given)."""
    root = Path(base)
    root.mkdir(parents=True, exist_ok=True, mode=0o711)
    with contextlib.suppress(OSError):
        os.chmod(root, 0o711)  # reach your own directory, list nobody's
    prefix = f"{_UNSAFE.sub('_', run_id)}.{_UNSAFE.sub('_', node_id)[:80]}.{attempt}.{os.getpid()}."
    path = tempfile.mkdtemp(prefix=prefix, dir=root)  # mode 0700
    if owner is not None:
        os.chown(path, owner, -1)
    return path


def remove(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)


def sweep(base: str) -> int:
    """Remove the scratch directories of workers that no longer run; returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(base))
    except OSError:
        return 0
    for entry in entries:
        parts = entry.name.rsplit(".", 2)
        if len(parts) < 3 or not parts[1].isdigit() or not entry.is_dir(follow_symlinks=False):
            continue
        if not _alive(int(parts[1])):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


@contextlib.contextmanager
def as_tmpdir(path: str | None) -> Iterator[None]:
    """Make ``path`` the process's temporary directory (``tempfile`` and ``TMPDIR``)."""
    if not path:
        yield
        return
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = path
    tempfile.tempdir = path
    try:
        yield
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
