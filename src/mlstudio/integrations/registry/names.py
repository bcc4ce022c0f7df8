"""Model names, aliases and references: ``NAME``, ``NAME@ALIAS``, ``NAME/VERSION``,
``NAME/latest``, each optionally written as a ``models:/`` URI (MLflow's form)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlstudio.errors import InvalidInputError, InvalidNameError

MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
MAX_VERSION = 2**31 - 1
URI_PREFIX = "models:/"
DEFAULT_PROTECTED = ("champion",)


def validate_model_name(name: object) -> str:
    if not isinstance(name, str) or not MODEL_RE.fullmatch(name):
        raise InvalidNameError(
            f"invalid model name {name!r}",
            hint="use letters, digits, '.', '-' and '_' (up to 128, starting with a letter "
            "or digit), e.g. churn-model",
        )
    return name


def validate_alias(alias: object) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias):
        raise InvalidNameError(
            f"invalid alias {alias!r}",
            hint="use a letter, then letters, digits, '-' or '_' (up to 63), e.g. champion",
        )
    if RESERVED_ALIAS.fullmatch(alias):
        raise InvalidNameError(
            f"alias {alias!r} is reserved (it reads like a version)",
            hint="pick another name, e.g. champion or challenger",
        )
    return alias


def validate_version(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidInputError(
            f"invalid model version {version!r}", hint="use a version number from 1 up"
        )
    return version


@dataclass(frozen=True)
class ModelRef:
    """A model, and which version of it: ``version``, ``alias``, or neither (the latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        return f"{self.name}/{self.version}" if self.version else self.name

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("empty model reference", hint="use NAME, NAME@ALIAS or NAME/N")
        raw = text.strip()
        body = raw[len(URI_PREFIX) :] if raw.startswith(URI_PREFIX) else raw
        hint = "use NAME, NAME@ALIAS or NAME/VERSION (optionally as models:/...)"
        if "@" in body:
            name, _, alias = body.partition("@")
            if "/" in alias or "@" in alias:
                raise InvalidInputError(f"invalid model reference {text!r}", hint=hint)
            return cls(validate_model_name(name), alias=validate_alias(alias))
        if "/" in body:
            name, _, rest = body.partition("/")
            if rest.lower() == "latest":
                return cls(validate_model_name(name))
            if not rest.isdigit():
                raise InvalidInputError(
                    f"invalid model reference {text!r}: {rest!r} is not a version number", hint=hint
                )
            return cls(validate_model_name(name), version=validate_version(int(rest)))
        return cls(validate_model_name(body))
