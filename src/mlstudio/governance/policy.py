"""Domain policies: what a domain (experimentation, production, adhoc, ...) may read and write.

Pure evaluation, no I/O: the IO layer calls :func:`evaluate_read` before a task sees a dataset
and :func:`evaluate_write` before an output is stored, then :func:`enforce` (or records the
violations in the audit log).

Label model (one rule, deny wins): a label on a column is readable in a domain when

* the label is held only in pseudonymised form on that column and the domain has
  ``pseudonymous_readable`` set, or
* the label is not in ``denied_labels`` and ``readable_labels`` is ``None`` (all labels) or
  contains it.

So ``readable_labels`` is an allow-list (``None`` = every label, ``frozenset()`` = none) and
``denied_labels`` subtracts from it; label vocabularies are open, so "every label except pii" is
``readable_labels=None, denied_labels={"pii"}``. Levels: a column's effective level (unclassified
counts as restricted) must not exceed the domain's ``clearance``.

Domains: a dataset produced in another domain is readable only if that domain is in
``readable_domains`` (``None`` = all). A domain always reads its own datasets, and a dataset with
no domain (``dataset_domain=None``, e.g. an import without ``--domain``) is governed by its
column classification alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mlstudio.errors import InvalidInputError, PolicyViolationError
from mlstudio.governance.classification import Classification, Level, validate_label

DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VIOLATION_RULES = ("clearance", "label", "domain", "persist", "missing")

_HINTS = {
    "clearance": "read fewer columns, or run in a domain whose clearance covers the level",
    "unclassified": "ask a data steward to classify the column "
    "(mlstudio data classify NS/NAME COL=LEVEL[+LABEL...])",
    "label": "drop or hash the column, or run in a domain that may read the label",
    "domain": "use a dataset of a domain this one may read, or run in that domain",
    "persist": "run in a domain that may persist outputs, or do not name the output",
}


def validate_domain(name: str) -> str:
    """Return ``name`` if it is a valid domain name, else raise :class:`InvalidInputError`."""
    from mlstudio.core.ids import validate_name

    hint = "use lowercase letters, digits, '-' or '_', starting with a letter, e.g. experimentation"
    return validate_name(name, DOMAIN_RE, "domain name", hint)


def _iterable(value: Any) -> Iterable[Any]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInputError(f"expected a list of names, got {value!r}")
    return value


def _labels(value: Any) -> frozenset[str]:
    return frozenset(validate_label(label) for label in _iterable(value))


@dataclass(frozen=True, slots=True)
class DomainPolicy:
    """What one domain may read, hold and persist (see the module docstring for the rules)."""

    name: str
    clearance: Level
    readable_labels: frozenset[str] | None
    readable_domains: frozenset[str] | None
    may_persist: bool
    promoted_only: bool
    description: str = ""
    denied_labels: frozenset[str] = frozenset()
    pseudonymous_readable: bool = False

    def __post_init__(self) -> None:
        validate_domain(self.name)
        object.__setattr__(self, "clearance", Level.parse(self.clearance))
        if self.readable_labels is not None:
            object.__setattr__(self, "readable_labels", _labels(self.readable_labels))
        object.__setattr__(self, "denied_labels", _labels(self.denied_labels))
        if self.readable_domains is not None:
            domains = frozenset(validate_domain(d) for d in _iterable(self.readable_domains))
            object.__setattr__(self, "readable_domains", domains)

    def label_readable(self, label: str, pseudonymous: bool = False) -> bool:
        """True when a column carrying ``label`` may be read (or held) in this domain."""
        if pseudonymous and self.pseudonymous_readable:
            return True
        if label in self.denied_labels:
            return False
        return self.readable_labels is None or label in self.readable_labels

    def domain_readable(self, domain: str | None) -> bool:
        """True when datasets of ``domain`` (``None``: no domain) may be read here."""
        return (
            domain is None
            or domain == self.name
            or self.readable_domains is None
            or domain in self.readable_domains
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``None`` for label/domain lists means 'all'."""
        return {
            "name": self.name,
            "clearance": str(self.clearance),
            "readable_labels": _sorted_or_none(self.readable_labels),
            "denied_labels": sorted(self.denied_labels),
            "pseudonymous_readable": self.pseudonymous_readable,
            "readable_domains": _sorted_or_none(self.readable_domains),
            "may_persist": self.may_persist,
            "promoted_only": self.promoted_only,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DomainPolicy:
        """Inverse of :meth:`to_dict`. The access keys are required, so nothing opens by default."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"a domain policy must be a mapping, got {type(data).__name__}",
                hint="see DomainPolicy.to_dict() for the expected keys",
            )
        required = ("name", "clearance", "readable_labels", "readable_domains")
        required += ("may_persist", "promoted_only")
        optional = ("description", "denied_labels", "pseudonymous_readable")
        missing = [key for key in required if key not in data]
        if missing:
            raise InvalidInputError(
                f"domain policy is missing {', '.join(missing)}",
                hint="readable_labels / readable_domains take null for 'all' and [] for 'none'",
            )
        unknown = sorted(str(key) for key in data if key not in required + optional)
        if unknown:
            raise InvalidInputError(
                f"unknown domain policy keys: {', '.join(unknown)}",
                hint=f"known keys are {', '.join(required + optional)}",
            )
        for key in ("may_persist", "promoted_only", "pseudonymous_readable"):
            if key in data and not isinstance(data[key], bool):
                raise InvalidInputError(
                    f"domain policy {key} must be true or false, got {data[key]!r}"
                )
        description = data.get("description", "")
        if not isinstance(description, str):
            raise InvalidInputError("domain policy description must be a string")
        return cls(
            name=data["name"],
            clearance=Level.parse(data["clearance"]),
            readable_labels=_optional_set(data["readable_labels"], "readable_labels"),
            readable_domains=_optional_set(data["readable_domains"], "readable_domains"),
            may_persist=data["may_persist"],
            promoted_only=data["promoted_only"],
            description=description,
            denied_labels=_optional_set(data.get("denied_labels", []), "denied_labels")
            or frozenset(),
            pseudonymous_readable=data.get("pseudonymous_readable", False),
        )


DEFAULT_DOMAINS: Mapping[str, DomainPolicy] = MappingProxyType(
    {
        "experimentation": DomainPolicy(
            name="experimentation",
            clearance=Level.CONFIDENTIAL,
            readable_labels=None,
            denied_labels=frozenset({"pii"}),
            pseudonymous_readable=True,
            readable_domains=frozenset({"experimentation", "production"}),
            may_persist=True,
            promoted_only=False,
            description="research and model development: up to confidential, "
            "no identifying pii (hashed pii is fine)",
        ),
        "production": DomainPolicy(
            name="production",
            clearance=Level.RESTRICTED,
            readable_labels=None,
            readable_domains=frozenset({"production"}),
            may_persist=True,
            promoted_only=True,
            description="scheduled production pipelines: promoted module versions only, "
            "may read everything, reads production data only",
        ),
        "adhoc": DomainPolicy(
            name="adhoc",
            clearance=Level.INTERNAL,
            readable_labels=frozenset(),
            readable_domains=None,
            may_persist=False,
            promoted_only=False,
            description="quick exploration: up to internal, no labelled data, "
            "outputs are not persisted",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One refused read or write; ``column`` is ``None`` for dataset-level rules."""

    dataset: str
    column: str | None
    rule: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for audit records and error details."""
        return {
            "dataset": self.dataset,
            "column": self.column,
            "rule": self.rule,
            "message": self.message,
            "hint": self.hint,
        }


def evaluate_read(
    policy: DomainPolicy,
    dataset: str,
    dataset_domain: str | None,
    columns: Mapping[str, Classification],
) -> list[Violation]:
    """Every reason ``policy``'s domain may not read ``columns`` of ``dataset`` (empty = allowed)."""
    out: list[Violation] = []
    if not policy.domain_readable(dataset_domain):
        out.append(
            Violation(
                dataset,
                None,
                "domain",
                f"domain {policy.name} may not read {dataset}: it belongs to domain "
                f"{dataset_domain} (policy {policy.name}.readable_domains)",
                _HINTS["domain"],
            )
        )
    _check_columns(policy, "read", dataset, columns, out)
    return out


def evaluate_write(
    policy: DomainPolicy,
    dataset: str,
    columns: Mapping[str, Classification],
    persist_named: bool,
) -> list[Violation]:
    """Every reason ``policy``'s domain may not write ``columns`` as ``dataset``.

    A domain may only hold what it may read (clearance and labels). ``persist_named`` is True
    when the output is stored as a named dataset (not just a run's intermediate result), which
    needs ``may_persist``.
    """
    out: list[Violation] = []
    if persist_named and not policy.may_persist:
        out.append(
            Violation(
                dataset,
                None,
                "persist",
                f"domain {policy.name} may not persist {dataset}: its outputs are temporary "
                f"(policy {policy.name}.may_persist)",
                _HINTS["persist"],
            )
        )
    _check_columns(policy, "write", dataset, columns, out)
    return out


def enforce(violations: Sequence[Violation]) -> None:
    """Raise :class:`PolicyViolationError` for the first violation (all are in ``details``)."""
    if not violations:
        return
    first = violations[0]
    more = len(violations) - 1
    message = first.message if not more else f"{first.message} (and {more} more)"
    raise PolicyViolationError(
        message, hint=first.hint or None, details=[v.to_dict() for v in violations]
    )


# --- helpers -------------------------------------------------------------------------------------
def _check_columns(
    policy: DomainPolicy,
    verb: str,
    dataset: str,
    columns: Mapping[str, Classification],
    out: list[Violation],
) -> None:
    clearance = policy.clearance
    name = policy.name
    labels_open = policy.readable_labels is None and not policy.denied_labels
    for column, classification in columns.items():
        level = classification.level
        if level is None:
            if clearance < Level.RESTRICTED:
                out.append(
                    Violation(
                        dataset,
                        column,
                        "clearance",
                        f"domain {name} may not {verb} {dataset}.{column}: the column is "
                        f"unclassified, which is enforced as restricted, above its clearance "
                        f"{clearance} (policy {name}.clearance)",
                        _HINTS["unclassified"],
                    )
                )
        elif level > clearance:
            out.append(
                Violation(
                    dataset,
                    column,
                    "clearance",
                    f"domain {name} may not {verb} {dataset}.{column}: level {level} is above "
                    f"its clearance {clearance} (policy {name}.clearance)",
                    _HINTS["clearance"],
                )
            )
        if labels_open or not classification.labels:
            continue
        pseudonymous = classification.pseudonymous
        for label in sorted(classification.labels):
            pseudo = label in pseudonymous
            if policy.label_readable(label, pseudo):
                continue
            rule_field = "denied_labels" if label in policy.denied_labels else "readable_labels"
            shown = f"{label} (pseudonymous)" if pseudo else label
            out.append(
                Violation(
                    dataset,
                    column,
                    "label",
                    f"domain {name} may not {verb} {dataset}.{column}: label {shown} is not "
                    f"readable there (policy {name}.{rule_field})",
                    _HINTS["label"],
                )
            )


def _optional_set(value: Any, key: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidInputError(
            f"domain policy {key} must be a list or null, got {value!r}",
            hint="use null for 'all' and [] for 'none'",
        )
    return frozenset(value)


def _sorted_or_none(value: frozenset[str] | None) -> list[str] | None:
    return None if value is None else sorted(value)
