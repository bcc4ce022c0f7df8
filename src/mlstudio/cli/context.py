"""The platform (embedded mode) or the server client (remote mode) of this CLI invocation.

Remote mode is on when ``MLSTUDIO_URL`` is set (with ``MLSTUDIO_TOKEN``): commands that work
against a server ask :func:`remote` first and use the returned client; every other command
calls :func:`platform`, which then refuses with one line naming the command, so nothing
silently acts on a local home while the user thinks it acts on the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstudio.platform import Platform

if TYPE_CHECKING:
    from mlstudio.client import Client

_platform: Platform | None = None
_client: Client | None = None


def platform() -> Platform:
    """The embedded platform; refused in remote mode (the command has no remote branch)."""
    if _remote_settings() is not None:
        from mlstudio.errors import ConfigurationError

        raise ConfigurationError(
            f"`{_command_path()}` does not work against a server yet (MLSTUDIO_URL is set)",
            hint="unset MLSTUDIO_URL to run it on the local home",
        )
    return local_platform()


def local_platform() -> Platform:
    """The embedded platform even in remote mode, for work that is local by nature."""
    global _platform
    if _platform is None:
        _platform = Platform.open()
    return _platform


def remote() -> Client | None:
    """The server client when ``MLSTUDIO_URL`` is set, else None (embedded mode)."""
    global _client
    settings = _remote_settings()
    if settings is None:
        return None
    if _client is None:
        from mlstudio.client import Client

        _client = Client(*settings)
    return _client


def _remote_settings() -> tuple[str, str] | None:
    from mlstudio.errors import ConfigurationError
    from mlstudio.settings import Settings

    settings = Settings()
    if not settings.url:
        return None
    if not settings.token:
        raise ConfigurationError(
            "MLSTUDIO_URL is set but MLSTUDIO_TOKEN is not",
            hint="export a token from `mlstudio token create`, or unset MLSTUDIO_URL",
        )
    return settings.url, settings.token


def _command_path() -> str:
    """``mlstudio data import``: the command being run, for error messages."""
    import click

    ctx = None
    try:  # Typer >= 0.2x runs commands on its vendored click
        from typer._click.globals import get_current_context

        ctx = get_current_context(silent=True)
    except ImportError:  # pragma: no cover - older Typer on click itself
        pass
    ctx = ctx or click.get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "this command"


def reset() -> None:
    """Forget the opened platform and client (tests run many invocations in one process)."""
    global _platform, _client
    if _platform is not None:
        _platform.close()
    if _client is not None:
        _client.close()
    _platform = None
    _client = None
