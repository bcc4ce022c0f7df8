"""Request bodies of the feature-flag routes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In


class FlagIn(In):
    value: Any = Field(None, description="The value served by default (adds its variant)")
    variants: dict[str, Any] | None = Field(None, description="Variant name -> value")
    default_variant: str | None = Field(None, description="Variant served when nothing matches")
    split: list[str] | None = Field(None, description="VARIANT=WEIGHT, by a sticky hash")
    clear_split: bool = Field(False, description="Remove the split")
    rules: list[str] | None = Field(None, description="ATTR=V1,V2->VARIANT, first match wins")
    enabled: bool | None = Field(None, description="False: every caller gets its default")
    namespace: str | None = Field(None, description="Namespace whose maintainers manage it")
    description: str | None = None


class EvaluateIn(In):
    default: Any = Field(None, description="What the caller gets when the flag cannot answer")
    subject: str | None = Field(None, description="Targeting key (user, account, request)")
    context: dict[str, Any] = Field(default_factory=dict, description="Attributes for rules")
