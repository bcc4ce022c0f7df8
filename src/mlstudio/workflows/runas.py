"""Run a task's code as a separate, unprivileged OS user (``MLSTUDIO_RUN_AS=USER``).

The audit-hook sandbox (:mod:`mlstudio.workflows.sandbox`) sees only what Python code opens;
native code (Arrow's or DuckDB's file readers, any extension) and subprocesses open files
without it. For production-like hosts the local executor (and so ``mlstudio worker``) can run
every task as another user: the worker process (root) loads the code and the inputs, then
forks; the child drops to the user (no supplementary groups), dies with the worker
(``PR_SET_PDEATHSIG``), runs the task with the sandbox on and sends its outcome back through a
pipe; the worker stores the output. The kernel then refuses any file access the user has no
right to, whatever code makes it, so the home, the database and the artifact store must not be
readable or traversable by that user: :func:`check_protected` refuses to run a task otherwise.

The task's module code is read from a copy the user may read (``<scratch>/code-UID/DIGEST``),
made once per module version; its scratch directory is owned by the user.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstudio.errors import ConfigurationError


@dataclass(frozen=True)
class RunAsUser:
    name: str
    uid: int
    gid: int
    home: str


def lookup(name: str) -> RunAsUser:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ConfigurationError(
            f"MLSTUDIO_RUN_AS={name}: no such OS user",
            hint=f"create it (useradd --system {name}) or unset MLSTUDIO_RUN_AS",
        ) from None
    return RunAsUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def check_run_as(name: str) -> RunAsUser:
    """The user tasks run as, if this process can switch to it (it runs as root)."""
    if not hasattr(os, "fork") or not hasattr(os, "setuid"):
        raise ConfigurationError("MLSTUDIO_RUN_AS needs a POSIX host (fork and setuid)")
    user = lookup(name)
    if user.uid == 0:
        raise ConfigurationError(
            f"MLSTUDIO_RUN_AS={name} is root: tasks would keep every right",
            hint="name an unprivileged user",
        )
    if os.geteuid() != 0:
        raise ConfigurationError(
            f"MLSTUDIO_RUN_AS={name} needs the worker to start as root (it runs as uid {os.geteuid()})",
            hint="start the worker as root, or unset MLSTUDIO_RUN_AS",
        )
    return user


def check_protected(user: RunAsUser, policy: dict[str, Any]) -> None:
    """Refuse to run tasks as ``user`` while it could list or enter a protected root.

    Asked of the kernel, not worked out from mode bits (ACLs, groups, every parent folder
    count): a forked child switches to the user and tries. Remembered per policy."""
    scratch = policy.get("scratch")
    roots = tuple(sorted(r for r in policy.get("roots") or {} if r != scratch))
    key = (user.uid, roots)
    if key not in _CHECKED:
        _CHECKED[key] = _enterable(user, roots)
    if _CHECKED[key]:
        root = _CHECKED[key][0]
        raise ConfigurationError(
            f"{root} is readable by {user.name}, whom tasks run as (MLSTUDIO_RUN_AS)",
            hint=f"chmod 700 {root} (owned by the worker's user), or unset MLSTUDIO_RUN_AS",
        )


_CHECKED: dict[tuple[int, tuple[str, ...]], list[str]] = {}


def _enterable(user: RunAsUser, roots: tuple[str, ...]) -> list[str]:
    """The roots ``user`` may list or enter (scratch is traversable on purpose: skipped)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(user.gid)
            os.setuid(user.uid)
            found = [r for r in roots if os.access(r, os.R_OK) or os.access(r, os.X_OK)]
            os.write(writer, "\0".join(found).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as incoming:
        text = incoming.read().decode()
    os.waitpid(pid, 0)
    return [r for r in text.split("\0") if r]


def readable_code(root: str, base: str, user: RunAsUser) -> str:
    """A copy of module code at ``root`` that ``user`` may read (made once per version)."""
    source = Path(root)
    target = Path(base) / f"code-{user.uid}" / source.name
    if (target / ".complete").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
    tmp = target.with_name(f".{source.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [tmp, *tmp.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    (tmp / ".complete").write_text(source.name)
    try:
        os.replace(tmp, target)
    except OSError:  # another worker made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def run_as(
    user: RunAsUser,
    fn: Callable[[], Any],
    *,
    keep_fds: tuple[int, ...] = (),
    code_copy: str | None = None,
    workdir: str | None = None,
    on_crash: Callable[[str], Any],
) -> Any:
    """``fn()`` in a forked child running as ``user``; returns what it returned (pickled back).

    ``keep_fds``: descriptors the child keeps (its log); every other one but stdio is closed.
    ``code_copy``: the readable copy of the module code, put first on ``sys.path``.
    ``workdir``: where the child starts when the current directory is closed to it."""
    reader, writer = os.pipe()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 0
        try:
            os.close(reader)
            keep = {0, 1, 2, writer, *keep_fds}
            for fd in _open_fds():
                if fd not in keep:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            _become(user, parent)
            if code_copy:
                sys.path.insert(0, code_copy)
            if not os.access(".", os.X_OK) and workdir:
                os.chdir(workdir)
            result = fn()
        except BaseException as exc:  # report, never run on in a copy of the worker
            result = on_crash(
                f"running the task as {user.name} failed: {type(exc).__name__}: {exc}"
            )
            code = 1
        try:
            payload = pickle.dumps(result, protocol=5)
        except Exception as exc:
            payload = pickle.dumps(on_crash(f"the task's outcome could not be sent back: {exc}"))
        with os.fdopen(writer, "wb") as out:
            out.write(payload)
        os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as incoming:
        payload = incoming.read()
    _, status = os.waitpid(pid, 0)
    if not payload:
        return on_crash(
            f"the task process (run as {user.name}) died (wait status {status}) before reporting"
        )
    return pickle.loads(payload)


def _become(user: RunAsUser, parent: int) -> None:
    os.setgroups([])
    os.setgid(user.gid)
    os.setuid(user.uid)
    if sys.platform.startswith("linux"):  # cleared by setuid: ask again, as the user
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(70)
    os.environ.update(HOME=user.home, USER=user.name, LOGNAME=user.name)


def _open_fds() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))
