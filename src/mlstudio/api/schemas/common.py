"""Shapes shared by every router: pages, errors, and the base models."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
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
MAX_OFFSET = 2**31 - 1  # pages past this are refused (400), not a database overflow (500)
MAX_INT = 2**31 - 1  # versions, quotas: what every backend's INTEGER holds
MAX_DAYS = 36500  # 100 years: ages and lifetimes beyond are refused, not overflowed


def _iso_only(value: Any) -> Any:
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("expected an ISO 8601 time, e.g. 2024-06-01T12:00:00Z")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


IsoTime = Annotated[datetime, BeforeValidator(_iso_only)]
"""A time given as ISO 8601 text (a bare number is refused, not read as epoch seconds)."""


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
    """A request body: unknown fields are refused (a typo must not be ignored silently), types
    are strict (``"1"`` is not a number, ``0`` not a boolean), and a NUL character in any text
    of it is refused (no database stores one)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        where = _nul_in(data, "")
        if where is not None:
            raise ValueError(f"{where or 'the body'} contains a NUL character")
        return data


def _nul_in(value: Any, path: str) -> str | None:
    """Where in ``value`` (a JSON body) a string with a NUL character is, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return here
            found = _nul_in(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


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
