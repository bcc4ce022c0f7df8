"""One served model, wired: host + alias watcher + fallback chain + flags + prediction log.

``Serving.start()`` loads the alias (raises when refused or broken: nothing is served),
then starts the background threads; ``predict`` answers one request; ``stop()`` flushes the
prediction log and seals it into the predictions dataset.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlstudio.errors import InvalidInputError
from mlstudio.integrations.serving import flagging
from mlstudio.integrations.serving.fallback import FallbackChain, parse_fallback
from mlstudio.integrations.serving.host import ModelHost
from mlstudio.integrations.serving.metrics import Metrics
from mlstudio.integrations.serving.predlog import PredictionLog, rows_of
from mlstudio.integrations.serving.task_baseline import resolve_task_baseline
from mlstudio.integrations.serving.watch import AliasWatcher

log = logging.getLogger("mlstudio.serve")

MAX_ROWS = 10_000


@dataclass
class ServeConfig:
    name: str
    alias: str = "champion"
    also: list[str] = field(default_factory=list)  # more aliases loaded, for route and shadow
    domain: str = "production"
    fallback: str | None = None
    sample: list[dict[str, Any]] | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 1.0
    retries: int = 1
    log: bool = True
    log_inputs: str = "auto"  # auto | raw | digest
    log_dir: Path | None = None
    log_dataset: str | None = None
    seal_every_s: float = 300.0
    flush_s: float = 1.0
    flush_records: int = 1000
    max_buffer: int = 20_000
    poll_s: float = 0.5
    max_body_bytes: int = 1024 * 1024
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0


def request_id() -> str:
    return f"req_{time.time_ns():x}{secrets.token_hex(4)}"


class Serving:
    def __init__(self, platform: Any, actor: str, config: ServeConfig) -> None:
        self.platform = platform
        self.actor = actor
        self.config = config
        self.metrics = Metrics()
        self.hosts = {
            alias: ModelHost(
                platform,
                actor,
                config.name,
                alias,
                domain=config.domain,
                sample=config.sample,
                defaults=config.defaults,
                metrics=self.metrics,
            )
            for alias in dict.fromkeys([config.alias, *config.also])
        }
        self.host = self.hosts[config.alias]
        self.watchers = {a: AliasWatcher(platform, h, config.poll_s) for a, h in self.hosts.items()}
        self.watcher = self.watchers[config.alias]
        self._shadows: set[Any] = set()
        self._digests: dict[str, bool] = {}
        use_previous, baseline = parse_fallback(config.fallback)
        self._task_ref = baseline if isinstance(baseline, str) else None  # resolved by start()
        self.chain = FallbackChain(
            use_previous=use_previous,
            baseline=None if self._task_ref else baseline,
            timeout_s=config.timeout_s,
            retries=config.retries,
            failures=config.breaker_failures,
            cooldown_s=config.breaker_cooldown_s,
        )
        self.flags = flagging.open_flags(platform)
        self.flag_keys = flagging.keys(config.name)
        self.predlog: PredictionLog | None = None
        self.dataset: str | None = None
        self.started_at = time.time()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_seal: dict[str, Any] | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        if self._task_ref:  # pinned once: the baseline does not change under a running server
            self.chain.baseline = resolve_task_baseline(
                self.platform, self.actor, self._task_ref, domain=cfg.domain, defaults=cfg.defaults
            )
        loaded = self.host.start()
        for alias, host in self.hosts.items():
            if alias != self.config.alias:
                host.start()
        if cfg.log:
            root = cfg.log_dir or (
                Path(self.platform.settings.home) / "serving" / cfg.name / "predictions"
            )
            digest = cfg.log_inputs == "digest" or (
                cfg.log_inputs == "auto" and _forbids_inputs(loaded.classification)
            )
            self.predlog = PredictionLog(
                root,
                digest_inputs=digest,
                flush_s=cfg.flush_s,
                flush_records=cfg.flush_records,
                max_buffer=cfg.max_buffer,
                on_drop=lambda n: self.metrics.inc("mlstudio_serve_predlog_dropped_total", n),
            )
            self.dataset = cfg.log_dataset or self._default_dataset()
            self._threads.append(self.predlog.start(self._stop))
            if self.dataset and cfg.seal_every_s > 0:
                self._threads.append(self._start_sealer())
        for watcher in self.watchers.values():
            self._threads.append(watcher.start(self._stop))
        started = self.flags.start(self._stop)
        if started is not None:
            self._threads.append(started)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.predlog is not None:
            self.predlog.flush()
            self.seal()
        self.chain.pool.shutdown(wait=False, cancel_futures=True)

    def _default_dataset(self) -> str | None:
        try:
            with self.platform.store.read() as uow:
                model = uow.registry.get_model(self.config.name)
        except Exception:
            return None
        namespace = (model or {}).get("namespace")
        if not namespace:
            log.warning(
                "model %s has no namespace: the prediction log stays in segment files "
                "(name a dataset with --log-dataset NS/NAME)",
                self.config.name,
            )
            return None
        return f"{namespace}/{self.config.name.replace('.', '-')}-predictions"

    def _start_sealer(self) -> threading.Thread:
        def run() -> None:
            while not self._stop.wait(self.config.seal_every_s):
                self.seal()

        thread = threading.Thread(target=run, daemon=True, name="serve-seal")
        thread.start()
        return thread

    def seal(self) -> str | None:
        """Seal the closed segments into the predictions dataset; never raises (logged)."""
        if self.predlog is None or not self.dataset:
            return None
        try:
            ref = self.predlog.seal(self._save)
        except Exception as exc:
            log.error("prediction log not sealed (segments kept for next time): %s", exc)
            return None
        if ref:
            log.info("prediction log sealed into %s", ref)
            self.last_seal = {"dataset": ref, "at": time.time()}
        return ref

    def _save(self, records: list[dict[str, Any]]) -> str:
        import pyarrow as pa

        from mlstudio.data.governed_write import save_table
        from mlstudio.governance.classification import Classification

        rows = rows_of(records)
        table = pa.Table.from_pylist(rows)
        for unused in ("inputs", "inputs_sha256"):  # raw or digested only: drop the other
            if table.column(unused).null_count == table.num_rows:
                table = table.drop_columns([unused])
        specs = {r.get("classification") or "" for r in records}
        specs |= {h.current.classification for h in self.hosts.values() if h.current}
        inherited = Classification.join_all(Classification.parse(c) for c in specs if c)
        model_columns = {"inputs", "inputs_sha256", "prediction"}
        internal = Classification.parse("internal")
        columns = [
            {
                "name": f.name,
                "type": str(f.type),
                "classification": (inherited if f.name in model_columns else internal).to_dict(),
                "provenance": {
                    "rule": "serving: the model's classification"
                    if f.name in model_columns
                    else "serving: request metadata"
                },
            }
            for f in table.schema
        ]
        return save_table(
            self.platform.store,
            self.platform.cas,
            self.actor,
            self.dataset or "",
            table,
            columns,
            domain=self.config.domain,
            source={"kind": "predictions", "model": self.config.name, "alias": self.config.alias},
            action="serve.predictions.seal",
            details={"requests": len(records)},
        )

    # --- requests -----------------------------------------------------------------------------
    def route(self, subject: str) -> tuple[str, Any, Any, Any]:
        """(alias, its host, the kill resolution, the route resolution) for ``subject``."""
        keys = self.flag_keys
        kill = self.flags.evaluate(keys["kill"], False, subject=subject)
        route = self.flags.evaluate(keys["route"], self.config.alias, subject=subject)
        alias = route.value if route.value in self.hosts else self.config.alias
        return alias, self.hosts[alias], kill, route

    async def predict(self, payload: Any, rid: str) -> dict[str, Any]:
        started = time.perf_counter()
        rows = _rows(payload)
        subject = payload.get("subject") if isinstance(payload.get("subject"), str) else None
        alias, host, kill, route = self.route(subject or rid)
        forced = "kill_switch" if kill.value is True else None
        outcome = await self.chain.run(rows, host.current, host.previous, forced=forced)
        for column, n in outcome.missing.items():
            action = "fallback" if outcome.fallback_reason == "missing_input" else "default"
            self.metrics.inc("mlstudio_serve_missing_inputs_total", n, column=column, action=action)
        if outcome.answered_by != "model":
            self.metrics.inc(
                "mlstudio_serve_fallbacks_total",
                reason=outcome.fallback_reason or "unknown",
                target=outcome.answered_by,
            )
        self.metrics.inc("mlstudio_serve_variant_total", variant=alias)
        latency_ms = (time.perf_counter() - started) * 1000.0
        answered = {"model": host.current, "previous": host.previous}.get(outcome.answered_by)
        flag_reason = kill.reason if forced else route.reason
        response = {
            "request_id": rid,
            "model": self.config.name,
            "alias": alias,
            "version": outcome.version,
            "answered_by": outcome.answered_by,
            "fallback_reason": outcome.fallback_reason,
            "flag_reason": flag_reason,
            "predictions": outcome.predictions,
        }
        self._log(
            rid,
            alias,
            flag_reason,
            outcome.version,
            outcome.answered_by,
            outcome.fallback_reason,
            [f"{a.target} {a.outcome}" for a in outcome.attempts],
            latency_ms,
            subject,
            answered.classification if answered else None,
            rows,
            outcome.predictions,
            bucket=getattr(route, "bucket", None),
        )
        shadow = self.flags.evaluate(self.flag_keys["shadow"], "", subject=subject or rid)
        if isinstance(shadow.value, str) and shadow.value in self.hosts and shadow.value != alias:
            task = asyncio.ensure_future(self._shadow(shadow.value, rows, rid, subject))
            self._shadows.add(task)
            task.add_done_callback(self._shadows.discard)
        return response

    async def _shadow(self, alias: str, rows: list[dict], rid: str, subject: str | None) -> None:
        """A copy of the request to ``alias``, out of band: logged, never returned."""
        loaded = self.hosts[alias].current
        if loaded is None:
            return
        started = time.perf_counter()
        outputs: list[float] = []
        reason = None
        try:
            prepared, _ = loaded.prepare(rows)
            outputs = await self.chain._call(lambda: loaded.predict(prepared))
        except Exception as exc:
            reason = "timeout" if isinstance(exc, TimeoutError) else "error"
        self.metrics.inc("mlstudio_serve_shadow_total", variant=alias, outcome=reason or "ok")
        self._log(
            rid,
            f"shadow:{alias}",
            "SHADOW",
            loaded.version,
            "shadow",
            reason,
            [],
            (time.perf_counter() - started) * 1000.0,
            subject,
            loaded.classification,
            rows,
            outputs,
        )

    def _log(
        self,
        rid: str,
        variant: str,
        flag_reason: str | None,
        version: int | None,
        answered_by: str,
        fallback_reason: str | None,
        attempts: list[str],
        latency_ms: float,
        subject: str | None,
        classification: str | None,
        rows: list[dict[str, Any]],
        outputs: list[float],
        bucket: int | None = None,
    ) -> None:
        if self.predlog is None:
            return
        if classification is None:  # a baseline answered: the inputs are still the model's
            current = self.host.current
            classification = current.classification if current else None
        self.predlog.append(
            {
                "_digest": self._digest(classification),
                "request_id": rid,
                "at": time.time(),
                "model": self.config.name,
                "version": version,
                "variant": variant,
                "flag_reason": flag_reason,
                "bucket": bucket,
                "answered_by": answered_by,
                "fallback_reason": fallback_reason,
                "attempts": attempts,
                "latency_ms": latency_ms,
                "subject": subject,
                "classification": classification,
                "inputs": rows,
                "outputs": outputs,
            }
        )

    def _digest(self, classification: str | None) -> bool:
        """Log this record's inputs as digests? (``--log-inputs``, else by classification:
        each version decides for the requests it answers; unknown → digests)."""
        mode = self.config.log_inputs
        if mode != "auto":
            return mode == "digest"
        if classification is None:
            return True
        found = self._digests.get(classification)
        if found is None:
            found = self._digests[classification] = _forbids_inputs(classification)
        return found

    def describe(self) -> dict[str, Any]:
        current, previous = self.host.current, self.host.previous
        flags = {
            name: _resolution(self.flags.evaluate(key, None))
            for name, key in self.flag_keys.items()
        }
        return {
            "model": self.config.name,
            "alias": self.config.alias,
            "domain": self.config.domain,
            "status": "serving" if current else "loading",
            "version": current.version if current else None,
            "digest": current.digest if current else None,
            "classification": current.classification if current else None,
            "features": current.features if current else [],
            "previous_version": previous.version if previous else None,
            "aliases": {
                a: (h.current.version if h.current else None) for a, h in self.hosts.items()
            },
            "alias_version": self.host.alias_version,
            "rejected": {str(k): v for k, v in self.host.rejected.items()},
            "metadata_db": "reachable" if self.watcher.db_ok else "unreachable",
            "breakers": self.chain.breaker_states(),
            "fallback": self.config.fallback,
            "baseline": self.chain.baseline.name if self.chain.baseline else None,
            "flags": flags,
            "prediction_log": None
            if self.predlog is None
            else {
                "dir": str(self.predlog.root),
                "dataset": self.dataset,
                "written": self.predlog.written,
                "dropped": self.predlog.dropped,
                "inputs": "sha256"
                if self._digest(current.classification if current else None)
                else "raw",
                "last_seal": self.last_seal,
            },
        }


def _resolution(r: Any) -> dict[str, Any]:
    return {
        "value": r.value,
        "variant": r.variant,
        "reason": r.reason,
        "error_code": getattr(r, "error_code", None),
    }


def _rows(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or "rows" not in payload:
        raise InvalidInputError(
            'the request body must be a JSON object with "rows": a list of objects',
            hint='e.g. {"rows": [{"x": 1.0}]}',
        )
    rows = payload["rows"]
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise InvalidInputError(
            '"rows" must be a non-empty list of JSON objects (column: value)',
            hint='e.g. {"rows": [{"x": 1.0}]}',
        )
    if len(rows) > MAX_ROWS:
        raise InvalidInputError(
            f"{len(rows)} rows in one request; at most {MAX_ROWS}",
            hint="split the request",
        )
    return rows


def _forbids_inputs(spec: str) -> bool:
    """Inputs are logged as sha256 digests when the model's classification carries a label
    (pii, financial, …) or is restricted or unclassified."""
    from mlstudio.governance.classification import Classification, Level

    cls = Classification.parse(spec)
    return bool(cls.labels) or cls.effective_level >= Level.RESTRICTED
