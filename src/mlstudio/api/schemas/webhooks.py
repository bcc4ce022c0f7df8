"""Webhooks, their deliveries and the attempts to post them."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstudio.api.schemas.common import In, Out


class WebhookOut(Out):
    id: str
    url: str
    events: list[str]
    active: bool
    created_by: str
    created_at: str


class WebhookListItem(WebhookOut):
    deliveries: dict[str, int] = Field(description="Deliveries by state: pending, delivered…")


class WebhookCreateIn(In):
    url: str = Field(description="Receiver URL (http:// or https://)")
    events: list[str] = Field(
        description="run.started | run.succeeded | run.failed | run.cancelled | tag.moved | *"
    )
    secret: str | None = Field(None, description="Signing secret, 16-128 chars (default: new)")


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The signing secret: shown once, never again")


class WebhookRemovedOut(WebhookOut):
    changed: bool = Field(description="False when it was already removed")


class DeliveryOut(Out):
    id: int
    webhook_id: str
    event: str
    event_id: str | None
    state: str = Field(description="pending | delivered | failed")
    attempts: int
    next_attempt_at: str | None = Field(description="When pending: the next attempt")
    last_status: int | None
    last_error: str | None
    last_latency_ms: float | int | None  # a number passes through as it came
    created_at: str
    delivered_at: str | None
    payload: dict[str, Any]


class ReplayOut(DeliveryOut):
    replay_of: int = Field(description="The delivery this one copies")


class AttemptOut(Out):
    id: int
    delivery_id: int
    webhook_id: str
    attempt: int
    started_at: str
    status: int | None = Field(description="HTTP status; null when no answer came back")
    error: str | None
    latency_ms: float | int | None
    sent_by: str = Field(description="The sender: host:pid")
