"""A real local HTTP receiver for webhook tests, and a free port to put a server (or nothing) on.

``Receiver().start()`` ... ``stop()``, or ``with Receiver() as receiver:``; it records every POST
(path, headers, raw body) in ``received`` and answers ``status``. Only the standard library is
imported here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records the webhooks it is sent.

    ``port=0`` takes a free port at ``start()``; give a port (e.g. ``free_port()``) to know the
    URL before the receiver is up. ``status`` and ``delay_s`` (a pause before each answer) may be
    changed while it runs.
    """

    def __init__(self, port: int = 0, status: int = 200, delay_s: float = 0.0) -> None:
        self.port = port
        self.status = status
        self.delay_s = delay_s
        self.received: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                receiver.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far, in order."""
        return [json.loads(r["body"]) for r in list(self.received)]

    def events(self) -> list[str]:
        """The ``event`` of every body received so far, in order."""
        return [body["event"] for body in self.bodies()]
