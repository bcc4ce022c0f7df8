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


def validate_namespace(name: str) -> str:
    if not NAMESPACE_RE.match(name or ""):
        raise InvalidNameError(
            f"invalid namespace {name!r}",
            hint="use lowercase letters, digits, '-' or '_', starting with a letter, e.g. churn",
        )
    return name


def validate_tag(name: str) -> str:
    if not TAG_RE.match(name or ""):
        raise InvalidNameError(
            f"invalid tag name {name!r}",
            hint="a tag starts with a letter and uses letters, digits, '.', '-' or '_', e.g. latest",
        )
    return name


def validate_user(name: str) -> str:
    if not USER_RE.match(name or ""):
        raise InvalidNameError(
            f"invalid user name {name!r}", hint="use letters, digits, '.', '-', '_' or '@'"
        )
    return name


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
        match = MODULE_RE.match(text or "")
        if not match:
            raise InvalidNameError(
                f"invalid module name {text!r}",
                hint="use NS/NAME in lowercase letters, digits, '-' or '_', e.g. churn/features",
            )
        return cls(match.group(1), match.group(2))


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
