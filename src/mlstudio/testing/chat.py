"""A tiny deterministic OpenAI-compatible chat endpoint that judges answer pairs, for tests.

No generating model ships in a PyPI wheel that CI can install without a 45-minute compile
(research/next-capabilities.md §5.2), so judge tests talk to this stand-in over real HTTP with
the real request and response shapes. It reads the prompt of
:mod:`mlstudio.integrations.evaluation.llm_judge` and answers by a fixed rule:

- the answer equal to the reference wins (``X`` or ``Y``); both equal to it: ``TIE``;
- neither equal to it: ``X`` — a *position bias*, so those items come out inconsistent when
  judged in both orders;
- a question containing ``garble`` gets a reply that is no verdict at all.

Every request body (and its ``Authorization`` header) is kept for the test to inspect.

``chat_standin(reply=summary_for)`` answers as a deterministic *generator* instead (batch
inference tests): the first words of the prompt's last line. Either way, a prompt containing
``FAIL-500`` gets a 500 and one containing ``GARBLE-JSON`` a body that is not JSON (every
time, so a client's retries end in failure), and one containing ``HOLD`` is answered only
when the test sets :attr:`ChatStandIn.release` (a process can then be killed mid-call).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SECTION = re.compile(
    r"^(Question|Reference answer|Answer X|Answer Y):\n(.*?)(?=\n\n|\Z)", re.S | re.M
)


def verdict_for(prompt: str) -> str:
    """The stand-in's reply to one judge prompt (see the module docstring)."""
    parts = {name: text.strip() for name, text in _SECTION.findall(prompt)}
    if "garble" in parts.get("Question", ""):
        return "Both answers have their merits."
    ref, x, y = parts.get("Reference answer"), parts.get("Answer X"), parts.get("Answer Y")
    if x == ref and y == ref:
        return "TIE"
    if x == ref:
        return "X"
    if y == ref:
        return "Y"
    return "X"


def summary_for(prompt: str) -> str:
    """The generator stand-in's answer: ``Summary:`` and the first six words of the last
    line of the prompt."""
    lines = [line for line in prompt.strip().splitlines() if line.strip()] or [""]
    return "Summary: " + " ".join(lines[-1].split()[:6])


@dataclass
class ChatStandIn:
    url: str  # the OpenAI base URL, ending in /v1
    requests: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)  # each request's header
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)  # a HOLD call arrived

    def prompts(self) -> list[str]:
        """The last message of every chat request, in arrival order."""
        return [r["messages"][-1]["content"] for r in self.requests if "messages" in r]


@contextmanager
def chat_standin(
    model: str = "judge-1", reply: Callable[[str], str] = verdict_for
) -> Iterator[ChatStandIn]:
    """Serve the stand-in on a free local port for the duration of the block."""
    state: ChatStandIn

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [{"id": model, "object": "model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            state.requests.append(body)
            state.authorizations.append(self.headers.get("Authorization"))
            if not self.path.endswith("/chat/completions") or body.get("model") != model:
                self._send(404, {"error": {"message": f"no model {body.get('model')!r}"}})
                return
            prompt = body["messages"][-1]["content"]
            if "HOLD" in prompt:
                state.holding.set()
                state.release.wait(60)
            if "FAIL-500" in prompt:
                self._send(500, {"error": {"message": "the stand-in failed on purpose"}})
                return
            if "GARBLE-JSON" in prompt:
                data = b"{not json"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            answer = reply(prompt)
            self._send(
                200,
                {
                    "id": f"chat-{len(state.requests)}",
                    "object": "chat.completion",
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": len(prompt.split()),
                        "completion_tokens": len(answer.split()),
                        "total_tokens": len(prompt.split()) + len(answer.split()),
                    },
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = ChatStandIn(f"http://127.0.0.1:{server.server_address[1]}/v1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
