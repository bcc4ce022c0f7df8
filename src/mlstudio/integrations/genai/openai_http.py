"""Any OpenAI-compatible HTTP endpoint as a provider (``openai:BASE_URL``), on ``httpx``.

``POST {base}/embeddings``, ``POST {base}/chat/completions`` and ``GET {base}/models``. The API
key is read from the environment variable the spec names, at each request; it is never stored.

Retries: a timeout, a connection error, a 5xx, a 429 or an answer that is not the JSON the
endpoint promises is retried up to ``retries`` times, waiting ``backoff_s * 2**(n-1)`` seconds
(at most ``max_backoff_s``; a ``Retry-After`` header is honoured up to the same cap). After the
last attempt a :class:`~mlstudio.errors.ProviderError` names the endpoint, the attempts and the
last cause. Other 4xx answers are not retried: 400/404/422 are the caller's mistake
(:class:`~mlstudio.errors.InvalidInputError` with the endpoint's message), 401/403 a
:class:`~mlstudio.errors.ProviderError` pointing at the key.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from mlstudio.errors import (
    ConfigurationError,
    InvalidInputError,
    ProviderError,
    UnsupportedOperationError,
)
from mlstudio.integrations.genai.providers import (
    Embeddings,
    Generation,
    Price,
    check_texts,
)
from mlstudio.integrations.genai.tokens import approximate_tokens


class Malformed(Exception):
    """The endpoint answered 2xx with something that is not the JSON it promises."""


class OpenAIHTTPProvider:
    """An OpenAI-compatible endpoint: ``base_url`` ends in ``/v1`` (or wherever its routes are)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        price: Price | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0 or timeout_s <= 0 or backoff_s < 0:
            raise InvalidInputError(
                f"retries={retries}, timeout_s={timeout_s}, backoff_s={backoff_s}",
                hint="retries >= 0, timeout_s > 0, backoff_s >= 0",
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}"
        self.api_key_env = api_key_env
        self.price = price or Price()
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._client = httpx.Client(timeout=timeout_s, transport=transport)

    # --- the provider interface ---------------------------------------------------------------
    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embed_with_usage(texts).vectors

    def embed_with_usage(self, texts: list[str]) -> Embeddings:
        texts = check_texts(texts)
        started = time.perf_counter()
        body = self.request("POST", "/embeddings", {"model": self.model, "input": texts}, _embeds)
        rows = sorted(body["data"], key=lambda row: row.get("index", 0))
        tokens = _usage(body, "prompt_tokens")
        if tokens is None:
            tokens = sum(approximate_tokens(t) for t in texts)
        return Embeddings(
            [[float(x) for x in row["embedding"]] for row in rows],
            tokens,
            time.perf_counter() - started,
        )

    def generate(
        self, messages: list[dict[str, Any]], *, max_tokens: int = 256, temperature: float = 0.0
    ) -> Generation:
        payload = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        started = time.perf_counter()
        body = self.request("POST", "/chat/completions", payload, _chats)
        text = body["choices"][0]["message"].get("content") or ""
        prompt = _usage(body, "prompt_tokens")
        completion = _usage(body, "completion_tokens")
        if prompt is None:
            prompt = sum(approximate_tokens(str(m.get("content", ""))) for m in messages)
        return Generation(
            text,
            prompt,
            completion if completion is not None else approximate_tokens(text),
            time.perf_counter() - started,
        )

    def count_tokens(self, text: str) -> int:
        """An approximation (:mod:`.tokens`): the endpoint's tokenizer is not reachable; the
        ``usage`` of each answer gives the exact counts that costs are computed from."""
        return approximate_tokens(text)

    def models(self) -> list[str]:
        """The model ids the endpoint lists."""
        body = self.request("GET", "/models", None, _lists)
        return [str(row["id"]) for row in body["data"]]

    def close(self) -> None:
        self._client.close()

    # --- one request with its retries ---------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        check: Callable[[Any], None],
    ) -> dict[str, Any]:
        """The endpoint's JSON answer to ``method path`` (checked by ``check``), retried."""
        url = f"{self.base_url}{path}"
        attempts = self.retries + 1
        cause = ""
        for attempt in range(1, attempts + 1):
            wait: float | None = None
            try:
                response = self._client.request(method, url, json=payload, headers=self._headers())
            except httpx.TimeoutException:
                cause = f"timed out after {self.timeout_s:g}s"
            except httpx.TransportError as exc:
                cause = f"{type(exc).__name__}: {exc}"[:200]
            else:
                status = response.status_code
                if status == 429 or status >= 500:
                    cause = f"HTTP {status}: {_message(response)}"
                    wait = _retry_after(response)
                elif status >= 400:
                    raise self._refusal(method, url, response)
                else:
                    try:
                        body = response.json()
                        check(body)
                        return body
                    except (ValueError, KeyError, TypeError, IndexError, Malformed) as exc:
                        cause = f"malformed JSON answer ({_short(exc)})"
            if attempt < attempts:
                delay = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
                self._sleep(min(wait, self.max_backoff_s) if wait is not None else delay)
        raise ProviderError(
            f"{method} {url} failed after {attempts} attempt{'s' if attempts > 1 else ''}: {cause}",
            hint="check that the endpoint is up and answers the OpenAI API",
            details={"endpoint": url, "attempts": attempts, "cause": cause},
        )

    def _headers(self) -> dict[str, str]:
        if not self.api_key_env:
            return {}
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ConfigurationError(
                f"the API key variable {self.api_key_env} is not set",
                hint=f"export {self.api_key_env}=<key> (the key is read from the environment)",
            )
        return {"Authorization": f"Bearer {key}"}

    def _refusal(self, method: str, url: str, response: httpx.Response) -> Exception:
        status = response.status_code
        text = f"{method} {url} answered {status}: {_message(response)}"
        details = {"endpoint": url, "attempts": 1, "status": status}
        if status in (401, 403):
            where = f"${self.api_key_env}" if self.api_key_env else "no key was sent"
            return ProviderError(text, hint=f"check the API key ({where})", details=details)
        if _code(response) == "unsupported_operation":
            return UnsupportedOperationError(
                text, hint=f"model {self.model} there does not do this", details=details
            )
        return InvalidInputError(text, hint="the endpoint refused the request", details=details)


# --- what each route must answer --------------------------------------------------------------
def _embeds(body: Any) -> None:
    if not isinstance(body["data"], list) or not body["data"]:
        raise Malformed("no data")
    for row in body["data"]:
        if not isinstance(row["embedding"], list):
            raise Malformed("an embedding is not a list")


def _chats(body: Any) -> None:
    if not isinstance(body["choices"], list) or not body["choices"]:
        raise Malformed("no choices")
    if not isinstance(body["choices"][0]["message"], dict):
        raise Malformed("no message")


def _lists(body: Any) -> None:
    if not isinstance(body["data"], list):
        raise Malformed("no data")


def _usage(body: dict[str, Any], key: str) -> int | None:
    usage = body.get("usage")
    value = usage.get(key) if isinstance(usage, dict) else None
    return int(value) if isinstance(value, int | float) else None


def _message(response: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, else the start of the text."""
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:200]
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            return body["detail"][:200]
    except ValueError:
        pass
    return response.text.strip().replace("\n", " ")[:200] or response.reason_phrase


def _code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return str(error.get("code")) if isinstance(error, dict) else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing {text}"
    return text.replace("\n", " ")[:120]
