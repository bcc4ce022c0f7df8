"""The loaded versions of one served model, and the atomic swap between them.

``ModelHost.follow(N)`` loads version N through the registry's governed load (the serving
domain must be allowed to read its classification), unpickles it, checks it answers the sample
request with one finite number per row, and only then swaps it in: the swap is one reference
assignment under a lock, and a request keeps the ``LoadedVersion`` it started with, so in-flight
requests finish on the old version. A version that fails is not swapped in; the reason is kept
(``rejected``) and audited (``serve.swap.refused``).
"""

from __future__ import annotations

import logging
import math
import pickle
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlstudio.errors import InvalidInputError, MlstudioError, SerializationError
from mlstudio.integrations.serving.fallback import MissingInputError

log = logging.getLogger("mlstudio.serve")

NUMERIC = (int, float)


@dataclass
class LoadedVersion:
    """One unpickled, checked version: what a request runs on."""

    name: str
    version: int
    digest: str
    model: Any
    features: list[str]
    defaults: dict[str, Any]
    classification: str
    loaded_at: float = field(default_factory=time.time)
    text_columns: frozenset[str] = frozenset()

    def prepare(self, rows: list[dict[str, Any]]) -> tuple[Any, dict[str, int]]:
        """The model's input for ``rows`` and the count of defaults used per column.

        A missing or null value takes the declared default (``Model(..., defaults={...})``
        or ``--defaults``); without one it raises MissingInputError (→ the fallback). A value
        of the wrong type raises InvalidInputError (→ 400)."""
        import numpy as np

        missing: dict[str, int] = {}
        values: list[list[Any]] = []
        for i, row in enumerate(rows):
            out = []
            for col in self.features:
                value = row.get(col)
                if value is None:
                    if self.defaults.get(col) is None:
                        raise MissingInputError(
                            f"row {i}: column {col} is missing and has no default",
                            hint=f"send {col}, or declare a default: --defaults '{{\"{col}\": 0}}'",
                            details={col: 1},
                        )
                    value = self.defaults[col]
                    missing[col] = missing.get(col, 0) + 1
                elif col in self.text_columns:
                    value = str(value)
                elif isinstance(value, bool) or not isinstance(value, NUMERIC):
                    raise InvalidInputError(
                        f"row {i}: column {col} must be a number, got {type(value).__name__} "
                        f"{_short(value)}",
                        hint=f"send {col} as a JSON number",
                    )
                out.append(value)
            values.append(out)
        if self.text_columns or hasattr(self.model, "feature_names_in_"):
            import pandas as pd

            return pd.DataFrame(values, columns=self.features), missing
        return np.asarray(values, dtype=float).reshape(len(rows), len(self.features)), missing

    def predict(self, prepared: Any) -> list[float]:
        """``predict_proba(X)[:, 1]`` when the model has it, else ``predict(X)``, as floats."""
        import numpy as np

        if hasattr(self.model, "predict_proba"):
            scores = np.asarray(self.model.predict_proba(prepared))
            scores = scores[:, 1] if scores.ndim == 2 else scores
        else:
            scores = np.asarray(self.model.predict(prepared))
        return scores.astype(float).ravel().tolist()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def sample_rows(loaded: LoadedVersion, declared: list[dict[str, Any]] | None) -> list[dict]:
    """The check request: the declared sample, else the model's ``metadata['sample']``, else
    one row of its defaults (0 where none)."""
    if declared:
        return declared
    meta = getattr(loaded.model, "metadata", None) or {}
    if meta.get("sample"):
        return list(meta["sample"])
    return [{c: loaded.defaults.get(c, 0.0) for c in loaded.features}]


def check(loaded: LoadedVersion, rows: list[dict[str, Any]], timeout_s: float) -> None:
    """Raise unless ``loaded`` answers ``rows`` with one finite number each within the time."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            prepared, _ = loaded.prepare(rows)
            result["out"] = loaded.predict(prepared)
        except BaseException as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name="serve-check")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise InvalidInputError(f"the sample request got no answer within {timeout_s:g}s")
    if "error" in result:
        exc = result["error"]
        raise InvalidInputError(f"the sample request failed: {type(exc).__name__}: {exc}")
    out = result["out"]
    if len(out) != len(rows) or not all(math.isfinite(x) for x in out):
        raise InvalidInputError(
            f"the sample request answered {out[:5]!r} for {len(rows)} row(s), not one finite "
            "number per row"
        )


def unpickle(view: dict[str, Any], blob: bytes, defaults: dict[str, Any]) -> LoadedVersion:
    """A ``LoadedVersion`` from the registry's view and bytes; refuses models that do not say
    which columns they read."""
    try:
        model = pickle.loads(blob)
    except Exception as exc:
        raise SerializationError(
            f"{view['ref']} could not be unpickled here: {type(exc).__name__}: {exc}",
            hint="serve it where the training task's libraries are installed",
        ) from exc
    meta = getattr(model, "metadata", None) or {}
    features = list(meta.get("features") or [])
    if not features:
        raise InvalidInputError(
            f"{view['ref']} does not say which columns it reads (no features in its metadata)",
            hint="return Model(estimator, features=[...]) from the training task",
        )
    types = meta.get("types") or {}
    return LoadedVersion(
        name=view["model"],
        version=int(view["version"]),
        digest=view["digest"],
        model=model,
        features=features,
        defaults={**(meta.get("defaults") or {}), **defaults},
        classification=view["classification"],
        text_columns=frozenset(c for c, t in types.items() if str(t) in {"str", "string"}),
    )


class ModelHost:
    """``current`` answers requests; ``previous`` is kept loaded for the fallback chain."""

    def __init__(
        self,
        platform: Any,
        actor: str,
        name: str,
        alias: str,
        *,
        domain: str,
        sample: list[dict[str, Any]] | None = None,
        defaults: dict[str, Any] | None = None,
        check_timeout_s: float = 10.0,
        metrics: Any = None,
    ) -> None:
        self.platform = platform
        self.actor = actor
        self.name = name
        self.alias = alias
        self.domain = domain
        self.sample = sample
        self.defaults = dict(defaults or {})
        self.check_timeout_s = check_timeout_s
        self.metrics = metrics
        self.current: LoadedVersion | None = None
        self.previous: LoadedVersion | None = None
        self.rejected: dict[int, str] = {}
        self.swapped_at: float | None = None
        self.alias_version: int | None = None
        self._lock = threading.Lock()

    # --- loading ------------------------------------------------------------------------------
    def load(self, ref: str) -> LoadedVersion:
        """Governed load of ``ref`` (``NAME/N`` or ``NAME@ALIAS``), unpickled and checked."""
        view, blob = self.platform.registry.load(self.actor, ref, domain=self.domain)
        loaded = unpickle(view, blob, self.defaults)
        check(loaded, sample_rows(loaded, self.sample), self.check_timeout_s)
        return loaded

    def start(self) -> LoadedVersion:
        """Load what the alias points at now (raises: the server does not start), and the
        version it pointed at before, for the ``previous`` fallback (best effort)."""
        loaded = self.load(f"{self.name}@{self.alias}")
        self._swap(loaded)
        self.alias_version = loaded.version
        before = self._version_before(loaded.version)
        if before is not None:
            try:
                self.previous = self.load(f"{self.name}/{before}")
            except MlstudioError as exc:
                log.warning("previous version %s/%s not loaded: %s", self.name, before, exc)
        return loaded

    def _version_before(self, version: int) -> int | None:
        try:
            with self.platform.store.read() as uow:
                model = uow.registry.get_model(self.name)
                history = uow.registry.alias_history(model["id"], self.alias, limit=50)
        except Exception:
            return None
        for event in history:
            if event["to_version"] == version and event["from_version"] not in (None, version):
                return int(event["from_version"])
        return None

    # --- following ----------------------------------------------------------------------------
    def follow(self, version: int) -> bool:
        """The alias now points at ``version``: load, check and swap it in (True), or keep
        serving what is loaded and record why not (False). Already-refused versions are not
        retried until the alias moves elsewhere."""
        if version != self.alias_version:
            self.rejected = {}  # the alias moved: a version refused before may be retried
        self.alias_version = version
        current = self.current
        if current is not None and current.version == version:
            return True
        if version in self.rejected:
            return False
        previous = self.previous
        if previous is not None and previous.version == version:
            loaded: LoadedVersion | None = previous  # a rollback: already loaded and checked
        else:
            loaded = None
        started = time.monotonic()
        try:
            if loaded is None:
                loaded = self.load(f"{self.name}/{version}")
        except Exception as exc:
            reason = exc.one_line() if isinstance(exc, MlstudioError) else f"{exc!r}"
            self.rejected[version] = reason
            log.error("version %s/%s not swapped in: %s", self.name, version, reason)
            self._count("refused")
            self._audit("serve.swap.refused", version, {"reason": reason}, decision="deny")
            return False
        self._swap(loaded)
        self._count("swapped")
        self._audit(
            "serve.swap",
            version,
            {"from": current.version if current else None, "seconds": time.monotonic() - started},
        )
        return True

    def _swap(self, loaded: LoadedVersion) -> None:
        with self._lock:
            old = self.current
            self.current = loaded
            if old is not None and old.version != loaded.version:
                self.previous = old
            self.swapped_at = time.time()
        log.info("serving %s/%s", self.name, loaded.version)

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.inc("mlstudio_serve_swaps_total", outcome=outcome)

    def _audit(
        self, action: str, version: int, details: dict[str, Any], decision: str = "allow"
    ) -> None:
        resource = f"model:{self.name}/{version}"
        details = {"alias": self.alias, "domain": self.domain, **details}

        def work(uow: Any) -> None:
            uow.audit.record(self.actor, action, resource, decision=decision, details=details)

        try:
            self.platform.store.retrying(work)
        except Exception as exc:  # the DB is down: the log line above still says it
            log.warning("audit of %s %s failed: %s", action, resource, exc)
