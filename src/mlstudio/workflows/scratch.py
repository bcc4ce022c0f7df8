"""Per-attempt scratch directories: ``current().scratch``, and ``TMPDIR`` while a task runs.

Each attempt gets a directory of its own under the host's scratch folder
(``$TMPDIR/mlstudio-scratch-UID`` unless the sandbox policy says otherwise), named after its
run, node, attempt and the worker's pid, readable only by its owner (0700), and removed when
the attempt ends. It is made on first use — ``current().scratch``, ``tempfile``, an access by
Python code to a path inside it, or a subprocess (which inherits ``TMPDIR``) — because making
and removing a directory per task costs milliseconds on a journalled disk, and most tasks never
write a temporary file. Native code that writes to ``$TMPDIR`` before any of those should touch
``current().scratch`` first. A worker killed mid-task leaves its directory behind: the next
runtime started on the host removes the directories of workers that are gone (:func:`sweep`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_SERIAL = itertools.count(1)  # with the pid: unique on the host (sweep clears dead pids')


class Scratch:
    """One attempt's directory: a path now, the directory when first needed."""

    def __init__(
        self, base: str, run_id: str, node_id: str, attempt: int, owner: int | None = None
    ) -> None:
        self.base = base
        self.owner = owner
        name = f"{_UNSAFE.sub('_', run_id)}.{_UNSAFE.sub('_', node_id)[:80]}.{attempt}"
        self.path = os.path.join(base, f"{name}.{os.getpid()}.{next(_SERIAL)}")
        self.made = False
        self._making = False

    def ensure(self) -> str:
        """Make the directory (once); returns its path."""
        if not self.made and not self._making:
            self._making = True  # the sandbox's hook sees our own mkdir: not again
            try:
                self._make()
            finally:
                self._making = False
        return self.path

    def _make(self) -> None:
        ensure_base(self.base)
        try:
            os.mkdir(self.path, 0o700)
        except FileExistsError:  # left by a dead worker that had our pid: never reuse it
            self.path = f"{self.path}-{next(_SERIAL)}"
            os.mkdir(self.path, 0o700)
        if self.owner is not None:
            os.chown(self.path, self.owner, -1)
        self.made = True

    def remove(self) -> None:
        if self.made:
            shutil.rmtree(self.path, ignore_errors=True)
            self.made = False


def ensure_base(base: str) -> None:
    """Make the folder of every task's scratch directory. Called before a task's code runs:
    inside the sandbox the folder is "another task's scratch space", which a task may not make."""
    if not os.path.isdir(base):
        os.makedirs(base, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(base, 0o711)  # reach your own directory, list nobody's


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
def as_tmpdir(scratch: Scratch | None) -> Iterator[None]:
    """Make the scratch directory the process's temporary directory: ``tempfile`` (which
    makes it on first use) and ``TMPDIR`` (Python code touching a path in it, or starting a
    subprocess, makes it too)."""
    if scratch is None:
        yield
        return
    path = scratch.path
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    saved = tempfile.gettempdir, tempfile.gettempdirb

    def gettempdir() -> str:
        return scratch.ensure()

    def gettempdirb() -> bytes:
        return os.fsencode(scratch.ensure())

    tempfile.tempdir = path
    tempfile.gettempdir, tempfile.gettempdirb = gettempdir, gettempdirb
    os.environ["TMPDIR"] = path
    try:
        yield
    finally:
        tempfile.gettempdir, tempfile.gettempdirb = saved
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
