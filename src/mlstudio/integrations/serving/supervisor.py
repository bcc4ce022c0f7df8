"""The server's deployment supervisor: one ``mlstudio serve`` process per deployment.

Every ``poll_s`` it reads the ``deployments`` table and makes the processes match it: starts a
process for a new deployment (on its port, else a free one kept across restarts), restarts one
whose desired state changed, restarts one that died (backoff 0.5 s doubling to 30 s, reset after
30 s up; each restart counted and audited as ``deploy.restart``), stops and forgets a removed
one. It writes what it sees (status, reason, url, pid, restarts) back to the row. A process
whose load is refused (the domain may not read the model's classification) exits at start: its
one-line error becomes the deployment's ``reason`` and the status ``failed`` until it answers.

The serving process runs as the deployment's creator, on the server's database and artifact
store. A supervisor claims a deployment with a heartbeat, so two servers on one database do
not both run it. On Linux a child gets SIGTERM when the supervisor thread ends
(``PR_SET_PDEATHSIG``), so a killed server leaves no serving process holding the port.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger("mlstudio.deploy")

POLL_S = 0.5
STALE_S = 15.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
HEALTHY_AFTER_S = 30.0
HOST_ENV = "MLSTUDIO_DEPLOY_HOST"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _serve_command() -> list[str]:
    beside = Path(sys.executable).with_name("mlstudio")
    if beside.is_file():
        return [str(beside)]
    return [sys.executable, "-c", "from mlstudio.cli.main import run; run()"]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def last_error(path: Path) -> str | None:
    """The last ``error: …`` line of a serving process's log (its one-line failure)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 16384))
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith("error: "):
            return line[len("error: ") :].strip()[:1000]
    return None


@dataclass
class Child:
    """One serving process and what the supervisor knows about it."""

    revision: int
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready: bool = False
    backoff_s: float = BACKOFF_START_S
    next_start: float = 0.0
    exits: list[int] = field(default_factory=list)


class Supervisor:
    def __init__(
        self,
        platform: Any,
        *,
        host: str | None = None,
        poll_s: float = POLL_S,
        stale_s: float = STALE_S,
    ) -> None:
        self.platform = platform
        self.host = host or os.environ.get(HOST_ENV) or "127.0.0.1"
        self.poll_s = poll_s
        self.stale_s = stale_s
        self.id = f"sup-{os.getpid()}-{secrets.token_hex(3)}"
        self.children: dict[str, Child] = {}
        self.logs = Path(platform.settings.home) / "deployments"

    # --- the loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # the DB is down: keep the children, try again
                log.warning("deployment supervisor: %s", exc)
            stop.wait(self.poll_s)
        self.shutdown()

    def tick(self) -> None:
        store = self.platform.store
        with store.read() as uow:
            rows = {r["name"]: r for r in uow.deployments.all()}
        for name in list(self.children):
            if name not in rows:
                self._stop(name)
        stale = _now() - timedelta(seconds=self.stale_s)
        for name, row in rows.items():
            if not store.retrying(lambda uow, n=name: uow.deployments.claim(n, self.id, stale)):
                continue
            if row["desired"] == "removed":
                self._stop(name)
                store.retrying(lambda uow, n=name: uow.deployments.delete(n))
                log.info("deployment %s removed", name)
                continue
            self._reconcile(row)

    def _reconcile(self, row: dict[str, Any]) -> None:
        name = row["name"]
        child = self.children.get(name)
        if child is not None and child.revision != row["revision"]:
            self._stop(name)  # the desired state changed: start it again with the new one
            child = None
        if child is None:
            port = row["port"]
            if port is None and row["url"]:
                port = _port_of(row["url"])  # keep the port a previous supervisor picked
            child = Child(row["revision"], int(port or free_port(self.host)), self._log(name))
            self.children[name] = child
            self._start(row, child)
            return
        now = time.monotonic()
        proc = child.proc
        if proc is not None and proc.poll() is not None:
            self._died(row, child, proc.returncode)
            return
        if proc is None:
            if now >= child.next_start:
                self._start(row, child)
            return
        if not child.ready and self._healthy(child):
            child.ready = True
            self._observe(name, status="running", reason=None, pid=proc.pid)
            log.info("deployment %s running at %s (pid %d)", name, self._url(child), proc.pid)
        elif child.ready and now - child.started_at > HEALTHY_AFTER_S:
            child.backoff_s = BACKOFF_START_S
            self._observe(name)  # heartbeat
        else:
            self._observe(name)

    # --- processes ----------------------------------------------------------------------------
    def _start(self, row: dict[str, Any], child: Child) -> None:
        settings = self.platform.settings
        env = {k: v for k, v in os.environ.items() if k not in ("MLSTUDIO_URL", "MLSTUDIO_TOKEN")}
        env.update(
            MLSTUDIO_HOME=str(settings.home),
            MLSTUDIO_DATABASE_URL=settings.resolved_database_url,
            MLSTUDIO_ARTIFACT_URL=settings.resolved_artifact_url,
            MLSTUDIO_USER=row["created_by"],
        )
        args = [*_serve_command(), "serve", row["model"], "--alias", row["alias"]]
        for also in row["also"] or []:
            args += ["--also", also]
        if row["fallback"]:
            args += ["--fallback", row["fallback"]]
        args += ["--domain", row["domain"], "--host", self.host, "--port", str(child.port)]
        args += ["--log-level", "warning"]
        self.logs.mkdir(parents=True, exist_ok=True)
        with child.log.open("ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {args[1:]}\n".encode())
            out.flush()
            child.proc = subprocess.Popen(
                args,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        child.started_at = time.monotonic()
        child.ready = False
        if not child.exits:
            status = "starting"
        else:
            status = "failed" if row["status"] == "failed" else "restarting"
        self._observe(
            row["name"],
            status=status,
            url=self._url(child),
            pid=child.proc.pid,
            running_revision=row["revision"],
        )

    def _died(self, row: dict[str, Any], child: Child, code: int) -> None:
        name = row["name"]
        reason = last_error(child.log) or f"the serving process exited with code {code}"
        if code < 0:
            reason = f"the serving process was killed by signal {-code}"
        child.exits.append(code)
        child.proc = None
        child.ready = False
        child.next_start = time.monotonic() + child.backoff_s
        wait = child.backoff_s
        child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
        restarts = int(row["restarts"]) + 1
        status = "restarting" if code < 0 or row["status"] == "running" else "failed"
        log.warning("deployment %s: %s; restart %d in %.1fs", name, reason, restarts, wait)
        self._observe(name, status=status, reason=reason, pid=None, restarts=restarts)
        details = {"exit_code": code, "reason": reason, "restarts": restarts, "in_s": wait}

        def audit(uow: Any) -> None:
            uow.audit.record(
                row["created_by"], "deploy.restart", f"deployment:{name}", details=details
            )

        try:
            self.platform.store.retrying(audit)
        except Exception as exc:
            log.warning("audit of deploy.restart %s failed: %s", name, exc)

    def _healthy(self, child: Child) -> bool:
        import http.client

        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        conn = http.client.HTTPConnection(host, child.port, timeout=0.5)
        try:
            conn.request("GET", "/health")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def _stop(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is None or child.proc is None or child.proc.poll() is not None:
            return
        child.proc.send_signal(signal.SIGTERM)
        try:
            child.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait(timeout=10)
        log.info("deployment %s stopped", name)

    def shutdown(self) -> None:
        for name in list(self.children):
            self._stop(name)
        try:
            self.platform.store.retrying(lambda uow: uow.deployments.release(self.id))
        except Exception as exc:
            log.warning("deployment supervisor: release failed: %s", exc)

    # --- helpers ------------------------------------------------------------------------------
    def _observe(self, name: str, **values: Any) -> None:
        self.platform.store.retrying(lambda uow: uow.deployments.observe(name, self.id, **values))

    def _url(self, child: Child) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{child.port}"

    def _log(self, name: str) -> Path:
        return self.logs / f"{name.replace('/', '_')}.log"


def _now() -> Any:
    from mlstudio.core.clock import utcnow

    return utcnow()


def _port_of(url: str) -> int | None:
    tail = url.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def start(platform: Any, stop: threading.Event) -> threading.Thread:
    """The server's background loop (see :mod:`mlstudio.api.background`)."""
    supervisor = Supervisor(platform)
    thread = threading.Thread(
        target=supervisor.run, args=(stop,), name="deploy-supervisor", daemon=True
    )
    thread.start()
    return thread
