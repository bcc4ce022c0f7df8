"""``mlstudio server``: the REST API (and, with --workers, the background loops) for a team."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


def require_server_extra():
    """``uvicorn`` (with FastAPI), or a one-line error naming the extra that installs them."""
    from mlstudio.errors import ConfigurationError

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise ConfigurationError(
            f"mlstudio server needs the server extra (FastAPI and uvicorn): {exc}",
            hint="install it: pip install 'mlstudio[server]' (from a clone: pip install -e '.[server]')",
        ) from exc
    return uvicorn


@app.command("server")
def server(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port")] = 8765,
    workers: Annotated[
        bool,
        typer.Option(
            "--workers/--no-workers",
            help="Run the background loops here: the run driver, cron schedules and webhook "
            "deliveries (--no-workers: serve the API only)",
        ),
    ] = True,
    max_upload_mb: Annotated[
        float,
        typer.Option(
            "--max-upload-mb",
            min=0.0,
            envvar="MLSTUDIO_MAX_UPLOAD_MB",
            help="Largest module or dataset upload, MiB",
        ),
    ] = 100.0,
    max_requests: Annotated[
        int,
        typer.Option(
            "--max-requests",
            min=1,
            envvar="MLSTUDIO_MAX_REQUESTS",
            help="Requests worked on at once; more get 503 with Retry-After (clients retry)",
        ),
    ] = 64,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug | info | warning | error")
    ] = "info",
) -> None:
    """Serve the REST API at /api/v1 until stopped (Ctrl-C or SIGTERM).

    Every route but /health needs a token: create them here with `mlstudio token create --user NAME`; users then set MLSTUDIO_URL and MLSTUDIO_TOKEN.

    The tasks of runs started through the server run on `mlstudio worker` processes (same database).
    """
    uvicorn = require_server_extra()
    from mlstudio.api.app import create_app
    from mlstudio.cli.home import safe_url
    from mlstudio.platform import Platform

    level = getattr(logging, log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    from mlstudio.scheduling.queue import warn_retired_quota_variables

    warn_retired_quota_variables(logging.getLogger("mlstudio.server"))
    platform = Platform.open()
    application = create_app(
        platform,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        background=workers,
        max_requests=max_requests,
    )
    logging.getLogger("mlstudio.server").info(
        "mlstudio server on http://%s:%d (database %s, background loops %s)",
        host,
        port,
        safe_url(platform.settings.resolved_database_url),
        "on" if workers else "off",
    )
    try:
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level=log_level.lower(),
            access_log=level <= logging.DEBUG,
            log_config=None,  # keep the logging configured above
            # longer than clients keep idle connections (httpx: 5 s), so a client never sends
            # on a connection the server is closing ("disconnected without a response")
            timeout_keep_alive=75,
            backlog=4096,
            # the pure-Python parser and loop whatever is installed: httptools answers some
            # malformed requests itself (text/plain 400s the API does not document); the
            # serving processes (mlstudio serve) use httptools and uvloop for latency
            http="h11",
            loop="asyncio",
        )
    finally:
        platform.close()
