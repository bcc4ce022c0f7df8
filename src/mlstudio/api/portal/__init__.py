"""The web portal: server-rendered pages over the application interface, at ``/`` and ``/ui``.

``mount(app, open_paths)`` adds the portal's routes to the API app and returns the open-path
set for ``TokenAuthentication``: portal paths answer without a bearer token because the portal
checks its own session cookie (:mod:`.pages`), while every API path still needs the token.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PREFIX = "/ui"


class OpenPaths(frozenset):
    """``path in paths``: one of the given paths, ``/``, or under the portal's prefix."""

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        return (
            super().__contains__(path)
            or path == "/"
            or path == PREFIX
            or path.startswith(f"{PREFIX}/")
        )


def open_paths(paths: Iterable[str]) -> OpenPaths:
    return OpenPaths(paths)


def mount(app: Any) -> None:
    """Include the portal's routers in ``app``."""
    from mlstudio.api.portal import catalog, monitors, routes

    app.include_router(routes.router)
    app.include_router(catalog.router)
    app.include_router(monitors.router)
