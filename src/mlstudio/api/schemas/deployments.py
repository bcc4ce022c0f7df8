"""Request bodies of the deployment routes."""

from __future__ import annotations

from pydantic import Field

from mlstudio.api.schemas.common import In


class DeploymentIn(In):
    alias: str = Field("champion", description="Alias served and followed")
    also: list[str] = Field(default_factory=list, description="More aliases (route/shadow flags)")
    fallback: str | None = Field(
        None, description="previous, column:NAME, constant:X (comma-separated)"
    )
    domain: str = Field("production", description="Domain the model is loaded under")
    port: int | None = Field(None, description="Port of the serving process (default: a free one)")
