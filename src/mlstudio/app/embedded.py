"""The SDK's one way to the embedded home, for work outside a run.

``dataset("ns/name")`` and ``use("ns/mod")`` called as plain Python (a notebook, a module's own
tests) read from the local home as the embedded identity (``MLSTUDIO_HOME``,
``MLSTUDIO_USER``), through the same checks as a run. Inside a run they never get here: the
execution layer hands tasks their inputs. This is the only module below the edges' layer that
services import to open a platform; the layer test allows it and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlstudio.app.local import LocalStudio


@contextmanager
def embedded_studio() -> Iterator[LocalStudio]:
    """``with embedded_studio() as studio:`` the home the environment names, as its identity."""
    from mlstudio.app.local import LocalStudio
    from mlstudio.platform import Platform

    platform = Platform.open()
    studio = LocalStudio(platform, platform.actor, owns_platform=True)
    try:
        yield studio
    finally:
        studio.close()
