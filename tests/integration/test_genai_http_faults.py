"""The OpenAI-compatible HTTP provider against a small misbehaving HTTP server (a stand-in
third-party endpoint on loopback, ``http.server`` in a thread): timeouts, malformed JSON, 5xx
and 429 are retried with backoff and end in a ProviderError naming the endpoint, the attempts
and the last cause; a 500 then a 200 succeeds; other 4xx are not retried; the key is read
from the environment at each request."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlstudio.errors import (
    ConfigurationError,
    InvalidInputError,
    ProviderError,
    UnsupportedOperationError,
)
from mlstudio.integrations.genai.openai_http import OpenAIHTTPProvider

GOOD = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
    "model": "m",
    "usage": {"prompt_tokens": 7, "total_tokens": 7},
}

CHAT = {
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paid late."}}],
    "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25},
}


class Endpoint:
    """Answers each request with the next scripted behaviour (the last one repeats)."""

    def __init__(self, script: list[str]) -> None:
        self.script = script
        self.seen: list[dict[str, str]] = []
        self.release = threading.Event()  # a "hang" answers only when the test ends
        self.lock = threading.Lock()

    def next(self, handler: BaseHTTPRequestHandler) -> str:
        with self.lock:
            self.seen.append(
                {"path": handler.path, "auth": handler.headers.get("Authorization", "")}
            )
            return self.script[min(len(self.seen), len(self.script)) - 1]


def answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for key, value in headers.items():
        handler.send_header(key.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, str]]:
    state = Endpoint(["ok"])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            what = state.next(self)
            if what == "hang":
                state.release.wait(30)
                return
            if what == "ok":
                answer(self, 200, json.dumps(GOOD).encode())
            elif what == "malformed":
                answer(self, 200, b'{"data": [{"embedding": ')
            elif what == "wrong-shape":
                answer(self, 200, b'{"object": "list"}')
            elif what == "500":
                answer(self, 500, b'{"error": {"message": "the GPU caught fire"}}')
            elif what == "429":
                answer(self, 429, b'{"error": {"message": "slow down"}}', Retry_After="0")
            elif what == "401":
                answer(self, 401, b'{"error": {"message": "bad key"}}')
            elif what == "chat":
                answer(self, 200, json.dumps(CHAT).encode())
            elif what == "chat-no-usage":
                answer(self, 200, json.dumps({**CHAT, "usage": None}).encode())
            elif what == "models":
                answer(self, 200, b'{"object": "list", "data": [{"id": "m"}, {"id": "n"}]}')
            elif what == "unsupported":
                body = {"error": {"message": "cannot chat", "code": "unsupported_operation"}}
                answer(self, 400, json.dumps(body).encode())

        do_GET = do_POST = handle_one

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def provider(url: str, waits: list[float], **options: object) -> OpenAIHTTPProvider:
    defaults: dict[str, object] = {"retries": 2, "backoff_s": 0.5, "timeout_s": 5.0}
    return OpenAIHTTPProvider(url, "m", sleep=waits.append, **{**defaults, **options})


@pytest.mark.parametrize(
    ("behaviour", "cause"),
    [
        ("malformed", "malformed JSON answer"),
        ("wrong-shape", "malformed JSON answer (missing 'data')"),
        ("500", "HTTP 500: the GPU caught fire"),
        ("429", "HTTP 429: slow down"),
    ],
)
def test_retried_then_a_provider_error_with_the_attempts(endpoint, behaviour, cause):
    state, url = endpoint
    state.script = [behaviour]
    waits: list[float] = []
    with pytest.raises(ProviderError) as caught:
        provider(url, waits).embed(["hello"])
    error = caught.value
    assert len(state.seen) == 3
    assert f"POST {url}/embeddings failed after 3 attempts" in error.message
    assert cause in error.message
    assert error.details == {
        "endpoint": f"{url}/embeddings",
        "attempts": 3,
        "cause": error.details["cause"],
    }
    assert error.code == "provider_failed" and "\n" not in error.one_line()
    # exponential backoff between attempts (a 429's Retry-After: 0 is honoured instead)
    assert waits == ([0.0, 0.0] if behaviour == "429" else [0.5, 1.0])


def test_a_timeout_is_retried_then_reported(endpoint):
    state, url = endpoint
    state.script = ["hang"]
    waits: list[float] = []
    with pytest.raises(ProviderError) as caught:
        provider(url, waits, retries=1, timeout_s=0.3).embed(["hello"])
    assert len(state.seen) == 2 and waits == [0.5]
    assert "failed after 2 attempts: timed out after 0.3s" in caught.value.message


def test_a_500_then_a_200_succeeds_on_the_retry(endpoint):
    state, url = endpoint
    state.script = ["500", "ok"]
    waits: list[float] = []
    result = provider(url, waits).embed_with_usage(["hello"])
    assert result.vectors == [[0.25, -0.5]]
    assert result.input_tokens == 7  # from the answer's usage, not an estimate
    assert len(state.seen) == 2 and waits == [0.5]


def test_a_timeout_then_an_answer_succeeds(endpoint):
    state, url = endpoint
    state.script = ["hang", "ok"]
    waits: list[float] = []
    assert provider(url, waits, timeout_s=0.3).embed(["x"]) == [[0.25, -0.5]]
    assert len(state.seen) == 2


def test_backoff_is_capped(endpoint):
    state, url = endpoint
    state.script = ["500"]
    waits: list[float] = []
    with pytest.raises(ProviderError):
        provider(url, waits, retries=5, backoff_s=1.0, max_backoff_s=3.0).embed(["x"])
    assert waits == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_an_unreachable_endpoint_is_retried_then_reported():
    from mlstudio.testing.receivers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    waits: list[float] = []
    with pytest.raises(ProviderError) as caught:
        provider(url, waits, retries=1).embed(["x"])
    assert "failed after 2 attempts: ConnectError" in caught.value.message


def test_a_refused_key_is_not_retried(endpoint, monkeypatch):
    state, url = endpoint
    state.script = ["401"]
    monkeypatch.setenv("GENAI_TEST_KEY", "sk-secret-1")
    waits: list[float] = []
    opened = provider(url, waits, api_key_env="GENAI_TEST_KEY")
    with pytest.raises(ProviderError) as caught:
        opened.embed(["x"])
    assert len(state.seen) == 1 and waits == []
    assert "answered 401: bad key" in caught.value.message
    assert "$GENAI_TEST_KEY" in caught.value.hint
    assert state.seen[0]["auth"] == "Bearer sk-secret-1"
    # the key is read at each request, never kept on the provider
    assert "sk-secret-1" not in repr(vars(opened))
    monkeypatch.setenv("GENAI_TEST_KEY", "sk-secret-2")
    with pytest.raises(ProviderError):
        opened.embed(["x"])
    assert state.seen[1]["auth"] == "Bearer sk-secret-2"


def test_a_missing_key_variable_is_a_configuration_error(endpoint, monkeypatch):
    state, url = endpoint
    monkeypatch.delenv("GENAI_TEST_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="GENAI_TEST_KEY is not set"):
        provider(url, [], api_key_env="GENAI_TEST_KEY").embed(["x"])
    assert state.seen == []  # nothing was sent


def test_an_unsupported_operation_keeps_its_meaning(endpoint):
    state, url = endpoint
    state.script = ["unsupported"]
    with pytest.raises(UnsupportedOperationError, match="answered 400: cannot chat"):
        provider(url, []).generate([{"role": "user", "content": "hi"}])
    assert len(state.seen) == 1


def test_bad_options_are_refused():
    with pytest.raises(InvalidInputError, match="retries=-1"):
        OpenAIHTTPProvider("http://127.0.0.1:9/v1", "m", retries=-1)


def test_a_chat_answer_with_and_without_usage(endpoint):
    from mlstudio.integrations.genai.providers import Price

    state, url = endpoint
    state.script = ["chat", "chat-no-usage"]
    opened = provider(url, [], price=Price(per_1k_input=1.0, per_1k_output=2.0))
    messages = [{"role": "user", "content": "Summarise: the invoice was paid late."}]
    first = opened.generate(messages, max_tokens=16)
    assert (first.text, first.input_tokens, first.output_tokens) == ("Paid late.", 21, 4)
    assert opened.price.cost(first.usage) == pytest.approx(0.021 + 0.008)
    second = opened.generate(messages)  # no usage in the answer: the documented estimate
    assert second.input_tokens == opened.count_tokens(messages[0]["content"])
    assert second.output_tokens == opened.count_tokens("Paid late.")
    assert [s["path"] for s in state.seen] == ["/v1/chat/completions"] * 2


def test_models_lists_the_endpoint_models(endpoint):
    state, url = endpoint
    state.script = ["models"]
    assert provider(url, []).models() == ["m", "n"]
    assert state.seen[0]["path"] == "/v1/models"
