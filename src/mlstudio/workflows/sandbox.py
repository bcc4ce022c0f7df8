"""The task sandbox: a Python audit hook that confines what user code touches on disk.

One hook per worker process (audit hooks cannot be removed), switched on only while a task's
own code runs (:func:`confine`). While it is on, it

* **refuses** opening, listing, copying, renaming, removing, linking or ``sqlite3.connect``-ing
  anything under a *protected root* (the mlstudio home, the artifact store, the metadata
  database file and its ``-wal``/``-shm``/``-journal``, the scratch space of other tasks), and
  writing into the task's own module code, with a ``PermissionError`` that names the path and
  the reason. Every refusal is kept (:attr:`TaskScope.denials`): the runtime fails the attempt
  with status ``denied`` even when user code caught the error;
* **records** every file and directory listing read outside the task's module code, the
  interpreter (stdlib, site-packages, mlstudio itself), its scratch directory and ``/proc``,
  ``/sys``, ``/dev`` (:attr:`TaskScope.reads`): the read set that the cache validates
  (:mod:`mlstudio.workflows.cache.readset`);
* **notes** what it cannot follow (subprocesses, ``os.system``, ``exec``, native libraries
  loaded with ``ctypes``, network connections) in :attr:`TaskScope.effects`.

The worker's own store access during a task (a lazily loaded input table, the task's log file)
runs inside :func:`trusted`, which the hook lets through. What the hook cannot see — native
code that calls C ``open`` (Arrow's and DuckDB's own file readers, any extension), and what a
subprocess does — is documented in docs/governance.md ("The task sandbox"); running tasks as a
separate OS user (``MLSTUDIO_RUN_AS``, :mod:`mlstudio.workflows.runas`) closes that gap.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstudio.errors import PermissionDeniedError

# event -> how its arguments name paths (see "Audit events table" in the Python docs)
_OPEN, _LIST, _WRITE, _COPY, _SQLITE, _EFFECT = range(6)
_EVENTS: dict[str, tuple[int, tuple[int, ...]]] = {
    "open": (_OPEN, (0,)),
    "os.listdir": (_LIST, (0,)),
    "os.scandir": (_LIST, (0,)),
    "os.remove": (_WRITE, (0,)),
    "os.rmdir": (_WRITE, (0,)),
    "os.mkdir": (_WRITE, (0,)),
    "os.truncate": (_WRITE, (0,)),
    "os.chmod": (_WRITE, (0,)),
    "os.chown": (_WRITE, (0,)),
    "os.chflags": (_WRITE, (0,)),
    "os.lchflags": (_WRITE, (0,)),
    "os.lchmod": (_WRITE, (0,)),
    "os.utime": (_WRITE, (0,)),
    "os.setxattr": (_WRITE, (0,)),
    "os.removexattr": (_WRITE, (0,)),
    "os.getxattr": (_LIST, (0,)),
    "os.listxattr": (_LIST, (0,)),
    "os.rename": (_COPY, (0, 1)),
    "os.link": (_COPY, (0, 1)),
    "os.symlink": (_COPY, (0, 1)),
    "shutil.copyfile": (_COPY, (0, 1)),
    "shutil.copymode": (_COPY, (0, 1)),
    "shutil.copystat": (_COPY, (0, 1)),
    "shutil.copytree": (_COPY, (0, 1)),
    "shutil.move": (_COPY, (0, 1)),
    "shutil.rmtree": (_WRITE, (0,)),
    "shutil.make_archive": (_COPY, (2, 0)),
    "shutil.unpack_archive": (_COPY, (0, 1)),
    "sqlite3.connect": (_SQLITE, (0,)),
    "subprocess.Popen": (_EFFECT, (0, 1)),
    "os.system": (_EFFECT, (0,)),
    "os.exec": (_EFFECT, (0, 1)),
    "os.posix_spawn": (_EFFECT, (0, 1)),
    "os.spawn": (_EFFECT, (1, 2)),
    "os.fork": (_EFFECT, ()),
    "os.forkpty": (_EFFECT, ()),
    "ctypes.dlopen": (_EFFECT, (0,)),
    "socket.connect": (_EFFECT, (1,)),
}
_EFFECT_KINDS = {
    "subprocess.Popen": "subprocess",
    "os.system": "subprocess",
    "os.exec": "subprocess",
    "os.posix_spawn": "subprocess",
    "os.spawn": "subprocess",
    "os.fork": "fork",
    "os.forkpty": "fork",
    "ctypes.dlopen": "native library",
    "socket.connect": "network",
}
_MAX_EFFECTS = 50
# the worker's credentials: not in the environment while a task's code runs
_SECRET_ENV = ("MLSTUDIO_DATABASE_URL", "MLSTUDIO_TOKEN")
_DROPPED = [False]
_PROC_SECRETS = frozenset({"environ", "mem", "pagemap"})  # /proc/PID/… of any process
_SYSTEM = ("/proc", "/sys", "/dev")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

_LOCAL = threading.local()  # .trusted: this thread is the worker's own code right now
_ACTIVE: list[TaskScope | None] = [None]  # the scope of the task running in this process
_INSTALLED: list[bool] = [False]
_INTERPRETER: list[tuple[str, ...]] = []  # computed once per process
_PREPARED: dict[tuple[Any, ...], Any] = {}  # per policy: allowed interpreter roots, roots
_REAL: dict[str, str] = {}  # resolved code roots


@dataclass(frozen=True)
class SandboxPolicy:
    """The protected roots of one host, as plain data (it travels in a ``TaskDispatch``).

    ``roots`` maps a protected directory to what it is ("the mlstudio home", …); ``files``
    maps single protected files (the SQLite database and its journals) the same way;
    ``scratch`` is the folder under which every task attempt gets its own directory (the
    folder itself is protected: other attempts' directories are in it)."""

    roots: dict[str, str]
    files: dict[str, str]
    scratch: str
    sockets: dict[str, str] = field(default_factory=dict)  # "ip:port" -> what it is

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxPolicy:
        return cls(
            dict(data.get("roots") or {}),
            dict(data.get("files") or {}),
            data["scratch"],
            dict(data.get("sockets") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "roots": dict(self.roots),
            "files": dict(self.files),
            "scratch": self.scratch,
            "sockets": dict(self.sockets),
        }


def default_scratch_base() -> str:
    """Outside any home, so a task run as another OS user can reach its own directory."""
    import tempfile

    return str(Path(tempfile.gettempdir()) / f"mlstudio-scratch-{os.getuid()}")


def policy_for(settings: Any) -> dict[str, Any]:
    """The protected roots of the host described by ``settings`` (a ``Settings``)."""
    roots = {_real(settings.home): "inside the mlstudio home (databases, logs, caches)"}
    artifact = _local_path(settings.resolved_artifact_url)
    if artifact:
        roots[_real(artifact)] = "inside mlstudio's artifact store"
    roots[_real(settings.home / "logs")] = "a task log (the logs of every run)"
    roots[_real(settings.cache_dir)] = "inside mlstudio's caches (module code, environments)"
    files: dict[str, str] = {}
    database = _sqlite_path(settings.resolved_database_url)
    if database:
        for suffix in ("", "-wal", "-shm", "-journal"):
            files[_real(database) + suffix] = "mlstudio's metadata database"
    scratch = _real(default_scratch_base())
    roots[scratch] = "another task's scratch space"
    sockets, socket_dir = _database_addresses(settings.resolved_database_url)
    if socket_dir:
        roots[_real(socket_dir)] = "the socket of mlstudio's metadata database"
    return SandboxPolicy(roots, files, scratch, sockets).to_dict()


def merge(*policies: dict[str, Any] | None) -> dict[str, Any] | None:
    """The union of several hosts' protected roots (a queue worker adds its own to the
    engine's); the scratch folder is the last one's."""
    given = [p for p in policies if p]
    if not given:
        return None
    roots: dict[str, str] = {}
    files: dict[str, str] = {}
    sockets: dict[str, str] = {}
    for p in given:
        roots.update(p.get("roots") or {})
        files.update(p.get("files") or {})
        sockets.update(p.get("sockets") or {})
    return {"roots": roots, "files": files, "scratch": given[-1]["scratch"], "sockets": sockets}


@dataclass
class TaskScope:
    """What one task attempt touched while its code ran (filled in by the hook)."""

    policy: SandboxPolicy
    code_roots: tuple[str, ...]  # the task's own module code (read-only)
    scratch: str | None
    untracked: frozenset[str] = frozenset()  # declared file inputs: hashed up front instead
    on_scratch: Any = None  # makes the scratch directory (on first use)
    reads: dict[str, tuple[int, int, int, int] | None] = field(default_factory=dict)
    listings: set[str] = field(default_factory=set)
    own: set[str] = field(default_factory=set)  # written before it was read: an output
    effects: list[dict[str, str]] = field(default_factory=list)
    effect_count: int = 0
    denials: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        key = (tuple(self.policy.roots), tuple(self.policy.files))
        known = _PREPARED.get(key)
        if known is None:
            protected = [*self.policy.roots, *self.policy.files]
            # an interpreter root that holds a protected root (a home inside a prefix) is not
            # trusted whole; roots inside protected ones (a module environment) are
            allowed = tuple(
                r for r in _interpreter_roots() if not any(_under(p, r) for p in protected)
            )
            roots = sorted(self.policy.roots.items(), key=lambda kv: -len(kv[0]))
            known = _PREPARED[key] = (allowed, roots)
        self.allowed, self.roots = known

    def allow_code(self, root: str) -> None:
        """Let the code under ``root`` (another module this workflow uses) be read."""
        real = _real_cached(root)
        if real not in self.code_roots:
            self.code_roots = (*self.code_roots, real)

    def absorb(self, other: TaskScope) -> None:
        """Add what ``other`` (the same attempt's code loading) read and ran to this scope."""
        for path, first in other.reads.items():
            self.reads.setdefault(path, first)
        self.listings |= other.listings
        self.effects = [*other.effects, *self.effects][:_MAX_EFFECTS]
        self.effect_count += other.effect_count

    # --- called by the hook -------------------------------------------------------------------
    def handle(self, event: str, args: tuple[Any, ...]) -> None:
        kind, positions = _EVENTS[event]
        if kind == _EFFECT:
            if self.on_scratch is not None and _EFFECT_KINDS[event] in ("subprocess", "fork"):
                self.on_scratch()  # it inherits TMPDIR
            if event == "socket.connect" and len(args) > 1:
                self._connect(args[1])
            self._effect(event, [args[i] for i in positions if i < len(args)])
            return
        if kind == _OPEN:
            path, mode, flags = (*args, None, None, None)[:3]
            writing = _writes(mode, flags)
            self.access(path, "write" if writing else "read", "open")
        elif kind == _LIST:
            path = args[0] if args else None
            self.access("." if path is None else path, "list", event)
        elif kind == _WRITE:
            self.access(args[0], "write", event)
        elif kind == _COPY:
            source, target = (args[positions[0]], args[positions[1]])
            if source is not None:
                self.access(source, "read-copy", event)
            if target is not None:
                self.access(target, "write", event)
        elif kind == _SQLITE:
            database = args[0]
            if isinstance(database, bytes | str | os.PathLike):
                text = os.fsdecode(database)
                if text.startswith("file:"):
                    text = text[5:].split("?", 1)[0]
                if text and text != ":memory:":
                    self.access(text, "read", event)

    def access(self, raw: Any, intent: str, op: str) -> None:
        if isinstance(raw, int) or raw is None:
            return  # a file descriptor: its open was checked
        real = _real(raw)
        zone, why = self.zone(real, intent)
        if zone == "deny":
            self._refuse(real, op, why)
        if zone != "free":
            return
        if intent == "write":
            if real not in self.reads:
                self.own.add(real)
            return
        if real in self.own or real in self.untracked or intent == "read-socket":
            return
        if intent == "list":
            if not _in_import():
                self.listings.add(real)
            return
        if real.endswith(_CODE_SUFFIXES) and _opened_by_import() and _distributed(real):
            # code of an installed distribution, loaded by the import system: the cache key's
            # environment part (the distribution's version) covers it, not the read set; code
            # on sys.path that no distribution owns is tracked like any file
            return
        if real.endswith(".pyc") and "__pycache__" in real:
            real = _source_of(real) or real  # a stale .pyc would not show an edited source
        if real not in self.reads:
            self.reads[real] = _stat(real)

    def zone(self, real: str, intent: str) -> tuple[str, str]:
        """("allow" | "free" | "deny", reason) for one resolved path."""
        if self.scratch and _under(real, self.scratch):
            if self.on_scratch is not None:
                self.on_scratch()  # made on first use
            return "allow", ""
        for root in self.code_roots:
            if _under(real, root):
                if intent == "write":
                    return "deny", "the task's own module code, which is read-only"
                return "allow", ""
        for root in self.allowed:
            if _under(real, root):
                return "allow", ""
        what = self.policy.files.get(real)
        if what:
            return "deny", what
        for root, what in self.roots:
            if _under(real, root):
                return "deny", f"{what} ({root})"
        if real.startswith(_SYSTEM) and any(_under(real, s) for s in _SYSTEM):
            if real.startswith("/proc/") and real.rsplit("/", 1)[-1] in _PROC_SECRETS:
                return "deny", "a process's environment or memory (the worker's credentials)"
            return "allow", ""
        return "free", ""

    def _connect(self, address: Any) -> None:
        if isinstance(address, str | bytes):  # a Unix socket: a path
            if address and address[:1] not in ("\0", b"\0"):
                self.access(address, "read-socket", "socket.connect")
            return
        if isinstance(address, tuple) and len(address) >= 2:
            key = f"{address[0]}:{address[1]}"
            what = self.policy.sockets.get(key)
            if what:
                self._refuse(key, "socket.connect", what)

    def _refuse(self, real: str, op: str, why: str) -> None:
        verb = {
            "open": "opening",
            "sqlite3.connect": "connecting to",
            "socket.connect": "connecting to",
        }.get(op, f"{op} of")
        message = (
            f"the task sandbox refused {verb} {real}: it is {why}; a task reads data only "
            "through its inputs (pass a dataset or an upstream output, or a Path parameter "
            "for a file outside mlstudio's storage)"
        )
        self.denials.append({"path": real, "operation": op, "reason": why, "message": message})
        raise PermissionError(errno.EACCES, message, real)

    def _effect(self, event: str, parts: list[Any]) -> None:
        if event == "ctypes.dlopen" and not parts[0]:
            return  # the process itself (ctypes.CDLL(None))
        self.effect_count += 1
        if len(self.effects) >= _MAX_EFFECTS:
            return
        what = " ".join(_short(p) for p in parts if p is not None)
        self.effects.append({"kind": _EFFECT_KINDS[event], "event": event, "what": what})


# --- the hook ---------------------------------------------------------------------------------
def install() -> None:
    """Add the audit hook to this process (once; it stays for the life of the process)."""
    if _INSTALLED[0]:
        return
    _INSTALLED[0] = True
    _interpreter_roots()  # now, while every path is readable (a run_as child may not read them)
    active, local, events = _ACTIVE, _LOCAL, _EVENTS

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in events:
            return
        scope = active[0] or getattr(local, "scope", None)
        if scope is None or getattr(local, "trusted", False):
            return
        local.trusted = True  # the hook's own calls are not checked again
        try:
            scope.handle(event, args)
        finally:
            local.trusted = False

    sys.addaudithook(hook)


@contextmanager
def confine(
    policy: dict[str, Any] | None,
    *,
    code_roots: tuple[str, ...],
    scratch: str | None,
    untracked: frozenset[str] = frozenset(),
    on_scratch: Any = None,
    thread_only: bool = False,
) -> Iterator[TaskScope | None]:
    """Switch the sandbox on for the task code run inside the block (``None``: no policy,
    nothing is checked or recorded). One task at a time per process; ``thread_only``: for this
    thread alone (planning a workflow in a process that serves others at the same time)."""
    if not policy:
        yield None
        return
    install()
    if _ACTIVE[0] is not None or getattr(_LOCAL, "scope", None) is not None:
        raise RuntimeError("a task sandbox is already active here")
    scope = TaskScope(
        SandboxPolicy.from_dict(policy),
        tuple(_real_cached(r) for r in code_roots),
        scratch,  # under the policy's scratch folder, which is resolved already
        frozenset(_real(p) for p in untracked),
        on_scratch=on_scratch,
    )
    if thread_only:  # the environment is the process's: left alone
        _LOCAL.scope = scope
        try:
            with _no_bytecode():
                yield scope
        finally:
            _LOCAL.scope = None
        return
    drop_credentials()  # a process that runs tasks keeps none (once: then a no-op)
    _ACTIVE[0] = scope
    try:
        with _no_bytecode():
            yield scope
    finally:
        _ACTIVE[0] = None


_BYTECODE_LOCK = threading.Lock()
_BYTECODE_OFF = [0, False]  # sandboxes open in this process, the flag before the first


@contextmanager
def _no_bytecode() -> Iterator[None]:
    """No ``.pyc`` writes while any sandbox is open (a lazy import must not write into module
    code: a crafted ``.pyc`` there would run in later tasks)."""
    with _BYTECODE_LOCK:
        if _BYTECODE_OFF[0] == 0:
            _BYTECODE_OFF[1] = sys.dont_write_bytecode
            sys.dont_write_bytecode = True
        _BYTECODE_OFF[0] += 1
    try:
        yield
    finally:
        with _BYTECODE_LOCK:
            _BYTECODE_OFF[0] -= 1
            if _BYTECODE_OFF[0] == 0:
                sys.dont_write_bytecode = _BYTECODE_OFF[1]


@contextmanager
def trusted() -> Iterator[None]:
    """The worker's own file access while a task runs (in this thread): not checked."""
    before = getattr(_LOCAL, "trusted", False)
    _LOCAL.trusted = True
    try:
        yield
    finally:
        _LOCAL.trusted = before


def trusted_fetch(fetch: Any, digests: set[str]) -> Any:
    """``fetch(digest)`` run as the worker, for the digests this task was handed only."""

    def get(digest: str) -> bytes:
        if digest not in digests:
            raise PermissionError(
                errno.EACCES, f"the task sandbox refused reading artifact {digest[:12]}"
            )
        with trusted():
            return fetch(digest)

    return get


class PlanningDeniedError(PermissionDeniedError):
    """A workflow's code, run to plan it, tried to open mlstudio's own storage."""

    code = "sandbox_denied"


def drop_credentials() -> None:
    """Take the worker's credentials out of this process's environment for good (a process
    that runs tasks needs none: it reads and writes the artifact store only). What the process
    started with stays readable in ``/proc/self/environ``, which the sandbox refuses. The store
    the environment named is kept first, for the worker's own in-task registry reads
    (:mod:`mlstudio.workflows.executors.store`)."""
    if _DROPPED[0]:
        return
    _DROPPED[0] = True
    from mlstudio.workflows.executors import store

    store.remember_environment()
    for key in _SECRET_ENV:
        os.environ.pop(key, None)


def denial_audit(
    result: Any, actor: str, resource: str, domain: str
) -> tuple[str, str, str, str, dict[str, Any]] | None:
    """The audit record of an attempt the sandbox refused (None: not a sandbox denial)."""
    denials = (result.extra or {}).get("sandbox_denials")
    if not denials:
        return None
    first = denials[0]
    details = {
        "domain": domain,
        "path": first["path"],
        "operation": first["operation"],
        "reason": first["reason"],
        "refusals": len(denials),
    }
    return (actor, "sandbox.access", resource, "deny", details)


# --- paths ------------------------------------------------------------------------------------
def _real(path: Any) -> str:
    text = os.fsdecode(os.fspath(path))
    try:
        return os.path.realpath(text)
    except (OSError, ValueError):
        return os.path.abspath(text)


def _real_cached(path: str) -> str:
    found = _REAL.get(path)
    if found is None:
        found = _REAL[path] = _real(path)
    return found


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


def _writes(mode: Any, flags: Any) -> bool:
    if isinstance(mode, str):
        return any(c in mode for c in "wax+")
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _stat(real: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(real)
    except OSError:
        return None
    if stat.S_ISDIR(st.st_mode):
        return (-1, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _source_of(pyc: str) -> str | None:
    try:
        from importlib.util import source_from_cache

        source = source_from_cache(pyc)
    except (ValueError, NotImplementedError):
        return None
    return source if os.path.exists(source) else None


_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth")


def _opened_by_import() -> bool:
    """The file being opened is opened by the import machinery itself (a module's source or
    bytecode), not by code that runs during an import (a data file read at top level)."""
    frame = sys._getframe(1)
    here = __file__
    while frame is not None and frame.f_code.co_filename == here:
        frame = frame.f_back
    return frame is not None and frame.f_code.co_filename.startswith("<frozen importlib")


_OWNED: list[dict[str, list[str]]] = []


def _distributed(real: str) -> bool:
    """Whether ``real`` (a code file on ``sys.path``) belongs to an installed distribution."""
    for entry in sys.path:
        root = _real(entry or os.getcwd())
        if _under(real, root) and real != root:
            top = Path(os.path.relpath(real, root)).parts[0]
            name = top.split(".", 1)[0]
            if not _OWNED:
                from importlib.metadata import packages_distributions

                _OWNED.append(packages_distributions())
            return name in _OWNED[0]
    return False


def _in_import() -> bool:
    """A listing made by the import system (a finder scanning ``sys.path``)."""
    frame = sys._getframe(3)
    for _ in range(30):
        if frame is None:
            return False
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _short(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "…"


def _interpreter_roots() -> tuple[str, ...]:
    if not _INTERPRETER:
        import site
        import sysconfig

        candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        for key in ("stdlib", "platstdlib", "purelib", "platlib", "include", "scripts"):
            with_key = sysconfig.get_paths().get(key)
            if with_key:
                candidates.add(with_key)
        try:
            candidates.update(site.getsitepackages())
            candidates.add(site.getusersitepackages())
        except AttributeError:  # pragma: no cover  (virtualenv's old site.py)
            pass
        import mlstudio

        candidates.add(str(Path(mlstudio.__file__).parent))
        _INTERPRETER.append(tuple(sorted({_real(c) for c in candidates if c})))
    return _INTERPRETER[0]


def _local_path(url: str) -> str | None:
    if url.startswith("file://"):
        return url[len("file://") :]
    if "://" in url:
        return None
    return url


def _database_addresses(url: str) -> tuple[dict[str, str], str | None]:
    """The network addresses ("ip:port") of a server database, and its Unix socket folder."""
    from urllib.parse import parse_qs, urlsplit

    if url.startswith("sqlite"):
        return {}, None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return {}, None
    scheme = parts.scheme.split("+")[0]
    default_port = {"postgresql": 5432, "postgres": 5432, "mysql": 3306}.get(scheme)
    what = "mlstudio's metadata database"
    socket_dir = (parse_qs(parts.query).get("host") or [None])[0]
    if socket_dir and not socket_dir.startswith("/"):
        socket_dir = None
    host = parts.hostname
    if not host:
        return {}, socket_dir
    out: dict[str, str] = {}
    import socket

    try:
        infos = socket.getaddrinfo(host, port or default_port, proto=socket.IPPROTO_TCP)
    except OSError:
        infos = []
    for info in infos:
        out[f"{info[4][0]}:{info[4][1]}"] = f"{what} ({host}:{port or default_port})"
    return out, socket_dir


def _sqlite_path(url: str) -> str | None:
    if not url.startswith("sqlite"):
        return None
    _, _, rest = url.partition(":///")
    rest = rest.split("?", 1)[0]
    return rest if rest and rest != ":memory:" else None
