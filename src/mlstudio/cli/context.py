"""The platform for this CLI invocation, opened once on first use."""

from __future__ import annotations

from mlstudio.platform import Platform

_platform: Platform | None = None


def platform() -> Platform:
    global _platform
    if _platform is None:
        _platform = Platform.open()
    return _platform


def reset() -> None:
    """Forget the opened platform (tests run many invocations in one process)."""
    global _platform
    if _platform is not None:
        _platform.close()
    _platform = None
