"""The warm CLI process: modules imported once, one forked child per read command.

Started by :mod:`mlstudio.cli.launch` (``python -m mlstudio.cli.warm SOCKET``); see there for
what it serves and why. It opens no database and no file of any home: each child becomes the
caller (its stdio, directory, umask and environment) and then runs the command from scratch,
so a child sees exactly what an in-process command would. Only the same user may connect (the
socket's directory is 0700 and the peer's uid is checked).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

from mlstudio.cli.launch import IDLE_SECONDS, code_digest

# What read commands import; loaded once here so a child starts with them in memory.
PRELOAD = (
    "sqlalchemy",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
    "typer",
    "typer.main",
    "rich.console",
    "rich.table",
    "rich.markup",
    "mlstudio.cli.main",
    "mlstudio.cli.output",
    "mlstudio.cli.tables",
    "mlstudio.platform",
    "mlstudio.settings",
    "mlstudio.store.metadata.store",
    "mlstudio.store.metadata.schema",
    "mlstudio.governance.identity",
    "mlstudio.governance.rbac",
    "mlstudio.workflows.service",
    "mlstudio.workflows.engine",
    "mlstudio.workflows.subscribers",
    "mlstudio.store.metadata.engine",
    "mlstudio.store.artifacts.cas",
    "mlstudio.store.artifacts.objectstore",
    "mlstudio.modules.service",
    "mlstudio.scheduling.queue",
    "mlstudio.data.catalog",
    "sqlite3",
    "getpass",
    "termios",
    "typer._click.decorators",
)
# Packages whose every module is preloaded (the repositories and the interface's local areas).
PRELOAD_PACKAGES = ("mlstudio.store.metadata.repositories", "mlstudio.app.local")
CHECK_SECONDS = 30.0


def preload() -> None:
    """Import what read commands need and build every command group's click command."""
    import pkgutil

    from mlstudio.cli.main import ENTRIES, cli

    names = list(PRELOAD)
    for package in PRELOAD_PACKAGES:
        path = importlib.import_module(package).__path__
        names += [f"{package}.{info.name}" for info in pkgutil.iter_modules(path)]
    for name in names:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    import click

    with click.Context(cli) as ctx:
        for name in ENTRIES:
            with contextlib.suppress(Exception):  # a group that fails to build fails in its child
                cli.get_command(ctx, name)  # cached by the group


def serve(path: str) -> None:
    """Listen on ``path``, forking a child per command, until idle for IDLE_SECONDS or until
    mlstudio's code changes (checked every CHECK_SECONDS)."""
    lock = open(path + ".lock", "a")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another warm process has this socket
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")  # who holds it (for `kill`, and for the bench's clean-up)
    lock.flush()
    digest = os.path.basename(path)[len("warm-") : -len(".sock")]
    preload()
    gc.collect()
    gc.freeze()  # children share these pages instead of copying them on the first collection
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(path)
    finally:
        os.umask(old_umask)
    server.listen(128)
    server.settimeout(float(os.environ.get("MLSTUDIO_CLI_WARM_CHECK_SECONDS", CHECK_SECONDS)))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    last_work = time.monotonic()
    try:
        while True:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                idle = time.monotonic() - last_work > IDLE_SECONDS
                if idle or not os.path.exists(path) or code_digest() != digest:
                    return  # idle, removed, or the code changed (new commands go elsewhere)
                continue
            last_work = time.monotonic()
            if not _same_user(conn):
                conn.close()
                continue
            if os.fork() == 0:
                server.close()
                try:
                    _child(conn)
                finally:
                    os._exit(70)  # _child exits itself; this is reached only when it failed
            conn.close()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # ours: the lock keeps any other warm process off this path
        with contextlib.suppress(OSError):
            os.unlink(path + ".lock")
        server.close()


def _same_user(conn: socket.socket) -> bool:
    if not hasattr(socket, "SO_PEERCRED"):
        return True  # the 0700 directory is the guard on other systems
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _child(conn: socket.socket) -> None:
    """Become the caller, run the command, report its exit code; never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    conn.settimeout(10.0)
    header, fds, _flags, _addr = socket.recv_fds(conn, 8, 3)
    if len(header) != 8 or len(fds) != 3:
        os._exit(70)
    size = int.from_bytes(header, "big")
    payload = bytearray()
    while len(payload) < size:
        chunk = conn.recv(min(1 << 20, size - len(payload)))
        if not chunk:
            os._exit(70)
        payload += chunk
    conn.settimeout(None)
    request = json.loads(payload)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.argv = ["mlstudio", *request["argv"]]
    sys.path[:] = request["path"]  # the caller's, as the console script set it up
    if "random" in sys.modules:  # forked children must not share one random sequence
        sys.modules["random"].seed()
    sys.stdout.reconfigure(line_buffering=os.isatty(1))
    conn.sendall(f"pid {os.getpid()}\n".encode())
    finished = _die_with_the_caller(conn)
    from mlstudio.cli.main import main

    before, started = set(sys.modules), time.perf_counter()
    try:
        code = main(request["argv"])
    except SystemExit as exc:  # pragma: no cover - main returns codes
        code = exc.code if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        code = 130
    if os.environ.get("MLSTUDIO_CLI_WARM_TRACE"):
        imported = sorted(set(sys.modules) - before)
        sys.stderr.write(
            f"mlstudio: served warm by pid {os.getpid()} in "
            f"{(time.perf_counter() - started) * 1000:.1f} ms; "
            f"{len(imported)} modules imported: {' '.join(imported)}\n"
        )
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    finished.set()
    with contextlib.suppress(OSError):
        conn.sendall(f"exit {int(code)}\n".encode())
    os._exit(int(code))


def _die_with_the_caller(conn: socket.socket) -> threading.Event:
    """Watch the caller's end of the socket: it sends nothing more, so the read returns only
    when the caller is gone. Then this child is killed at once (SIGKILL, like the caller), unless
    the command had already finished (the returned event is set)."""
    finished = threading.Event()

    def watch() -> None:
        with contextlib.suppress(OSError):
            while conn.recv(64):
                pass
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="mlstudio-caller-watch", daemon=True).start()
    return finished


def main() -> None:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m mlstudio.cli.warm SOCKET (started by mlstudio)\n")
        raise SystemExit(2)
    serve(sys.argv[1])


if __name__ == "__main__":
    main()
