"""The studio of this CLI invocation: the one application interface, local or remote.

Every command calls :func:`studio` and uses what it returns, without knowing which it is: a
server client when ``MLSTUDIO_URL`` is set (with ``MLSTUDIO_TOKEN``), else the embedded home as
the embedded identity. Commands that are local by nature (``module test``, ``server``,
``worker``) take :func:`local_platform`; commands that only make sense on the embedded home
(``init``, ``quickstart``) call :func:`embedded_only` first, which refuses in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlstudio.app.interface import Studio
    from mlstudio.platform import Platform

_platform: Platform | None = None
_studio: Studio | None = None


def studio() -> Studio:
    """The application interface for this invocation (opened once)."""
    global _studio
    if _studio is None:
        from mlstudio.settings import Settings

        settings = Settings()
        if settings.url:
            from mlstudio.app import open_studio

            _studio = open_studio(settings)
        else:
            from mlstudio.app.local import LocalStudio

            platform = local_platform()
            _studio = LocalStudio(platform, platform.actor)
    return _studio


def local_platform() -> Platform:
    """The embedded platform even in remote mode, for work that is local by nature."""
    global _platform
    if _platform is None:
        from mlstudio.platform import Platform

        _platform = Platform.open()
    return _platform


def embedded_only(why: str) -> Platform:
    """The embedded platform; refused in remote mode (``why``: what the command sets up)."""
    from mlstudio.settings import Settings

    if Settings().url:
        from mlstudio.errors import ConfigurationError

        raise ConfigurationError(
            f"`{_command_path()}` {why}, not a server's (MLSTUDIO_URL is set)",
            hint="unset MLSTUDIO_URL to run it on the local home",
        )
    return local_platform()


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
    """Forget the opened platform and studio (tests run many invocations in one process)."""
    global _platform, _studio
    if _studio is not None:
        _studio.close()
    if _platform is not None:
        _platform.close()
    _platform = None
    _studio = None
