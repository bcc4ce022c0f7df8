"""Typed settings, read from ``MLSTUDIO_*`` environment variables when built, never at import.

A plain class rather than pydantic-settings: every CLI call builds one, and pydantic-settings
alone cost ~115 ms of the 300 ms start-up budget. ``Settings(**overrides)`` takes explicit
values first, then ``MLSTUDIO_<NAME>`` from the environment, then the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from mlstudio.errors import ConfigurationError


def _default_home() -> Path:
    return Path.home() / ".mlstudio"


@dataclass(frozen=True, init=False)
class Settings:
    """Everything that selects a backend or a location (see each field's comment)."""

    home: Path  # home folder of embedded mode (default ~/.mlstudio)
    database_url: str | None  # SQLAlchemy URL of the metadata DB; default SQLite in the home
    artifact_url: str | None  # fsspec URL of the artifact store; default a folder in the home
    user: str | None  # embedded-mode identity; default the OS user
    url: str | None  # server URL; the CLI talks to it when set
    token: str | None  # API token used with MLSTUDIO_URL
    sqlite_busy_timeout_ms: int  # how long SQLite writers wait for the lock
    max_workers: int | None  # local executor worker processes; default the CPU count
    test_timeout_s: float  # time limit of a module's own tests
    uv_path: str | None  # uv binary; default the one installed with mlstudio
    run_as: str | None  # OS user the local executor's tasks run as (workflows.runas); None: ours
    portal_key: str | None  # secret the portal signs sessions with (the same on every server)

    _DEFAULTS = {
        "database_url": None,
        "artifact_url": None,
        "user": None,
        "url": None,
        "token": None,
        "sqlite_busy_timeout_ms": 30_000,
        "max_workers": None,
        "test_timeout_s": 600.0,
        "uv_path": None,
        "run_as": None,
        "portal_key": None,
    }

    def __init__(self, **overrides: Any) -> None:
        hints = get_type_hints(type(self))
        unknown = set(overrides) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for f in fields(self):
            if f.name in overrides:
                value = overrides[f.name]
            else:
                raw = os.environ.get(f"MLSTUDIO_{f.name.upper()}")
                value = (
                    _coerce(f.name, raw, hints[f.name])
                    if raw not in (None, "")
                    else self._default(f.name)
                )
            if f.name == "home" and value is not None:
                value = Path(value).expanduser()
            object.__setattr__(self, f.name, value)

    @classmethod
    def _default(cls, name: str) -> Any:
        return _default_home() if name == "home" else cls._DEFAULTS[name]

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'studio.db').as_posix()}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or (self.home / "artifacts").as_posix()

    @property
    def cache_dir(self) -> Path:
        """Local, disposable caches (unpacked modules, module environments)."""
        return self.home / "cache"


def _coerce(name: str, raw: str, hint: Any) -> Any:
    text = str(hint)
    try:
        if "int" in text:
            return int(raw)
        if "float" in text:
            return float(raw)
    except ValueError:
        raise ConfigurationError(
            f"MLSTUDIO_{name.upper()}={raw!r} is not a number", hint="fix or unset the variable"
        ) from None
    if "Path" in text:
        return Path(raw).expanduser()
    return raw
