"""Typed settings, read from ``MLSTUDIO_*`` environment variables when asked for, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".mlstudio"


class Settings(BaseSettings):
    """Everything that selects a backend or a location. Build with ``Settings()`` or kwargs."""

    model_config = SettingsConfigDict(env_prefix="MLSTUDIO_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Home folder of embedded mode.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the metadata DB; default SQLite in the home."
    )
    artifact_url: str | None = Field(
        default=None, description="fsspec URL of the artifact store; default a folder in the home."
    )
    user: str | None = Field(default=None, description="Embedded-mode identity; default OS user.")
    url: str | None = Field(default=None, description="Server URL; the CLI talks to it when set.")
    token: str | None = Field(default=None, description="API token used with MLSTUDIO_URL.")
    sqlite_busy_timeout_ms: int = Field(default=30_000, description="SQLite busy timeout.")
    max_workers: int | None = Field(
        default=None, description="Local executor worker processes; default the CPU count."
    )
    test_timeout_s: float = Field(default=600.0, description="Time limit of a module's own tests.")
    uv_path: str | None = Field(default=None, description="uv binary; default the bundled one.")

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
