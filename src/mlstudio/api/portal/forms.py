"""The clone form: fields typed from a run's parameters, and the values read back.

A field's type follows the run's value (bool: checkbox, int/float: number, str: text, anything
else: JSON). A non-empty ``json`` field (pasted parameters) replaces the typed fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlstudio.errors import InvalidInputError


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # bool | int | float | str | json
    value: str  # as the input shows it
    checked: bool = False


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def param_fields(params: dict[str, Any]) -> list[Field]:
    out = []
    for name, value in sorted((params or {}).items()):
        kind = kind_of(value)
        shown = json.dumps(value) if kind == "json" else "" if kind == "bool" else str(value)
        out.append(Field(name, kind, shown, checked=bool(value) if kind == "bool" else False))
    return out


def _parse(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "json":
            return json.loads(text)
    except ValueError as exc:
        raise InvalidInputError(
            f"parameter {name}: {text!r} is not a valid {kind}",
            hint=f"enter a {kind} (or paste all parameters as JSON)",
        ) from exc
    return text


def read_params(original: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """The parameters of the clone: only those that differ from ``original``."""
    pasted = form.get("json", "").strip()
    if pasted:
        try:
            value = json.loads(pasted)
        except ValueError as exc:
            raise InvalidInputError(
                f"the pasted parameters are not JSON: {exc}", hint='paste e.g. {"x": 3}'
            ) from exc
        if not isinstance(value, dict):
            raise InvalidInputError(
                "the pasted parameters must be a JSON object", hint='paste e.g. {"x": 3}'
            )
        return value
    out: dict[str, Any] = {}
    for name, value in (original or {}).items():
        kind = kind_of(value)
        if kind == "bool":
            new: Any = f"p:{name}" in form
        elif f"p:{name}" in form:
            new = _parse(name, kind, form[f"p:{name}"])
        else:
            continue
        if new != value:
            out[name] = new
    return out
