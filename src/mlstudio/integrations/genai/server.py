"""An OpenAI-compatible HTTP server for the local providers (``mlstudio genai serve``).

``GET /v1/models``, ``POST /v1/embeddings`` (``input`` a string or a list of strings;
``encoding_format`` ``float`` or ``base64``, which the official client asks for) and
``POST /v1/chat/completions`` (a model that cannot chat answers 400). Errors have OpenAI's
shape, ``{"error": {"message", "type", "param", "code"}}``, so any OpenAI client reads them.
Every route but ``/health`` needs a bearer token, an mlstudio token (checked and cached as by
``mlstudio serve``: :class:`~mlstudio.integrations.serving.auth.TokenCache`).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mlstudio.errors import InvalidInputError, MlstudioError, NotFoundError
from mlstudio.integrations.genai.providers import Provider
from mlstudio.integrations.serving.app import CachedTokenAuth, _read_body
from mlstudio.integrations.serving.auth import TokenCache

MAX_BODY_BYTES = 4 * 1024 * 1024
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error"}
_TYPES |= {404: "invalid_request_error", 413: "invalid_request_error"}


def openai_error(exc: MlstudioError, param: str | None = None) -> JSONResponse:
    """``exc`` as an OpenAI-style error response."""
    status = exc.http_status
    body = {
        "error": {
            "message": exc.one_line(),
            "type": _TYPES.get(status, "server_error"),
            "param": param,
            "code": exc.code,
        }
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await _read_body(request, MAX_BODY_BYTES)
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidInputError(f"the body is not JSON: {exc}", hint="send a JSON object") from exc
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object", hint='{"model": …, …}')
    return body


def _number(body: dict[str, Any], key: str, default: Any, kind: type) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidInputError(f"{key} {value!r} is not a number >= 0", hint=f"e.g. {default}")
    return kind(value)


def _vector(values: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        import array

        return base64.b64encode(array.array("f", values).tobytes()).decode("ascii")
    return values


def create_app(providers: dict[str, Provider], tokens: TokenCache) -> FastAPI:
    """The app serving ``providers`` (model id → provider)."""
    app = FastAPI(title="mlstudio genai", docs_url=None, redoc_url=None)
    app.add_middleware(CachedTokenAuth, tokens=tokens, render=openai_error)
    created = int(time.time())

    async def read(request: Request) -> tuple[dict[str, Any], Provider]:
        """The request's JSON body and the provider of its ``model``."""
        body = await _json_body(request)
        return body, provider(body)

    def provider(body: dict[str, Any]) -> Provider:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidInputError("no model given", hint=f"models: {', '.join(providers)}")
        found = providers.get(model)
        if found is None:
            raise NotFoundError(
                f"model {model!r} is not served here", hint=f"models: {', '.join(providers)}"
            )
        return found

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "mlstudio"}
            for name in providers
        ]
        return {"object": "list", "data": data}

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        try:
            body, chosen = await read(request)
            texts = body.get("input")
            encoding = body.get("encoding_format") or "float"
            if encoding not in ("float", "base64"):
                raise InvalidInputError(f"encoding_format {encoding!r}", hint="float or base64")
            result = await run_in_threadpool(chosen.embed_with_usage, texts)
        except MlstudioError as exc:
            return openai_error(exc, "input" if isinstance(exc, InvalidInputError) else None)
        data = [
            {"object": "embedding", "index": i, "embedding": _vector(vector, encoding)}
            for i, vector in enumerate(result.vectors)
        ]
        usage = {"prompt_tokens": result.input_tokens, "total_tokens": result.input_tokens}
        return JSONResponse({"object": "list", "data": data, "model": chosen.model, "usage": usage})

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        try:
            body, chosen = await read(request)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise InvalidInputError("no messages", hint='[{"role": "user", "content": …}]')
            max_tokens = _number(body, "max_tokens", 256, int)
            temperature = _number(body, "temperature", 0.0, float)
            answer = await run_in_threadpool(
                lambda: chosen.generate(messages, max_tokens=max_tokens, temperature=temperature)
            )
        except MlstudioError as exc:
            return openai_error(exc, "model" if isinstance(exc, InvalidInputError) else None)
        usage = {
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.output_tokens,
        }
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "finish_reason": "stop",
        }
        return JSONResponse(
            {
                "id": f"chatcmpl-{secrets.token_hex(8)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": chosen.model,
                "choices": [choice],
                "usage": usage,
            }
        )

    return app
