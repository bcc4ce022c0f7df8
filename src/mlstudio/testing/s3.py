"""A real S3 API server on loopback for the tests and benches: ``moto_server`` (moto[server])
in a process of its own, on a free port, reached through the usual AWS settings."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

START_DEADLINE_S = 30.0


def _moto_command() -> list[str]:
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.is_file() else shutil.which("moto_server")
    if not found:
        raise RuntimeError("moto_server is not installed (pip install -e '.[dev]')")
    return [found]


@dataclass
class S3Server:
    """``moto_server`` on ``127.0.0.1:port``; ``auth`` makes it check credentials (any key it
    did not issue is refused, as a real S3 refuses a wrong key)."""

    port: int
    proc: subprocess.Popen
    log: Path
    auth: bool = False
    buckets: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **overrides: str) -> dict[str, str]:
        """The AWS settings that point boto/s3fs at this server (test credentials)."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "mlstudio-test",
            "AWS_SECRET_ACCESS_KEY": "mlstudio-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "3",
        }
        env.update(overrides)
        return env

    def new_bucket(self) -> str:
        """A fresh bucket (each test gets its own)."""
        name = f"mlstudio-{secrets.token_hex(6)}"
        self.filesystem().mkdir(name)
        self.buckets.append(name)
        return name

    def filesystem(self):  # -> s3fs.S3FileSystem
        import s3fs

        env = self.env()
        return s3fs.S3FileSystem(
            key=env["AWS_ACCESS_KEY_ID"],
            secret=env["AWS_SECRET_ACCESS_KEY"],
            endpoint_url=self.endpoint,
            skip_instance_cache=True,
            use_listings_cache=False,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_s3_server(workdir: Path, *, auth: bool = False) -> S3Server:
    """Start ``moto_server`` and return once it answers."""
    import httpx

    from mlstudio.testing.receivers import free_port

    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"moto-{port}.log"
    env = dict(os.environ)
    if auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # check every request's credentials
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_moto_command(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    server = S3Server(port, proc, log, auth)
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited ({proc.returncode}): {log.read_text()[-500:]}")
        try:
            httpx.get(f"{server.endpoint}/moto-api/", timeout=1)
            return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"moto_server did not answer within {START_DEADLINE_S:.0f}s")
        time.sleep(0.1)
