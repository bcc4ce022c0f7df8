"""Outbound webhooks: subscriptions, a durable outbox, signed at-least-once delivery, replay.

**Events**: ``run.started`` (a run's first start), ``run.succeeded``, ``run.failed``,
``run.cancelled``, ``tag.moved`` (push's ``latestAlpha``, promote, tag, rollback), and the model
registry's ``model.version.created``, ``model.alias.moved`` and ``model.approved``, and
monitoring's ``monitor.alert`` and ``monitor.resolved`` (with the evidence). ``emit``
writes one pending delivery per subscribed webhook *in the caller's transaction*, so an event is
recorded if and only if the state change it describes commits.

**Delivery**: ``deliver_once`` posts, per webhook, only its oldest pending delivery, so a
subscription receives its events in order (a receiver that is down holds back that webhook's
later events, not other webhooks'). The request is ``POST`` of a JSON body::

    {"delivery_id": "42", "event": "run.succeeded", "event_id": "evt_…",
     "occurred_at": "2024-05-01T12:00:00Z", "data": {…}}

with headers ``X-Mlstudio-Event``, ``X-Mlstudio-Delivery`` (the delivery id: stable across
retries, so receivers can de-duplicate), ``X-Mlstudio-Timestamp`` (unix seconds of this attempt)
and ``X-Mlstudio-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}" keyed by the
webhook's secret>``. Receivers check it with :func:`verify_signature`. Redirects are not followed.

**Retries**: a 2xx answer marks the delivery delivered. Anything else (an error status, a
timeout, a refused connection) counts an attempt, records the status, error and latency, and
schedules the next attempt after ``base * 2**(attempts-1)`` seconds, capped (2 s, 4 s, 8 s, …
5 min). By default a delivery is **never dropped**: after the cap it is retried every 5 minutes
until the receiver answers (at-least-once). Only an explicit policy, ``give_up_after=N``, marks a
delivery ``failed`` after N attempts (which unblocks the webhook's later deliveries); a failed or
delivered delivery can be sent again with ``replay``, which queues a copy (same ``event_id``,
new delivery id, ``replay_of`` in the body) behind the webhook's pending deliveries.

**Delivery log**: every attempt adds one ``webhook_attempts`` row (attempt number, start time,
status, error, latency and the sender's ``host:pid``) in the transaction that records its outcome
on the delivery, whose ``last_*`` fields summarize the latest attempt; ``attempts`` lists them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from mlstudio.core.clock import iso, utcnow
from mlstudio.core.ids import new_id, process_identity
from mlstudio.errors import InvalidInputError, NotFoundError, StateError

log = logging.getLogger(__name__)

EVENTS = (
    "run.started",
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "tag.moved",
    "model.version.created",
    "model.alias.moved",
    "model.approved",
    "monitor.alert",
    "monitor.resolved",
)
SIGNATURE_HEADER = "X-Mlstudio-Signature"
TIMESTAMP_HEADER = "X-Mlstudio-Timestamp"
EVENT_HEADER = "X-Mlstudio-Event"
DELIVERY_HEADER = "X-Mlstudio-Delivery"
DEFAULT_TOLERANCE_S = 300
DELIVER_INTERVAL_S = 0.5
KEEP_DELIVERIES_DAYS = 30  # settled deliveries and their attempts are deleted after this long
PURGE_EVERY_S = 3600.0


# --- signing ----------------------------------------------------------------------------------
def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def sign(secret: str, timestamp: str | int, body: str | bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of ``{timestamp}.{body}``."""
    message = _bytes(str(timestamp)) + b"." + _bytes(body)
    return "sha256=" + hmac.new(_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: str | bytes,
    header: str,
    *,
    tolerance_s: float | None = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """For receivers: does ``header`` sign ``body`` at ``timestamp`` with ``secret``?

    ``body`` must be the raw request body, byte for byte. With ``tolerance_s`` (default 5 min),
    a timestamp further than that from ``now`` (default: the current time) is refused, so a
    captured request cannot be replayed later.
    """
    if not header or not header.startswith("sha256="):
        return False
    try:
        stamp = int(str(timestamp))
    except ValueError:
        return False
    if tolerance_s is not None:
        current = time.time() if now is None else now
        if abs(current - stamp) > tolerance_s:
            return False
    return hmac.compare_digest(sign(secret, stamp, body), header.strip())


# --- emitting (the outbox) --------------------------------------------------------------------
def emit(uow: Any, event: str, data: dict[str, Any]) -> int:
    """Queue ``event`` for every active webhook subscribed to it, in ``uow``'s transaction."""
    hooks = uow.webhooks.subscribers(event)
    if not hooks:
        return 0
    now = utcnow()
    payload = {
        "event_id": new_id("evt"),
        "occurred_at": iso(now),
        "data": json.loads(json.dumps(data, default=_json_default)),
    }
    uow.webhooks.enqueue(
        [
            {
                "webhook_id": hook_id,
                "event": event,
                "payload": payload,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for hook_id in hooks
        ]
    )
    return len(hooks)


def emit_run_event(uow: Any, event: str, run_id: str) -> int:
    """``run.started`` / ``run.succeeded`` / ``run.failed`` / ``run.cancelled`` for a run."""
    if not uow.webhooks.subscribers(event):
        return 0
    run = uow.runs.get_run(run_id)
    if run is None:
        return 0
    return emit(
        uow,
        event,
        {
            "run_id": run.id,
            "workflow": run.workflow,
            "state": run.state,
            "domain": run.domain,
            "namespace": run.namespace,
            "trigger": run.trigger,
            "params": run.params,
            "created_by": run.created_by,
            "created_at": iso(run.created_at),
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
            "error": run.error,
            "parent_run_id": run.parent_run_id,
        },
    )


def emit_tag_moved(uow: Any, moved: Any) -> int:
    """``tag.moved`` for a tag event record (module, tag, from, to, action, actor, at)."""
    return emit(
        uow,
        "tag.moved",
        {
            "module": moved.module,
            "tag": moved.tag,
            "from_version": moved.from_version,
            "to_version": moved.to_version,
            "action": moved.action,
            "actor": moved.actor,
            "at": iso(moved.at),
        },
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    return str(value)


def body_of(delivery: Any) -> str:
    """The exact JSON body posted for a delivery (stable across its attempts)."""
    payload = delivery.payload
    envelope = {
        "delivery_id": str(delivery.id),
        "event": delivery.event,
        "event_id": payload.get("event_id"),
        "occurred_at": payload.get("occurred_at"),
        "data": payload.get("data"),
    }
    if payload.get("replay_of") is not None:
        envelope["replay_of"] = str(payload["replay_of"])
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True)


# --- the service ------------------------------------------------------------------------------
class WebhookService:
    def __init__(
        self,
        store: Any,
        *,
        timeout_s: float = 10.0,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 300.0,
        give_up_after: int | None = None,
        max_parallel: int = 8,
    ) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.give_up_after = give_up_after
        self.max_parallel = max_parallel
        self._client: Any = None
        self._lock = threading.Lock()

    emit = staticmethod(emit)

    # --- subscriptions ------------------------------------------------------------------------
    def subscribe(
        self, actor: str, url: str, events: list[str], secret: str | None = None
    ) -> dict[str, Any]:
        """Add a webhook (admins); returns it with its signing secret, shown only here."""
        url = _validate_url(url)
        chosen = _validate_events(events)
        if secret is None:
            secret = "whsec_" + secrets.token_urlsafe(32)
        elif not 16 <= len(secret) <= 128:
            raise InvalidInputError(
                "a webhook secret must be 16 to 128 characters",
                hint="omit --secret to have one generated",
            )
        hook_id = new_id("whk")

        def work(uow: Any) -> dict[str, Any]:
            self._require_admin(uow, actor, "add webhooks")
            record = uow.webhooks.create(
                {
                    "id": hook_id,
                    "url": url,
                    "secret": secret,
                    "events": chosen,
                    "active": True,
                    "created_by": actor,
                    "created_at": utcnow(),
                }
            )
            uow.audit.record(
                actor, "webhook.add", f"webhook:{hook_id}", details={"url": url, "events": chosen}
            )
            return {**record.to_dict(), "secret": secret}

        return self._guarded(actor, "webhook.add", f"webhook:{hook_id}", work)

    def list(self, actor: str, *, include_removed: bool = False) -> list[dict[str, Any]]:
        """Webhooks with their deliveries by state (admins); secrets are never listed."""

        def work(uow: Any) -> tuple[list[Any], dict[str, Any]]:
            self._require_admin(uow, actor, "list webhooks")
            hooks = uow.webhooks.list(include_removed=include_removed)
            return hooks, uow.webhooks.counts([h.id for h in hooks])

        hooks, counts = self._guarded_read(actor, "webhook.list", "webhook:*", work)
        return [
            {
                **h.to_dict(),
                "deliveries": {
                    s: counts.get(h.id, {}).get(s, 0) for s in ("pending", "delivered", "failed")
                },
            }
            for h in hooks
        ]

    def remove(self, actor: str, webhook_id: str) -> dict[str, Any]:
        """Stop a webhook (admins): nothing more is queued or sent; its delivery log stays."""

        def work(uow: Any) -> dict[str, Any]:
            self._require_admin(uow, actor, "remove webhooks")
            hook = self._hook(uow, webhook_id)
            if hook.active:
                uow.webhooks.deactivate(hook.id)
                uow.audit.record(actor, "webhook.remove", f"webhook:{hook.id}")
            return {**hook.to_dict(), "active": False, "changed": hook.active}

        return self._guarded(actor, "webhook.remove", f"webhook:{webhook_id}", work)

    def deliveries(
        self,
        actor: str,
        webhook_id: str,
        *,
        state: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """A webhook's delivery log, newest first: attempts, last status, error and latency."""
        if state is not None and state not in ("pending", "delivered", "failed"):
            raise InvalidInputError(
                f"unknown delivery state {state!r}", hint="use pending, delivered or failed"
            )

        def work(uow: Any) -> list[Any]:
            self._require_admin(uow, actor, "read webhook deliveries")
            hook = self._hook(uow, webhook_id)
            return uow.webhooks.deliveries(hook.id, state=state, limit=limit, offset=offset)

        rows = self._guarded_read(actor, "webhook.deliveries", f"webhook:{webhook_id}", work)
        return [r.to_dict() for r in rows]

    def attempts(
        self,
        actor: str,
        delivery_id: int | str,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Every attempt to post a delivery, first to last: status, error, latency, sender."""
        did = _delivery_id(delivery_id)

        def work(uow: Any) -> list[Any]:
            self._require_admin(uow, actor, "read webhook deliveries")
            if uow.webhooks.get_delivery(did) is None:
                raise _no_delivery(did)
            return uow.webhooks.attempts(did, limit=limit, offset=offset)

        rows = self._guarded_read(actor, "webhook.attempts", f"delivery:{did}", work)
        return [r.to_dict() for r in rows]

    def replay(self, actor: str, delivery_id: int | str) -> dict[str, Any]:
        """Send a delivery again: a copy is queued behind the webhook's pending deliveries."""
        did = _delivery_id(delivery_id)

        def work(uow: Any) -> dict[str, Any]:
            self._require_admin(uow, actor, "replay webhook deliveries")
            original = uow.webhooks.get_delivery(did)
            if original is None:
                raise _no_delivery(did)
            hook = uow.webhooks.get(original.webhook_id)
            if hook is None or not hook.active:
                raise StateError(
                    f"webhook {original.webhook_id} was removed",
                    hint="add it again: mlstudio webhook add URL --event E",
                )
            now = utcnow()
            copy_id = uow.webhooks.add_delivery(
                {
                    "webhook_id": hook.id,
                    "event": original.event,
                    "payload": {**original.payload, "replay_of": original.id},
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
            latest = uow.webhooks.get_delivery(copy_id)
            uow.audit.record(
                actor,
                "webhook.replay",
                f"webhook:{hook.id}",
                details={"delivery": original.id, "copy": latest.id},
            )
            return {**latest.to_dict(), "replay_of": original.id}

        return self._guarded(actor, "webhook.replay", f"delivery:{did}", work)

    def _hook(self, uow: Any, webhook_id: str) -> Any:
        hook = uow.webhooks.get(webhook_id)
        if hook is None and len(webhook_id) >= 6:
            matches = uow.webhooks.find(webhook_id)
            if len(matches) > 1:
                raise InvalidInputError(
                    f"{webhook_id!r} matches {len(matches)} webhooks", hint="give more of the id"
                )
            hook = uow.webhooks.get(matches[0]) if matches else None
        if hook is None:
            raise NotFoundError(
                f"webhook {webhook_id} does not exist", hint="see: mlstudio webhook list"
            )
        return hook

    @staticmethod
    def _require_admin(uow: Any, actor: str, action: str) -> None:
        from mlstudio.governance.rbac import Authorizer

        Authorizer(uow.identity).require_admin(actor, action)

    def _guarded(self, actor: str, action: str, resource: str, work: Any) -> Any:
        from mlstudio.governance.audit import guarded

        return guarded(self.store, actor, action, resource, work)

    def _guarded_read(self, actor: str, action: str, resource: str, work: Any) -> Any:
        from mlstudio.governance.audit import guarded_read

        return guarded_read(self.store, actor, action, resource, work)

    # --- delivery -----------------------------------------------------------------------------
    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        exponent = min(max(attempts - 1, 0), 30)
        return min(self.backoff_cap_s, self.backoff_base_s * (2**exponent))

    def deliver_once(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Attempt every webhook's due head delivery once; returns the attempts' outcomes."""
        now = now or utcnow()
        with self.store.read() as uow:
            heads = uow.webhooks.heads(now)
        if not heads:
            return []
        lease = now + timedelta(seconds=self.timeout_s + 30)
        claimed: list[tuple[Any, Any]] = []
        with self.store.transaction() as uow:
            for delivery, hook in heads:
                if uow.webhooks.claim(delivery.id, delivery.next_attempt_at, lease):
                    claimed.append((delivery, hook))
        if not claimed:
            return []
        if len(claimed) == 1:
            results = [self._send(*claimed[0])]
        else:
            with ThreadPoolExecutor(min(self.max_parallel, len(claimed))) as pool:
                results = list(pool.map(lambda pair: self._send(*pair), claimed))
        outcomes = []
        with self.store.transaction() as uow:
            for (delivery, _hook), (started_at, status, error, latency_ms) in zip(
                claimed, results, strict=True
            ):
                outcomes.append(
                    self._record(uow, delivery, now, started_at, status, error, latency_ms)
                )
        return outcomes

    def _record(
        self,
        uow: Any,
        delivery: Any,
        now: datetime,
        started_at: datetime,
        status: int | None,
        error: str | None,
        latency_ms: float,
    ) -> dict[str, Any]:
        """The attempt's outcome on the delivery (its summary) and one row of its log."""
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {
            "last_status": status,
            "last_error": error,
            "last_latency_ms": latency_ms,
        }
        if error is None:
            values.update(state="delivered", delivered_at=utcnow())
        elif self.give_up_after is not None and attempts >= self.give_up_after:
            values.update(state="failed")
        else:
            values["next_attempt_at"] = now + timedelta(seconds=self.backoff(attempts))
        counted = uow.webhooks.record_attempt(delivery.id, **values)
        uow.webhooks.log_attempt(
            {
                "delivery_id": delivery.id,
                "webhook_id": delivery.webhook_id,
                "attempt": counted or attempts,
                "started_at": started_at,
                "status": status,
                "error": error,
                "latency_ms": latency_ms,
                "sent_by": process_identity(),
            }
        )
        return {
            "delivery_id": delivery.id,
            "webhook_id": delivery.webhook_id,
            "event": delivery.event,
            "attempt": attempts,
            "state": values.get("state", "pending"),
            "status": status,
            "error": error,
            "latency_ms": round(latency_ms, 1),
        }

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(
                    timeout=self.timeout_s,
                    follow_redirects=False,
                    headers={"User-Agent": "mlstudio-webhooks/1"},
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _send(self, delivery: Any, hook: Any) -> tuple[datetime, int | None, str | None, float]:
        """POST one delivery: (start time, status or None, error or None, latency in ms)."""
        import httpx

        body = body_of(delivery).encode("utf-8")
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: str(delivery.id),
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(hook.secret, stamp, body),
        }
        started_at = utcnow()
        started = time.perf_counter()
        try:
            response = self.client.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            latency = (time.perf_counter() - started) * 1000
            text = str(exc).splitlines()[0] if str(exc) else ""
            return started_at, None, f"{type(exc).__name__}: {text}"[:500], latency
        latency = (time.perf_counter() - started) * 1000
        status = response.status_code
        if 200 <= status < 300:
            return started_at, status, None, latency
        if 300 <= status < 400:
            return (
                started_at,
                status,
                f"HTTP {status}: redirects are not followed; subscribe the final URL",
                latency,
            )
        snippet = " ".join(response.text.split())[:200]
        return started_at, status, f"HTTP {status}" + (f": {snippet}" if snippet else ""), latency


def _delivery_id(value: int | str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 0 < number < 2**63:
        raise InvalidInputError(
            f"invalid delivery id {value!r}",
            hint="see the ids with: mlstudio webhook deliveries WEBHOOK",
        )
    return number


def _no_delivery(delivery_id: int) -> NotFoundError:
    return NotFoundError(
        f"delivery {delivery_id} does not exist",
        hint="see the ids with: mlstudio webhook deliveries WEBHOOK",
    )


def _validate_url(url: str) -> str:
    from mlstudio.core.ids import control_character

    text = (url or "").strip()
    parts = urlsplit(text)
    bad = control_character(text) is not None
    if bad or parts.scheme not in ("http", "https") or not parts.hostname or len(text) > 2000:
        raise InvalidInputError(
            f"invalid webhook URL {url!r}",
            hint="use an http:// or https:// URL, e.g. https://example.com/hooks/mlstudio",
        )
    return text


def _validate_events(events: list[str]) -> list[str]:
    chosen: list[str] = []
    for event in events or []:
        name = event.strip()
        if name != "*" and name not in EVENTS:
            raise InvalidInputError(
                f"unknown webhook event {event!r}",
                hint=f"use one or more of: {', '.join(EVENTS)} (or * for all)",
            )
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise InvalidInputError(
            "a webhook needs at least one event",
            hint=f"add --event with one of: {', '.join(EVENTS)}",
        )
    return chosen


def start(
    platform: Any, stop: threading.Event, interval: float = DELIVER_INTERVAL_S
) -> threading.Thread:
    """Deliver the outbox in a daemon thread until ``stop`` is set (the server calls this).

    Once an hour it also deletes settled deliveries (and their attempts) older than
    ``KEEP_DELIVERIES_DAYS``; pending ones are never deleted."""
    service = WebhookService(platform.store)

    def loop() -> None:
        purged_at = 0.0
        try:
            while not stop.is_set():
                try:
                    sent = service.deliver_once()
                    if time.monotonic() - purged_at > PURGE_EVERY_S:
                        purged_at = time.monotonic()
                        with platform.store.transaction() as uow:
                            uow.webhooks.purge(timedelta(days=KEEP_DELIVERIES_DAYS))
                except Exception:  # the database may be restarting: keep going
                    log.exception("webhook delivery pass failed; retrying")
                    sent = []
                if not sent:
                    stop.wait(interval)
        finally:
            service.close()

    thread = threading.Thread(target=loop, name="mlstudio-webhooks", daemon=True)
    thread.start()
    return thread
