"""Webhook subscriptions, their durable outbox and its attempt log (tables ``webhooks``,
``webhook_deliveries``, ``webhook_attempts``).

A delivery is ``pending`` until a 2xx answer makes it ``delivered`` (or an explicit give-up
policy makes it ``failed``). Only the oldest pending delivery of a webhook is ever sent (strict
order per subscription); a sender claims it by moving its ``next_attempt_at`` forward (a lease),
so two senders do not post it at once and a sender that dies mid-post is retried after the lease.
Every attempt to post a delivery adds one ``webhook_attempts`` row; the delivery's ``last_*``
columns summarize the latest one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select, update

from mlstudio.core.clock import iso, utcnow
from mlstudio.store.metadata.tables import webhook_attempts as wa
from mlstudio.store.metadata.tables import webhook_deliveries as wd
from mlstudio.store.metadata.tables import webhooks as wh


@dataclass(frozen=True)
class WebhookRecord:
    id: str
    url: str
    secret: str
    events: list[str]
    active: bool
    created_by: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Never includes the secret (it is shown once, when the webhook is added)."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class DeliveryRecord:
    id: int
    webhook_id: str
    event: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status: int | None
    last_latency_ms: float | None
    created_at: datetime
    delivered_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "event": self.event,
            "event_id": self.payload.get("event_id"),
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at) if self.state == "pending" else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "last_latency_ms": (
                round(self.last_latency_ms, 1) if self.last_latency_ms is not None else None
            ),
            "created_at": iso(self.created_at),
            "delivered_at": iso(self.delivered_at),
            "payload": self.payload,
        }


@dataclass(frozen=True)
class AttemptRecord:
    id: int
    delivery_id: int
    webhook_id: str
    attempt: int
    started_at: datetime
    status: int | None
    error: str | None
    latency_ms: float | None
    sent_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery_id": self.delivery_id,
            "webhook_id": self.webhook_id,
            "attempt": self.attempt,
            "started_at": iso(self.started_at),
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 1) if self.latency_ms is not None else None,
            "sent_by": self.sent_by,
        }


_HOOK_FIELDS = [c.name for c in wh.columns]
_DELIVERY_FIELDS = [c.name for c in wd.columns]
_ATTEMPT_FIELDS = [c.name for c in wa.columns]


def _hook(r: Any) -> WebhookRecord:
    return WebhookRecord(**{k: getattr(r, k) for k in _HOOK_FIELDS})


def _delivery(r: Any) -> DeliveryRecord:
    return DeliveryRecord(**{k: getattr(r, k) for k in _DELIVERY_FIELDS})


class WebhookRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    # --- subscriptions ------------------------------------------------------------------------
    def create(self, values: dict[str, Any]) -> WebhookRecord:
        self.conn.execute(insert(wh).values(**values))
        found = self.get(values["id"])
        assert found is not None
        return found

    def get(self, webhook_id: str) -> WebhookRecord | None:
        r = self.conn.execute(select(wh).where(wh.c.id == webhook_id)).first()
        return _hook(r) if r else None

    def find(self, prefix: str, limit: int = 5) -> list[str]:
        q = select(wh.c.id).where(wh.c.id.like(f"{prefix}%")).limit(limit)
        return [r.id for r in self.conn.execute(q)]

    def list(self, *, include_removed: bool = False) -> list[WebhookRecord]:
        q = select(wh).order_by(wh.c.created_at, wh.c.id)
        if not include_removed:
            q = q.where(wh.c.active.is_(True))
        return [_hook(r) for r in self.conn.execute(q)]

    def deactivate(self, webhook_id: str) -> None:
        self.conn.execute(update(wh).where(wh.c.id == webhook_id).values(active=False))

    def subscribers(self, event: str) -> list[str]:
        """Ids of the active webhooks subscribed to ``event`` (``*`` subscribes to all)."""
        rows = self.conn.execute(select(wh.c.id, wh.c.events).where(wh.c.active.is_(True)))
        return [r.id for r in rows if event in (r.events or []) or "*" in (r.events or [])]

    # --- the outbox ---------------------------------------------------------------------------
    def enqueue(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(wd), list(rows))

    def add_delivery(self, values: dict[str, Any]) -> int:
        return int(self.conn.execute(insert(wd).values(**values).returning(wd.c.id)).scalar_one())

    def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        r = self.conn.execute(select(wd).where(wd.c.id == delivery_id)).first()
        return _delivery(r) if r else None

    def deliveries(
        self, webhook_id: str, *, state: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[DeliveryRecord]:
        q = (
            select(wd)
            .where(wd.c.webhook_id == webhook_id)
            .order_by(wd.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if state:
            q = q.where(wd.c.state == state)
        return [_delivery(r) for r in self.conn.execute(q)]

    def heads(self, now: datetime, limit: int = 100) -> list[tuple[DeliveryRecord, WebhookRecord]]:
        """Per active webhook, its oldest pending delivery, if that one is due at ``now``."""
        oldest = select(func.min(wd.c.id)).where(wd.c.state == "pending").group_by(wd.c.webhook_id)
        q = (
            select(wd, *[c.label(f"hook_{c.name}") for c in wh.columns])
            .join(wh, wh.c.id == wd.c.webhook_id)
            .where(wd.c.id.in_(oldest), wh.c.active.is_(True), wd.c.next_attempt_at <= now)
            .order_by(wd.c.next_attempt_at, wd.c.id)
            .limit(limit)
        )
        out = []
        for r in self.conn.execute(q):
            hook = WebhookRecord(**{k: getattr(r, f"hook_{k}") for k in _HOOK_FIELDS})
            out.append((_delivery(r), hook))
        return out

    def claim(self, delivery_id: int, expected_next: datetime, lease_until: datetime) -> bool:
        """Take the delivery for one attempt if nobody else did (compare-and-set on its time)."""
        result = self.conn.execute(
            update(wd)
            .where(
                wd.c.id == delivery_id,
                wd.c.state == "pending",
                wd.c.next_attempt_at == expected_next,
            )
            .values(next_attempt_at=lease_until)
        )
        return (result.rowcount or 0) == 1

    def record_attempt(self, delivery_id: int, **values: Any) -> int | None:
        """Count one attempt on a pending delivery and set its summary (``last_*``, state,
        next time); returns its new attempt count, or None if it was no longer pending."""
        values["attempts"] = wd.c.attempts + 1
        result = self.conn.execute(
            update(wd)
            .where(wd.c.id == delivery_id, wd.c.state == "pending")
            .values(**values)
            .returning(wd.c.attempts)
        ).first()
        return int(result.attempts) if result is not None else None

    def log_attempt(self, values: dict[str, Any]) -> None:
        """One row of the attempt log (delivery_id, webhook_id, attempt, started_at, status,
        error, latency_ms, sent_by)."""
        self.conn.execute(insert(wa).values(**values))

    def attempts(
        self, delivery_id: int, *, limit: int | None = None, offset: int = 0
    ) -> list[AttemptRecord]:
        """A delivery's attempts, first to last."""
        q = (
            select(wa)
            .where(wa.c.delivery_id == delivery_id)
            .order_by(wa.c.attempt, wa.c.id)
            .offset(offset)
        )
        if limit is not None:
            q = q.limit(limit)
        return [
            AttemptRecord(**{k: getattr(r, k) for k in _ATTEMPT_FIELDS})
            for r in self.conn.execute(q)
        ]

    def purge(self, older_than: timedelta) -> int:
        """Delete settled (delivered or failed) deliveries created longer ago than
        ``older_than``, with their attempt log; pending ones stay. Returns how many went."""
        cutoff = utcnow() - older_than
        settled = select(wd.c.id).where(wd.c.state != "pending", wd.c.created_at < cutoff)
        self.conn.execute(delete(wa).where(wa.c.delivery_id.in_(settled)))
        return self.conn.execute(delete(wd).where(wd.c.id.in_(settled))).rowcount or 0

    def counts(self, webhook_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        if not webhook_ids:
            return {}
        q = (
            select(wd.c.webhook_id, wd.c.state, func.count())
            .where(wd.c.webhook_id.in_(list(webhook_ids)))
            .group_by(wd.c.webhook_id, wd.c.state)
        )
        out: dict[str, dict[str, int]] = {}
        for hook_id, state, count in self.conn.execute(q):
            out.setdefault(hook_id, {})[state] = int(count)
        return out

    # --- metrics ------------------------------------------------------------------------------
    def failure_stats(self) -> dict[str, int]:
        """Failed attempts in all (a counter), and deliveries by state."""
        failed_attempts = func.sum(
            case((wd.c.state == "delivered", wd.c.attempts - 1), else_=wd.c.attempts)
        )
        q = select(wd.c.state, func.count(), func.coalesce(failed_attempts, 0)).group_by(wd.c.state)
        out: dict[str, int] = {"failed_attempts": 0}
        for state, count, failed in self.conn.execute(q):
            out[state] = int(count)
            out["failed_attempts"] += int(failed or 0)
        return out
