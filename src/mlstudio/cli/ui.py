"""``mlstudio ui``: the portal on the embedded home, for one person on this machine."""

from __future__ import annotations

import logging
import socket
import sys
from typing import Annotated

import typer

app = typer.Typer(add_completion=False)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: a free one)")] = 0,
    ttl_hours: Annotated[
        float, typer.Option("--ttl-hours", min=0.01, help="Lifetime of the sign-in token")
    ] = 1.0,
) -> None:
    """Serve the web portal on 127.0.0.1 over the embedded home and print its sign-in URL.

    A short-lived token is minted for you (the embedded user); paste it on the sign-in page.
    The browser is not opened: open the printed URL yourself. Stop with Ctrl-C.
    """
    from mlstudio.api.app import create_app
    from mlstudio.cli.context import embedded_only
    from mlstudio.cli.server import require_server_extra

    uvicorn = require_server_extra()
    platform = embedded_only("serves the portal of the local home")
    user = platform.actor
    _record, secret = platform.tokens.create(
        user, user, ttl_days=ttl_hours / 24, description="mlstudio ui sign-in"
    )
    chosen = port or _free_loopback_port()
    url = f"http://127.0.0.1:{chosen}/ui/signin"
    typer.echo(f"mlstudio portal for {user}: {url}")
    typer.echo(f"sign-in token (valid {ttl_hours:g} h): {secret}")
    sys.stdout.flush()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    application = create_app(platform, background=True)
    try:
        uvicorn.run(application, host="127.0.0.1", port=chosen, log_level="warning")
    finally:
        platform.close()
