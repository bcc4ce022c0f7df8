"""Real ``mlstudio server`` processes for tests: a free port, a temp home, a deadline.

``start_server(home, database_url, *options)`` runs the installed ``mlstudio server`` in its own
process and waits for ``/health``; ``Server`` then makes tokens (through the platform, on the
same database), raw HTTP calls and CLI calls in either mode (embedded or remote).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mlstudio.testing.flows import CliResult, mlstudio_executable
from mlstudio.testing.receivers import free_port

HEALTH_DEADLINE_S = 60.0


def clean_env(home: Path, db_url: str, user: str = "alice") -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLSTUDIO_") and not k.startswith("PYTEST_")
    }
    env.update(MLSTUDIO_HOME=str(home), MLSTUDIO_DATABASE_URL=db_url, MLSTUDIO_USER=user)
    env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    return env


@dataclass
class Server:
    url: str
    home: Path
    database_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    _platform: Any = field(default=None, repr=False)

    # --- in-process access to the same database (setup and checks) -------------------------
    def platform(self) -> Any:
        if self._platform is None:
            from mlstudio.platform import Platform
            from mlstudio.settings import Settings

            self._platform = Platform.open(
                Settings(home=self.home, database_url=self.database_url, user="alice"),
                bootstrap=False,
            )
        return self._platform

    def token(self, user: str = "alice", ttl_days: float = 1.0) -> str:
        _record, secret = self.platform().tokens.create("alice", user, ttl_days=ttl_days)
        return secret

    def add_user(self, name: str, role: str | None = None) -> None:
        self.platform().identity.add_user("alice", name, role)

    # --- HTTP ---------------------------------------------------------------------------------
    def http(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)

    # --- the CLI, as a user runs it -------------------------------------------------------------
    def cli(
        self,
        *args: str,
        token: str | None = None,
        user: str = "alice",
        env: dict[str, str] | None = None,
    ) -> CliResult:
        """``mlstudio ARGS``: against this server with ``token``, else embedded on its home."""
        base = clean_env(self.home, self.database_url, user)
        if token is not None:
            base.update(MLSTUDIO_URL=self.url, MLSTUDIO_TOKEN=token)
        env = {**base, **(env or {})}
        proc = subprocess.run(
            [mlstudio_executable(), *map(str, args)],
            cwd=self.home.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def same(self, *args: str, token: str, user: str = "alice", human: bool = False) -> Any:
        """``mlstudio ARGS --json`` (and, with ``human``, first without ``--json``) embedded and
        remotely: both succeed and print the same; returns the parsed JSON."""
        for extra in ((), ("--json",)) if human else (("--json",),):
            local = self.cli(*args, *extra, user=user)
            remote = self.cli(*args, *extra, token=token)
            assert local.code == 0, local.stderr
            assert remote.code == 0, remote.stderr
            assert remote.stdout == local.stdout
        return local.json

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """``mlstudio ARGS`` in the background on this server's home (e.g. a worker); its output
        goes to ``spawned-<pid>.log`` beside the server's log (see :meth:`spawned_logs`)."""
        log = self.home.parent / f"spawned-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            return subprocess.Popen(
                [mlstudio_executable(), *map(str, args)],
                env=clean_env(self.home, self.database_url),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def spawned_logs(self) -> str:
        """The output of every process :meth:`spawn` started beside this server (for failures)."""
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')}"
            for path in sorted(self.home.parent.glob("spawned-*.log"))
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._platform is not None:
            self._platform.close()
            self._platform = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_server(home: Path, db_url: str, *options: str) -> Server:
    """``mlstudio server`` on a free port; returns once ``/health`` answers (or fails)."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = home.parent / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [mlstudio_executable(), "server", "--port", str(port), *options],
            env=clean_env(home, db_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = Server(f"http://127.0.0.1:{port}", home, db_url, proc, log)
    deadline = time.monotonic() + HEALTH_DEADLINE_S
    while True:
        if proc.poll() is not None:
            raise AssertionError(
                f"mlstudio server exited ({proc.returncode}):\n{server.log_text()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"no /health within {HEALTH_DEADLINE_S}s:\n{server.log_text()}")
        time.sleep(0.1)
