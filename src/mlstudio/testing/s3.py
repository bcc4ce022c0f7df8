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
from typing import Any

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


class FaultyProxy:
    """An HTTP proxy in front of an S3 server that injects faults a real S3 can show: a
    throttled answer (503 ``SlowDown``) for the next ``n`` writes, or a connection cut off in
    the middle of a multipart upload (from part ``k`` on). ``seen`` counts the requests by
    method, so a test can tell a retry happened."""

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading

        self.upstream = upstream
        self.throttle_writes = 0
        self.cut_from_part: int | None = None
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handle(self, handler: Any) -> None:
        import re

        import httpx

        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            self.seen[handler.command] = self.seen.get(handler.command, 0) + 1
            throttle = handler.command in ("PUT", "POST") and self.throttle_writes > 0
            if throttle:
                self.throttle_writes -= 1
        part = re.search(r"[?&]partNumber=(\d+)", handler.path)
        if part and self.cut_from_part is not None and int(part.group(1)) >= self.cut_from_part:
            handler.close_connection = True  # the endpoint goes away mid-upload
            handler.connection.shutdown(2)
            return
        if throttle:
            payload = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                b"<Message>Please reduce your request rate.</Message></Error>"
            )
            handler.send_response(503)
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        answer = httpx.request(
            handler.command, self.upstream + handler.path, headers=headers, content=body
        )
        handler.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                handler.send_header(key, value)
        content = answer.content
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(content)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
