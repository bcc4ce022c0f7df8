"""The ``mlstudio`` entry point: read commands answered by a warm process, the rest in-process.

Importing SQLAlchemy, Typer and the platform costs about 0.4 s of CPU on every invocation,
while the work of ``module list`` or ``runs show`` takes a few milliseconds. So, like Bazel's
or Gradle's daemons and ``dmypy``, a **warm process** (:mod:`mlstudio.cli.warm`) keeps those
modules imported and forks one child per read command. The child takes over this process's
stdin, stdout and stderr (passed over a Unix socket), its working directory, umask and whole
environment, runs the command exactly as :func:`mlstudio.cli.main.main` would, and reports the
exit code, which this process exits with. Signals (Ctrl-C) are forwarded to the child.

- Read commands (:data:`WARM_SUBCOMMANDS` of any group, and ``whoami``) and ``mlstudio run``
  are served warm; everything else runs here as before. The child dies with its caller: when
  this process goes away without the exit code (``kill -9``, a closed terminal), the child
  kills itself at once, as an in-process command would have died, so a run's engine never
  outlives the command that started it.
- The socket lives in a 0700 directory of the user's own (``$XDG_RUNTIME_DIR`` or ``/tmp``),
  named after a digest of this interpreter, its site-packages and mlstudio's source files: new
  code or a new install gets a new warm process, and the old one exits when idle.
- The first read command of a fresh install runs in-process and starts the warm process in the
  background; it exits after :data:`IDLE_SECONDS` without work.
- ``MLSTUDIO_CLI_WARM=0`` turns it off; ``MLSTUDIO_CLI_WARM_DIR`` moves the socket directory.

This module imports only the standard library's cheapest parts: it runs before anything else.
"""

from __future__ import annotations

import contextlib
import os
import sys

WARM_SUBCOMMANDS = frozenset({"list", "show"})
WARM_COMMANDS = frozenset({"whoami", "run"})
NEVER_WARM_OPTIONS = frozenset({"--follow", "-f", "--watch", "--help", "-h", "--png"})
IDLE_SECONDS = 900.0
_WARM_ENV = frozenset(
    {"PATH", "PYTHONPATH", "PYTHONHOME", "LANG", "HOME", "TMPDIR", "VIRTUAL_ENV"}
    | {"MLSTUDIO_CLI_WARM_DIR", "MLSTUDIO_CLI_WARM_CHECK_SECONDS"}
)
PROTOCOL = 1


def run() -> None:
    """The console script: exit with the command's code."""
    argv = sys.argv[1:]
    if _servable(argv) and _enabled():
        path = socket_path()
        if path is not None:
            code = _run_warm(path, argv)
            if code is not None:
                raise SystemExit(code)
            _start_warm_process(path)
    from mlstudio.cli.main import main

    raise SystemExit(main(argv))


def _enabled() -> bool:
    if os.environ.get("MLSTUDIO_CLI_WARM", "1").strip().lower() in {"0", "false", "no", "off"}:
        return False
    import socket

    return os.name == "posix" and hasattr(socket, "send_fds") and sys.platform != "win32"


def _servable(argv: list[str]) -> bool:
    words = [a for a in argv if not a.startswith("-")]
    if any(a in NEVER_WARM_OPTIONS or a.startswith("--follow") for a in argv):
        return False
    if not words:
        return False
    if words[0] in WARM_COMMANDS:
        return True
    return len(words) >= 2 and words[1] in WARM_SUBCOMMANDS


# --- where the warm process listens -------------------------------------------------------------


def warm_dir() -> str | None:
    """The user's private socket directory, created 0700; None when it is not safely ours."""
    base = os.environ.get("MLSTUDIO_CLI_WARM_DIR")
    if not base:
        root = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
        base = os.path.join(root, f"mlstudio-cli-{os.getuid()}")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.stat(base)
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None  # shared or someone else's: never trust a socket there
    return base


def code_digest() -> str:
    """Changes when the interpreter, its installed packages or mlstudio's source change."""
    import zlib

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = [
        str(PROTOCOL),
        sys.executable,
        sys.version,
        os.environ.get("PYTHONPATH", ""),
        os.environ.get("PYTHONHOME", ""),
        package,
    ]
    for entry in sys.path:
        if entry.endswith("site-packages"):
            with contextlib.suppress(OSError):
                parts.append(f"{entry}:{os.stat(entry).st_mtime_ns}")
    stack = [package]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for item in entries:
                if item.is_dir(follow_symlinks=False):
                    if item.name != "__pycache__":
                        stack.append(item.path)
                elif item.name.endswith(".py"):
                    st = item.stat()
                    parts.append(f"{item.path}:{st.st_mtime_ns}:{st.st_size}")
    parts.sort()
    return f"{zlib.crc32(chr(0).join(parts).encode()):08x}{zlib.adler32(repr(parts).encode()):08x}"


def socket_path() -> str | None:
    base = warm_dir()
    return None if base is None else os.path.join(base, f"warm-{code_digest()}.sock")


# --- talking to it -------------------------------------------------------------------------------


def _run_warm(path: str, argv: list[str]) -> int | None:
    """The command's exit code from the warm process, or None when it cannot take the command
    (no warm process yet, or it failed before starting the command: run it here instead)."""
    import json
    import signal
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    umask = os.umask(0o022)
    os.umask(umask)
    request = json.dumps(
        {
            "argv": argv,
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "umask": umask,
            "path": sys.path,
        }
    ).encode()
    reader = sock.makefile("rb")
    try:
        socket.send_fds(sock, [len(request).to_bytes(8, "big")], [0, 1, 2])
        sock.sendall(request)
        started = reader.readline().split()
        if len(started) != 2 or started[0] != b"pid":
            return None  # nothing ran: run it here
        child = int(started[1])
    except OSError:
        return None

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(child, signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(signum, forward)
    try:
        finished = reader.readline().split()
    except OSError:
        finished = []
    finally:
        sock.close()
    if len(finished) == 2 and finished[0] == b"exit":
        return int(finished[1])
    sys.stderr.write(
        "error: the warm mlstudio process died while running this command "
        "(MLSTUDIO_CLI_WARM=0 runs commands in-process)\n"
    )
    return 70


def _start_warm_process(path: str) -> None:
    """Start the warm process in the background (its own session; it outlives this command)."""
    import subprocess

    folder = os.path.dirname(path)
    # It keeps no caller's secrets: each command brings its own environment.
    env = {k: v for k, v in os.environ.items() if k in _WARM_ENV or k.startswith("LC_")}
    try:
        with open(os.path.join(folder, "warm.log"), "ab") as err:
            subprocess.Popen(
                [sys.executable, "-P", "-m", "mlstudio.cli.warm", path],  # -P: no cwd on sys.path
                cwd=folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
    except OSError:
        pass  # no warm process: every command keeps running in-process


if __name__ == "__main__":  # pragma: no cover
    run()
