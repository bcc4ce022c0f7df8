"""Identifiers and name rules shared by every layer."""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass

from mlstudio.errors import InvalidNameError

_SEGMENT = r"[a-z][a-z0-9_-]{0,62}"
NAMESPACE_RE = re.compile(rf"^{_SEGMENT}$")
MODULE_RE = re.compile(rf"^({_SEGMENT})/({_SEGMENT})$")
TAG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character(text: str) -> str | None:
    """The first NUL, newline or other control character in ``text``, if any."""
    found = _CONTROL.search(text)
    return found.group(0) if found else None


def matches_name(pattern: re.Pattern[str], text: object) -> bool:
    """Whether all of ``text`` matches ``pattern`` (a trailing newline does not slip through
    ``$``). The one test every name (users, namespaces, modules, datasets, tags, domains,
    labels) passes."""
    return isinstance(text, str) and pattern.fullmatch(text) is not None


def validate_name(text: object, pattern: re.Pattern[str], what: str, hint: str) -> str:
    """``text`` when it is a valid ``what``, else :class:`InvalidNameError` (naming a control
    character when that is the problem)."""
    if matches_name(pattern, text):
        assert isinstance(text, str)
        return text
    bad = control_character(text) if isinstance(text, str) else None
    if bad is not None:
        raise InvalidNameError(
            f"invalid {what} {text!r}: it contains the control character {bad!r}",
            hint="names never contain NUL, newlines or other control characters; " + hint,
        )
    raise InvalidNameError(f"invalid {what} {text!r}", hint=hint)


def validate_namespace(name: str) -> str:
    return validate_name(
        name,
        NAMESPACE_RE,
        "namespace",
        "use lowercase letters, digits, '-' or '_', starting with a letter, e.g. churn",
    )


def validate_tag(name: str) -> str:
    return validate_name(
        name,
        TAG_RE,
        "tag name",
        "a tag starts with a letter and uses letters, digits, '.', '-' or '_', e.g. latest",
    )


def validate_user(name: str) -> str:
    return validate_name(name, USER_RE, "user name", "use letters, digits, '.', '-', '_' or '@'")


@dataclass(frozen=True)
class ModuleName:
    namespace: str
    name: str

    @property
    def full(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return self.full

    @classmethod
    def parse(cls, text: str) -> ModuleName:
        validate_name(
            text,
            MODULE_RE,
            "module name",
            "use NS/NAME in lowercase letters, digits, '-' or '_', e.g. churn/features",
        )
        namespace, _, name = text.partition("/")
        return cls(namespace, name)


@dataclass(frozen=True)
class ModuleRef:
    """``NS/NAME``, ``NS/NAME:TAG`` or ``NS/NAME@N``; a bare name means tag ``default_tag``."""

    module: ModuleName
    tag: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.module}@{self.version}"
        return f"{self.module}:{self.tag}" if self.tag else str(self.module)

    @classmethod
    def parse(cls, text: str, default_tag: str | None = None) -> ModuleRef:
        text = (text or "").strip()
        if "@" in text:
            name, _, version = text.partition("@")
            if not version.isdigit() or int(version) < 1:
                raise InvalidNameError(
                    f"invalid module version in {text!r}",
                    hint="versions are 1, 2, 3, … e.g. churn/features@2",
                )
            return cls(ModuleName.parse(name), version=int(version))
        if ":" in text:
            name, _, tag = text.partition(":")
            return cls(ModuleName.parse(name), tag=validate_tag(tag))
        return cls(ModuleName.parse(text), tag=default_tag)


def new_id(prefix: str) -> str:
    """A sortable, unique id: prefix + millisecond time + randomness, e.g. ``run_01j…``."""
    millis = int(time.time() * 1000)
    return f"{prefix}_{millis:012x}{secrets.token_hex(5)}"


def process_identity() -> str:
    """``host:pid`` of this process: who drives a run, fires a tick or sends a delivery."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def os_user() -> str:
    for var in ("MLSTUDIO_USER", "USER", "LOGNAME", "USERNAME"):
        value = os.environ.get(var)
        if value:
            return value
    import getpass

    return getpass.getuser()
