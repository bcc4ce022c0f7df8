"""``mlstudio serve NAME``: one registered model behind HTTP, following its alias."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


def _json_file(path: Path | None, what: str) -> object:
    import json

    from mlstudio.errors import InvalidInputError

    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{what} {path}: {exc}", hint="give a JSON file") from exc


@app.command("serve")
def serve(
    name: Annotated[str, typer.Argument(help="Registered model name")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to serve and follow")] = "champion",
    also: Annotated[
        list[str] | None,
        typer.Option(
            "--also",
            help="Another alias to load and follow, for the route and shadow flags (repeatable)",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port")] = 8766,
    domain: Annotated[
        str, typer.Option("--domain", help="Domain the model is loaded under (its policy)")
    ] = "production",
    fallback: Annotated[
        str | None,
        typer.Option(
            "--fallback",
            help="Chain after the retry: previous, column:NAME, constant:X, NS/MODULE/TASK "
            "(comma-separated)",
        ),
    ] = None,
    sample: Annotated[
        Path | None,
        typer.Option("--sample", help="JSON file: rows a new version must answer to be swapped in"),
    ] = None,
    defaults: Annotated[
        str | None,
        typer.Option("--defaults", help='JSON object: values for missing inputs, e.g. {"x": 0}'),
    ] = None,
    timeout_ms: Annotated[
        int, typer.Option("--timeout-ms", min=1, help="A model slower than this → fallback")
    ] = 1000,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Keep the prediction log")] = True,
    log_inputs: Annotated[
        str, typer.Option("--log-inputs", help="auto | raw | digest (sha256 of each row)")
    ] = "auto",
    log_dataset: Annotated[
        str | None,
        typer.Option("--log-dataset", help="Dataset to seal the log into (NS/MODEL-predictions)"),
    ] = None,
    seal_every_s: Annotated[
        float, typer.Option("--seal-every", min=0.0, help="Seconds between seals (0: at exit)")
    ] = 300.0,
    poll_s: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between looks at the alias")
    ] = 0.5,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", min=0.0, help="Largest request body, MiB (413)")
    ] = 1.0,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    http: Annotated[
        str,
        typer.Option(
            "--http", help="HTTP parser: auto (httptools when installed) | h11 | httptools"
        ),
    ] = "auto",
    loop: Annotated[
        str,
        typer.Option("--loop", help="Event loop: auto (uvloop when installed) | asyncio | uvloop"),
    ] = "auto",
) -> None:
    """Serve NAME@ALIAS at POST /v1/models/NAME:predict until stopped (Ctrl-C or SIGTERM).

    When the alias moves, the new version is loaded, checked with the sample request and
    swapped in without dropping a request; a version that fails its check is not served.
    Every route but /health needs a token (mlstudio token create)."""
    import json

    from mlstudio.cli.server import require_server_extra
    from mlstudio.errors import InvalidInputError

    uvicorn = require_server_extra()
    from mlstudio.integrations.serving.app import create_app
    from mlstudio.integrations.serving.auth import TokenCache
    from mlstudio.integrations.serving.runtime import ServeConfig, Serving
    from mlstudio.platform import Platform

    if http not in {"auto", "h11", "httptools"}:
        raise InvalidInputError(f"--http {http}", hint="auto, h11 or httptools")
    if loop not in {"auto", "asyncio", "uvloop"}:
        raise InvalidInputError(f"--loop {loop}", hint="auto, asyncio or uvloop")
    if log_inputs not in {"auto", "raw", "digest"}:
        raise InvalidInputError(f"--log-inputs {log_inputs}", hint="auto, raw or digest")
    rows = _json_file(sample, "--sample")
    if isinstance(rows, dict):
        rows = rows.get("rows")
    if rows is not None and not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
        raise InvalidInputError("--sample must hold a list of rows", hint='[{"x": 1.0}]')
    try:
        fills = json.loads(defaults) if defaults else {}
    except ValueError as exc:
        raise InvalidInputError(f"--defaults: {exc}", hint="e.g. --defaults '{\"x\": 0}'") from exc
    if not isinstance(fills, dict):
        raise InvalidInputError("--defaults must be a JSON object", hint='{"x": 0}')

    level = getattr(logging, log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    platform = Platform.open(bootstrap=False)
    config = ServeConfig(
        name=name,
        alias=alias,
        also=list(also or []),
        domain=domain,
        fallback=fallback,
        sample=rows,
        defaults=fills,
        timeout_s=timeout_ms / 1000.0,
        log=log,
        log_inputs=log_inputs,
        log_dataset=log_dataset,
        seal_every_s=seal_every_s,
        poll_s=poll_s,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
    )
    serving = Serving(platform, platform.actor, config)

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(0)

    # uvicorn re-raises the signal it caught after shutting down: with this handler that ends
    # the process through the ``finally`` below (flush and seal the prediction log)
    signal.signal(signal.SIGTERM, terminate)
    try:
        serving.start()
        current = serving.host.current
        logging.getLogger("mlstudio.serve").info(
            "serving %s@%s (version %s) on http://%s:%d",
            name,
            alias,
            current.version if current else "?",
            host,
            port,
        )
        uvicorn.run(
            create_app(serving, TokenCache(platform)),
            host=host,
            port=port,
            log_level=log_level.lower(),
            access_log=level <= logging.DEBUG,
            log_config=None,
            timeout_keep_alive=75,
            backlog=4096,
            http=http,
            loop=loop,
        )
    finally:
        serving.stop()
        platform.close()
