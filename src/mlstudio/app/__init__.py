"""The application interface (:mod:`mlstudio.app.interface`) and its local implementation.

``open_studio()`` is the one way an edge gets a studio: a server client when ``MLSTUDIO_URL``
is set, else the embedded home as ``MLSTUDIO_USER``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlstudio.app.interface import Studio
    from mlstudio.settings import Settings


def open_studio(settings: Settings | None = None) -> Studio:
    """The studio this process's settings name: remote (``MLSTUDIO_URL`` + ``MLSTUDIO_TOKEN``)
    or the embedded home, acting as the embedded identity."""
    from mlstudio.settings import Settings

    settings = settings or Settings()
    if settings.url:
        from mlstudio.client import Client
        from mlstudio.errors import ConfigurationError

        if not settings.token:
            raise ConfigurationError(
                "MLSTUDIO_URL is set but MLSTUDIO_TOKEN is not",
                hint="export a token from `mlstudio token create`, or unset MLSTUDIO_URL",
            )
        return Client(settings.url, settings.token)
    from mlstudio.app.local import LocalStudio
    from mlstudio.platform import Platform

    platform = Platform.open(settings)
    return LocalStudio(platform, platform.actor, owns_platform=True)


__all__ = ["open_studio"]
