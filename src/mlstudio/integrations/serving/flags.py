"""Feature flags with OpenFeature semantics: evaluation never raises, it returns the caller's
default with a reason when anything is off.

A flag has named **variants** (name -> value), a **default variant**, optional **targeting
rules** (``attribute in [values] -> variant``, first match wins) and an optional **split**
(``champion 90 / challenger 10``). A split buckets a subject by a sticky hash of (flag salt,
flag key, subject key) into 10,000 buckets laid out in the split's order, so a subject stays on
its variant across processes and restarts, and widening the last variant's share never moves a
subject back. A disabled flag answers the caller's default with reason ``DISABLED`` (a kill
switch: the code asking the flag holds the safe default).

Reasons: ``STATIC`` (no rule or split applied), ``TARGETING_MATCH``, ``SPLIT``, ``DEFAULT``
(a split without a subject key: the default variant), ``DISABLED``, ``ERROR`` with
``error_code`` ``FLAG_NOT_FOUND`` | ``TYPE_MISMATCH`` | ``PROVIDER_NOT_READY`` | ``GENERAL``.

:class:`FlagCache` keeps every flag of the metadata database in memory, reloaded every
``refresh_s`` (changes reach serving processes within about a second); when the database is
unreachable it keeps answering from the last flags it loaded.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("mlstudio.flags")

BUCKETS = 10_000
KINDS = ("boolean", "string", "number", "object")


@dataclass(frozen=True)
class Resolution:
    key: str
    value: Any
    variant: str | None
    reason: str
    error_code: str | None = None
    error_message: str | None = None
    bucket: int | None = None  # the subject's bucket in a split (recorded with predictions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "variant": self.variant,
            "reason": self.reason,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "bucket": self.bucket,
        }


def bucket_of(salt: str, key: str, subject: str) -> int:
    """The subject's sticky bucket in ``[0, BUCKETS)`` for flag ``key``."""
    digest = hashlib.sha256(f"{salt}\x00{key}\x00{subject}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def _split_variant(split: list[dict[str, Any]], bucket: int) -> str:
    total = sum(int(s["weight"]) for s in split)
    edge = 0.0
    for s in split:
        edge += int(s["weight"]) * BUCKETS / total
        if bucket < edge:
            return str(s["variant"])
    return str(split[-1]["variant"])


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object"


def _error(key: str, default: Any, code: str, message: str) -> Resolution:
    return Resolution(key, default, None, "ERROR", code, message)


def resolve(
    flag: Mapping[str, Any] | None,
    key: str,
    default: Any,
    subject: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Resolution:
    """Evaluate ``flag`` (its stored row, or None) for a subject; never raises."""
    try:
        if flag is None:
            return _error(key, default, "FLAG_NOT_FOUND", f"no flag {key!r}")
        if default is not None and _kind_of(default) != flag["kind"]:
            return _error(
                key,
                default,
                "TYPE_MISMATCH",
                f"flag {key!r} is a {flag['kind']} flag, asked for a {_kind_of(default)}",
            )
        if not flag["enabled"]:
            return Resolution(key, default, None, "DISABLED")
        variants = flag["variants"]
        context = dict(context or {})
        for rule in flag["rules"] or []:
            attribute = rule["attribute"]
            seen = subject if attribute == "targetingKey" else context.get(attribute)
            if seen is not None and str(seen) in {str(v) for v in rule["in"]}:
                name = rule["variant"]
                return Resolution(key, variants[name], name, "TARGETING_MATCH")
        split = flag.get("split")
        if split:
            if subject is None or subject == "":
                name = flag["default_variant"]
                return Resolution(key, variants[name], name, "DEFAULT")
            bucket = bucket_of(flag["salt"], key, str(subject))
            name = _split_variant(split, bucket)
            return Resolution(key, variants[name], name, "SPLIT", bucket=bucket)
        name = flag["default_variant"]
        return Resolution(key, variants[name], name, "STATIC")
    except Exception as exc:  # a damaged definition must not break the caller
        return _error(key, default, "GENERAL", f"{type(exc).__name__}: {exc}")


class FlagCache:
    """Every flag, in memory, refreshed from the metadata database in the background."""

    def __init__(self, store: Any, refresh_s: float = 0.5) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._flags: dict[str, dict[str, Any]] | None = None  # None: never loaded
        self._lock = threading.Lock()
        self.loaded_at: float | None = None
        self.last_error: str | None = None

    @property
    def ready(self) -> bool:
        return self._flags is not None

    def refresh(self) -> None:
        """Reload every flag; on a database error keep the last known flags."""
        try:
            with self.store.read() as uow:
                rows = uow.flags.all()
        except Exception as exc:
            if self.last_error is None:
                log.warning("flags: cannot reload (%s); answering from the last known flags", exc)
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        with self._lock:
            self._flags = {r["key"]: r for r in rows}
        self.loaded_at = time.monotonic()
        self.last_error = None

    def start(self, stop: threading.Event) -> threading.Thread:
        """Refresh every ``refresh_s`` until ``stop`` is set (a daemon thread)."""

        def loop() -> None:
            while not stop.is_set():
                self.refresh()
                stop.wait(self.refresh_s)

        thread = threading.Thread(target=loop, name="mlstudio-flags", daemon=True)
        thread.start()
        return thread

    def evaluate(
        self,
        key: str,
        default: Any,
        *,
        subject: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Resolution:
        """The flag's value for ``subject`` (the caller's default with a reason when the flag is
        missing, disabled, of another type, or not loaded yet). Never raises."""
        flags = self._flags
        if flags is None:
            return _error(key, default, "PROVIDER_NOT_READY", "flags not loaded yet")
        return resolve(flags.get(key), key, default, subject, context)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return dict(self._flags or {})
