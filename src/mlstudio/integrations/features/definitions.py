"""What a module declares: entities (typed join keys) and feature views.

``Entity("customer", join_keys={"customer_id": "string"})`` and
``FeatureView("customer_stats", entity=customer, source="churn/events", event_time="ts",
knowledge_time="ingested_at", max_age="30d", features={"orders": "int64"})`` are plain values:
importing a module builds them, :func:`describe` turns one into the canonical spec the registry
versions (the digest of the spec is the version's identity). Errors are raised when the module
is imported, so a push names the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from mlstudio.errors import InvalidInputError

#: declared type -> DuckDB type
TYPES: dict[str, str] = {
    "int64": "BIGINT",
    "int32": "INTEGER",
    "float64": "DOUBLE",
    "float32": "FLOAT",
    "string": "VARCHAR",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TYPES_HINT = f"use one of: {', '.join(TYPES)}"


def _name(text: Any, what: str) -> str:
    if not isinstance(text, str) or not _NAME.match(text):
        raise InvalidInputError(
            f"invalid {what} name {text!r}",
            hint="use lowercase letters, digits and _ (starting with a letter or _)",
        )
    return text


def _typed(pairs: Mapping[str, str] | Sequence[tuple[str, str]], what: str) -> list[list[str]]:
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    if not items:
        raise InvalidInputError(f"a {what} list is empty", hint=f"declare at least one {what}")
    out: list[list[str]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidInputError(f"invalid {what} {item!r}", hint="use NAME: TYPE pairs")
        name, kind = _name(item[0], what), item[1]
        if kind not in TYPES:
            raise InvalidInputError(f"{what} {name} has unknown type {kind!r}", hint=_TYPES_HINT)
        if name in seen:
            raise InvalidInputError(f"{what} {name} is declared twice", hint="remove one")
        seen.add(name)
        out.append([name, kind])
    return out


def parse_max_age(value: Any) -> int | None:
    """Seconds from ``"30d"``, ``"12h"``, ``"90m"``, ``"3600s"``, an int of seconds or a
    timedelta; None means no bound."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and _AGE.match(value.strip()):
        number, unit = _AGE.match(value.strip()).groups()  # type: ignore[union-attr]
        seconds = int(number) * _UNITS[unit]
    else:
        raise InvalidInputError(
            f"invalid max_age {value!r}",
            hint="use e.g. '30d', '12h', '90m', seconds or a timedelta",
        )
    if seconds <= 0 or seconds != int(seconds):
        raise InvalidInputError(
            f"max_age must be a positive whole number of seconds, not {value!r}",
            hint="use e.g. '30d', or None for no bound",
        )
    return int(seconds)


class Entity:
    """Who features describe: a name and one or more typed join keys (a composite key is a
    typed tuple, never a concatenated string)."""

    def __init__(
        self,
        name: str,
        join_keys: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        description: str = "",
    ) -> None:
        self.name = _name(name, "entity")
        self.join_keys = _typed(join_keys, "join key")
        self.description = description

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "join_keys": self.join_keys, "description": self.description}

    def __repr__(self) -> str:
        return f"Entity({self.name}, keys={[k for k, _ in self.join_keys]})"


class FeatureView:
    """Features of an entity computed from a dataset (``source="NS/NAME[@V]"``) or from an SQL
    query over datasets (``sql=...``, ``inputs={"events": "NS/NAME"}``)."""

    def __init__(
        self,
        name: str,
        *,
        entity: Entity,
        features: Mapping[str, str] | Sequence[tuple[str, str]],
        event_time: str,
        source: str | None = None,
        sql: str | None = None,
        inputs: Mapping[str, str] | None = None,
        knowledge_time: str | None = None,
        max_age: Any = None,
        owner: str | None = None,
        description: str = "",
    ) -> None:
        from mlstudio.data.catalog import parse_dataset_ref

        self.name = _name(name, "feature view")
        if not isinstance(entity, Entity):
            raise InvalidInputError(
                f"feature view {name}: entity must be an Entity, not {type(entity).__name__}",
                hint="entity=Entity('customer', join_keys={'customer_id': 'string'})",
            )
        self.entity = entity
        self.features = _typed(features, "feature")
        self.event_time = _name(event_time, "event time column")
        self.knowledge_time = (
            _name(knowledge_time, "knowledge time column") if knowledge_time else None
        )
        self.max_age_s = parse_max_age(max_age)
        taken = {k for k, _ in entity.join_keys} | {self.event_time, self.knowledge_time}
        clash = [f for f, _ in self.features if f in taken]
        if clash:
            raise InvalidInputError(
                f"feature view {name}: {clash[0]} is a key or time column, not a feature",
                hint="list only the feature columns in features=",
            )
        if (source is None) == (sql is None):
            raise InvalidInputError(
                f"feature view {name} needs exactly one of source= (a dataset) or sql=",
                hint="source='NS/NAME', or sql='SELECT ...' with inputs={'t': 'NS/NAME'}",
            )
        if source is not None:
            parse_dataset_ref(source)
            self.source: dict[str, Any] = {"dataset": source}
        else:
            if not isinstance(sql, str) or not sql.strip() or not inputs:
                raise InvalidInputError(
                    f"feature view {name}: sql= needs a query and inputs={{'table': 'NS/NAME'}}",
                    hint="name every dataset the query reads in inputs=",
                )
            for table, ref in inputs.items():
                _name(table, "input table")
                parse_dataset_ref(ref)
            self.source = {"sql": sql.strip(), "inputs": dict(sorted(inputs.items()))}
        self.owner = owner
        self.description = description

    def describe(self) -> dict[str, Any]:
        """The canonical spec the registry stores and versions."""
        return {
            "name": self.name,
            "entity": self.entity.describe(),
            "features": self.features,
            "event_time": self.event_time,
            "knowledge_time": self.knowledge_time,
            "max_age_s": self.max_age_s,
            "source": self.source,
            "owner": self.owner,
            "description": self.description,
        }

    def __repr__(self) -> str:
        return f"FeatureView({self.name}, {len(self.features)} features)"


def spec_digest(spec: Mapping[str, Any]) -> str:
    """The identity of a view version: what it computes (owner and description included, so
    a documented change is a new version too)."""
    from mlstudio.core.canonical import canonical_bytes
    from mlstudio.core.hashing import sha256_bytes

    return sha256_bytes(canonical_bytes(dict(spec)))
