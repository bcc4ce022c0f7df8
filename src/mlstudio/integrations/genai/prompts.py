"""Prompts: versioned templates with typed variables, defined in modules.

``Prompt("summarize", "Summarize this ticket in one line:\\n{body}", variables={"body":
"string"}, system="You are a support lead.")`` is a plain value. Importing a module builds it
(so a bad template fails the push with its file and line); pushing the module records it under
that module version, so a prompt is pushed, tested, tagged and rolled back like code. Its
``digest`` names its content: the batch inference item cache keys on it, so changing a prompt
recomputes exactly the items that used it.

A reference names a prompt in the registry: ``NS/MODULE/NAME`` (the module's ``latest`` tag),
``NS/MODULE/NAME:TAG`` or ``NS/MODULE/NAME@V`` (module version V).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError

#: declared variable type -> the Python types a value may have
VARIABLE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "int64": (int,),
    "float64": (float, int),
    "bool": (bool,),
}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TYPES_HINT = f"use one of: {', '.join(VARIABLE_TYPES)}"


def _placeholders(template: str, what: str) -> list[str]:
    """The ``{name}`` fields of ``template`` in order; format specs, conversions and
    attribute or index access are refused (a template is text, not code)."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidInputError(
            f"{what} is not a valid template: {exc}", hint="write {name} for a variable, {{ for {"
        ) from None
    names: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not _NAME.match(field) or spec or conversion:
            raise InvalidInputError(
                f"{what} has the placeholder {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}, which is not a plain variable name",
                hint="write {name} with a lowercase name; format values before the prompt",
            )
        if field not in names:
            names.append(field)
    return names


@dataclass(frozen=True)
class Prompt:
    """A chat prompt: an optional system message and a user message template."""

    name: str
    template: str
    variables: Mapping[str, str] | None = None
    system: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidInputError(
                f"invalid prompt name {self.name!r}",
                hint="use lowercase letters, digits and _ (starting with a letter or _)",
            )
        for field in ("template", "system", "description"):
            if not isinstance(getattr(self, field), str):
                raise InvalidInputError(f"prompt {self.name}: {field} must be text")
        if not self.template.strip():
            raise InvalidInputError(f"prompt {self.name} has an empty template")
        used = _placeholders(self.template, f"prompt {self.name}'s template")
        for name in _placeholders(self.system, f"prompt {self.name}'s system message"):
            if name not in used:
                used.append(name)
        declared = (
            dict(self.variables) if self.variables is not None else dict.fromkeys(used, "string")
        )
        for name, kind in declared.items():
            if kind not in VARIABLE_TYPES:
                raise InvalidInputError(
                    f"prompt {self.name}: variable {name!r} has unknown type {kind!r}",
                    hint=_TYPES_HINT,
                )
        missing = [n for n in used if n not in declared]
        if missing:
            raise InvalidInputError(
                f"prompt {self.name} uses {{{missing[0]}}} but does not declare it",
                hint=f"add {missing[0]!r} to variables=",
            )
        unused = [n for n in declared if n not in used]
        if unused:
            raise InvalidInputError(
                f"prompt {self.name} declares variable {unused[0]!r} but never uses it",
                hint=f"write {{{unused[0]}}} in the template, or remove it from variables=",
            )
        object.__setattr__(self, "variables", {n: declared[n] for n in used})

    # --- identity ----------------------------------------------------------------------------
    @property
    def digest(self) -> str:
        """The content's identity: the same prompt text and variables, the same digest."""
        from mlstudio.core.hashing import digest_of

        return digest_of(
            {
                "name": self.name,
                "template": self.template,
                "system": self.system,
                "variables": dict(self.variables or {}),
            }
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "template": self.template,
            "system": self.system,
            "variables": dict(self.variables or {}),
            "description": self.description,
            "digest": self.digest,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Prompt:
        return cls(
            spec["name"],
            spec["template"],
            variables=spec.get("variables"),
            system=spec.get("system", ""),
            description=spec.get("description", ""),
        )

    # --- use -----------------------------------------------------------------------------
    def check_columns(self, columns: Mapping[str, str], available: list[str]) -> None:
        """Refuse, before any call, an input that lacks a column a variable reads
        (``columns``: variable -> column, default the variable's own name)."""
        for name in self.variables or {}:
            column = columns.get(name, name)
            if column not in available:
                raise InvalidInputError(
                    f"prompt {self.name} needs variable {name!r}, but the input has no column "
                    f"{column!r} (it has: {', '.join(available) or 'none'})",
                    hint=f"add the column, or map it: columns={{{name!r}: 'COLUMN'}}",
                )

    def render(self, values: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one item; a missing, null or mistyped value is refused."""
        checked: dict[str, Any] = {}
        for name, kind in (self.variables or {}).items():
            if name not in values:
                raise InvalidInputError(
                    f"prompt {self.name} needs variable {name!r}", hint=f"give {name}="
                )
            value = values[name]
            allowed = VARIABLE_TYPES[kind]
            if (
                value is None
                or not isinstance(value, allowed)
                or (kind != "bool" and isinstance(value, bool))
            ):
                raise InvalidInputError(
                    f"prompt {self.name}: variable {name!r} is {type(value).__name__} "
                    f"{str(value)[:40]!r}, not {kind}",
                    hint="fix the input value (nulls are not filled in)",
                )
            checked[name] = value
        messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system.format(**checked)})
        messages.append({"role": "user", "content": self.template.format(**checked)})
        return messages


@dataclass(frozen=True)
class PromptRef:
    """``NS/MODULE/NAME`` with ``:TAG`` or ``@V`` (of the module; default tag ``latest``), or
    an alias ``NS/MODULE@ALIAS`` (e.g. ``@challenger``: what a prompt search chose)."""

    module: str
    name: str  # "" for an alias
    suffix: str  # ":latest", ":prod", "@3"; "" for an alias
    alias: str | None = None

    @property
    def module_ref(self) -> str:
        return f"{self.module}{self.suffix}"

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.module}@{self.alias}"
        return f"{self.module}/{self.name}{self.suffix}"

    @classmethod
    def parse(cls, text: str) -> PromptRef:
        from mlstudio.core.ids import ModuleName, ModuleRef, validate_tag

        raw = (text or "").strip()
        cut = min((i for i in (raw.find("@"), raw.find(":")) if i >= 0), default=len(raw))
        path, suffix = raw[:cut], raw[cut:] or ":latest"
        if path.count("/") == 1 and suffix.startswith("@") and not suffix[1:].isdigit():
            return cls(str(ModuleName.parse(path)), "", "", validate_tag(suffix[1:]))
        module, _, name = path.rpartition("/")
        if module.count("/") != 1 or not _NAME.match(name or ""):
            raise InvalidInputError(
                f"invalid prompt reference {text!r}",
                hint="use NS/MODULE/PROMPT, optionally with :TAG or @VERSION "
                "(e.g. support/tickets/summarize:latest), or an alias NS/MODULE@ALIAS",
            )
        ModuleRef.parse(module + suffix)  # validates the module name, tag and version
        return cls(module, name, suffix)
