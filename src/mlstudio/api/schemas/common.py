"""Shapes shared by every router: pages, errors, and the base models."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)

T = TypeVar("T")

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50


class Out(BaseModel):
    """A response: the named fields are documented; any others are passed through unchanged.

    Keys keep the order the service gave them, so the JSON reads like the CLI's.
    """

    model_config = ConfigDict(extra="allow")
    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _remember_order(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        if isinstance(data, dict) and isinstance(model, Out):
            model._order = tuple(data)
        return model

    @model_serializer(mode="wrap")
    def _in_order(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if not self._order or not isinstance(out, dict):
            return out
        ordered = {key: out[key] for key in self._order if key in out}
        ordered.update((key, value) for key, value in out.items() if key not in ordered)
        return ordered


class In(BaseModel):
    """A request body: unknown fields are refused (a typo must not be ignored silently)."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` plus the ``limit`` and ``offset`` that selected it."""

    items: list[T]
    limit: int = Field(description="Page size asked for (1..1000)")
    offset: int = Field(description="Items skipped before this page")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code, e.g. not_found")
    message: str = Field(description="One line naming the problem")
    hint: str | None = Field(None, description="The fix, when there is one")
    details: Any = None


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"code", "message", "hint"?, "details"?}}``."""

    error: ErrorBody


class Health(BaseModel):
    status: str = "ok"
