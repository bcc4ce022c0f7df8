"""Feature views, training sets, materializations and online reads."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In


class TrainingSetIn(In):
    entities: str = Field(description="Entity dataset NS/NAME[@V] (join keys + label time)")
    features: list[str] = Field(description="NS/VIEW[@V][:F1,F2] per view")
    as_of: str = Field(description="The label-time column of the entity dataset")
    domain: str = Field("experimentation", description="Domain whose policy the reads pass")
    inclusive: bool = Field(False, description="Also join values stamped exactly at label time")
    known_by: bool = Field(True, description="Only values known (knowledge time) by the label time")
    save: str | None = Field(None, description="Save the result as dataset NS/NAME")


class MaterializeIn(In):
    store: str = Field("sqlite", description="sqlite or redis")
    domain: str = Field("production", description="Domain whose policy the source read passes")
    full: bool = Field(False, description="Rewrite every key instead of only what is new")


class OnlineGetIn(In):
    keys: list[list[Any]] = Field(description="One list of join-key values per entity")
    domain: str = Field("production", description="The reading domain (its clearance applies)")
    store: str = Field("sqlite", description="sqlite or redis")
    features: list[str] | None = Field(None, description="A subset of the view's features")


class CheckIn(In):
    store: str = Field("sqlite", description="sqlite or redis")
    sample: int = Field(100, ge=1, le=100_000, description="Keys to compare")
    domain: str = Field("production", description="The reading domain")
