"""Column classification: a level on a total order plus a set of labels.

A column is either *classified* (it has a :class:`Level`) or *unclassified* (``level is None``).
Unclassified columns are enforced as :attr:`Level.RESTRICTED` and stay unclassified through every
join, so stewards can see the backlog. Labels (``pii``, ``financial``, ...) are lowercase
identifiers; a label may survive only in pseudonymised form (after hashing), which is recorded in
``pseudonymous``. Pure values: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from mlstudio.errors import InvalidInputError

LABEL_RE = re.compile(r"^[a-z][a-z0-9_]*$")
UNCLASSIFIED_WORD = "unclassified"
PSEUDONYMOUS_SUFFIX = "(pseudonymous)"

_LEVEL_HINT = "use one of public, internal, confidential, restricted"
_SPEC_HINT = (
    "write LEVEL[+LABEL...] with LEVEL one of public, internal, confidential, restricted "
    "(or unclassified) and lowercase labels, e.g. confidential+pii"
)
_LABEL_HINT = "labels are lowercase identifiers ([a-z][a-z0-9_]*), e.g. pii or financial"

# Labels already checked against LABEL_RE; keeps construction cheap on wide tables.
_VALID_LABELS: set[str] = set()
_VALID_LABELS_MAX = 10_000


class Level(IntEnum):
    """Sensitivity levels, totally ordered: ``public < internal < confidential < restricted``."""

    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    RESTRICTED = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | Level) -> Level:
        """Parse a level name, case-insensitively (``"Confidential"`` -> ``CONFIDENTIAL``)."""
        if isinstance(text, Level):
            return text
        if isinstance(text, str):
            member = cls.__members__.get(text.strip().upper())
            if member is not None:
                return member
        raise InvalidInputError(f"unknown classification level {text!r}", hint=_LEVEL_HINT)


def _coerce_level(value: Any) -> Level:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3:
        return Level(value)
    return Level.parse(value)


def validate_label(label: str) -> str:
    """Return ``label`` if it is a lowercase identifier, else raise :class:`InvalidInputError`."""
    if label in _VALID_LABELS:
        return label
    from mlstudio.core.ids import validate_name

    validate_name(label, LABEL_RE, "classification label", _LABEL_HINT)
    if len(_VALID_LABELS) < _VALID_LABELS_MAX:
        _VALID_LABELS.add(label)
    return label


@dataclass(frozen=True, slots=True)
class Classification:
    """A column's classification.

    ``level`` is ``None`` for an unclassified column. ``pseudonymous`` is the subset of ``labels``
    that only survive in hashed / pseudonymised form (the data still relates to a person, GDPR
    Recital 26, so the label is kept but marked).
    """

    level: Level | None = None
    labels: frozenset[str] = frozenset()
    pseudonymous: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        level = self.level
        if level is not None and not isinstance(level, Level):
            object.__setattr__(self, "level", _coerce_level(level))
        if type(self.labels) is not frozenset:
            object.__setattr__(self, "labels", frozenset(self.labels))
        if type(self.pseudonymous) is not frozenset:
            object.__setattr__(self, "pseudonymous", frozenset(self.pseudonymous))
        for label in self.labels:
            validate_label(label)
        if not self.pseudonymous <= self.labels:
            extra = ", ".join(sorted(self.pseudonymous - self.labels))
            raise InvalidInputError(
                f"pseudonymous labels {extra} are not among the column's labels",
                hint="a pseudonymous label must also be listed in labels",
            )

    @classmethod
    def _make(
        cls, level: Level | None, labels: frozenset[str], pseudonymous: frozenset[str]
    ) -> Classification:
        """Build without validation (inputs already come from valid classifications)."""
        obj = object.__new__(cls)
        object.__setattr__(obj, "level", level)
        object.__setattr__(obj, "labels", labels)
        object.__setattr__(obj, "pseudonymous", pseudonymous)
        return obj

    # --- views ---------------------------------------------------------------------------------
    @property
    def unclassified(self) -> bool:
        """True when no level has been assigned yet."""
        return self.level is None

    @property
    def effective_level(self) -> Level:
        """The level enforced: the assigned level, or ``RESTRICTED`` when unclassified."""
        return Level.RESTRICTED if self.level is None else self.level

    @property
    def direct_labels(self) -> frozenset[str]:
        """Labels present in identifying (not pseudonymised) form."""
        return self.labels - self.pseudonymous if self.pseudonymous else self.labels

    def is_at_least(self, other: Classification) -> bool:
        """True when ``self`` is at least as restrictive as ``other`` (a raise, not a lowering)."""
        return (
            self.effective_level >= other.effective_level
            and self.labels >= other.labels
            and self.direct_labels >= other.direct_labels
        )

    # --- algebra -------------------------------------------------------------------------------
    def join(self, other: Classification) -> Classification:
        """Least upper bound: max level (unclassified dominates), union of labels.

        A label stays pseudonymous only if every operand carrying it has it pseudonymous.
        """
        if self == other:
            return self
        return Classification.join_all((self, other))

    @classmethod
    def join_all(cls, items: Iterable[Classification]) -> Classification:
        """Join many classifications; the empty join is ``PUBLIC`` with no labels."""
        level = Level.PUBLIC
        unclassified = False
        labels: set[str] = set()
        direct: set[str] = set()
        for item in items:
            item_level = item.level
            if item_level is None:
                unclassified = True
            elif item_level > level:
                level = item_level
            item_labels = item.labels
            if item_labels:
                labels |= item_labels
                direct |= item_labels - item.pseudonymous if item.pseudonymous else item_labels
        return cls._make(
            None if unclassified else level, frozenset(labels), frozenset(labels - direct)
        )

    def raise_to(
        self, level: Level | str | None = None, labels: Iterable[str] = ()
    ) -> Classification:
        """Raise the level to at least ``level`` and add ``labels`` (in identifying form).

        Never lowers anything; an unclassified column stays unclassified (assigning a first
        level is a steward's classification, not a raise).
        """
        new_level = self.level
        if level is not None and new_level is not None:
            new_level = max(new_level, Level.parse(level))
        added = frozenset(validate_label(label) for label in labels)
        return Classification._make(
            new_level,
            self.labels | added,
            self.pseudonymous - added if added else self.pseudonymous,
        )

    def pseudonymize(self) -> Classification:
        """The classification of a hash of this column: same level, every label pseudonymous."""
        if self.pseudonymous == self.labels:
            return self
        return Classification._make(self.level, self.labels, self.labels)

    # --- text and dict forms -------------------------------------------------------------------
    def spec(self) -> str:
        """``"confidential+pii"``; pseudonymous labels read ``pii(pseudonymous)``."""
        head = UNCLASSIFIED_WORD if self.level is None else str(self.level)
        parts = [head]
        for label in sorted(self.labels):
            parts.append(label + PSEUDONYMOUS_SUFFIX if label in self.pseudonymous else label)
        return "+".join(parts)

    def __str__(self) -> str:
        return self.spec()

    @classmethod
    def parse(cls, text: str) -> Classification:
        """Parse ``LEVEL[+LABEL...]`` (the form :meth:`spec` prints), case-insensitively."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"empty classification {text!r}", hint=_SPEC_HINT)
        head, *rest = (part.strip() for part in text.split("+"))
        if head.lower() == UNCLASSIFIED_WORD:
            level: Level | None = None
        else:
            try:
                level = Level.parse(head)
            except InvalidInputError:
                raise InvalidInputError(
                    f"invalid classification {text!r}: unknown level {head!r}", hint=_SPEC_HINT
                ) from None
        labels: set[str] = set()
        pseudonymous: set[str] = set()
        direct: set[str] = set()
        for part in rest:
            label = part.lower()
            pseudo = label.endswith(PSEUDONYMOUS_SUFFIX)
            if pseudo:
                label = label[: -len(PSEUDONYMOUS_SUFFIX)].strip()
            if not LABEL_RE.fullmatch(label):
                raise InvalidInputError(
                    f"invalid classification {text!r}: bad label {part!r}", hint=_LABEL_HINT
                )
            labels.add(label)
            (pseudonymous if pseudo else direct).add(label)
        # A label written once in identifying form is identifying.
        return cls(level, frozenset(labels), frozenset(pseudonymous - direct))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"level": "confidential" | None, "labels": [...], ...}``."""
        return {
            "level": None if self.level is None else str(self.level),
            "labels": sorted(self.labels),
            "pseudonymous": sorted(self.pseudonymous),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Classification:
        """Inverse of :meth:`to_dict`; missing keys mean unclassified / no labels."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"a classification must be a mapping, got {type(data).__name__}",
                hint='use {"level": "confidential", "labels": ["pii"]}',
            )
        unknown = set(data) - {"level", "labels", "pseudonymous"}
        if unknown:
            raise InvalidInputError(
                f"unknown classification keys: {', '.join(sorted(map(str, unknown)))}",
                hint="use only level, labels and pseudonymous",
            )
        raw_level = data.get("level")
        level = None if raw_level is None else Level.parse(raw_level)
        labels = _label_list(data.get("labels") or [], "labels")
        pseudonymous = _label_list(data.get("pseudonymous") or [], "pseudonymous")
        return cls(level, labels, pseudonymous)


def _label_list(value: Any, key: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInputError(
            f"classification {key} must be a list of labels, got {value!r}", hint=_LABEL_HINT
        )
    return frozenset(validate_label(label) for label in value)


UNCLASSIFIED = Classification(None)
PUBLIC = Classification(Level.PUBLIC)


def parse_column_spec(text: str) -> tuple[str, Classification]:
    """Parse ``COL=LEVEL[+LABEL...]`` (as in ``--classify email=confidential+pii``)."""
    hint = "write COL=LEVEL[+LABEL...], e.g. email=confidential+pii"
    if not isinstance(text, str) or "=" not in text:
        raise InvalidInputError(f"invalid column classification {text!r}", hint=hint)
    column, _, spec = text.partition("=")
    column = column.strip()
    if not column:
        raise InvalidInputError(
            f"invalid column classification {text!r}: missing column name", hint=hint
        )
    try:
        return column, Classification.parse(spec)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"invalid column classification {text!r}: {exc.message}", hint=hint
        ) from None
