"""``/api/v1/webhooks``: signed outbound webhooks, their delivery log and replay."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.webhooks import (
    AttemptOut,
    DeliveryOut,
    ReplayOut,
    WebhookCreatedOut,
    WebhookCreateIn,
    WebhookListItem,
    WebhookRemovedOut,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.get("", response_model=Page[WebhookListItem])
def list_webhooks(
    studio: StudioDep,
    page: Paging,
    include_removed: Annotated[bool, Query(description="Include removed webhooks")] = False,
) -> dict[str, Any]:
    """Webhooks with their deliveries by state (admins); secrets are never listed."""
    hooks = studio.webhooks.list(include_removed=include_removed)
    return page.page(page.slice(hooks))


@router.post("", status_code=201, response_model=WebhookCreatedOut)
def add_webhook(body: WebhookCreateIn, studio: StudioDep) -> dict[str, Any]:
    """Subscribe a URL to events (admins); the signing secret is in the response only."""
    return studio.webhooks.add(body.url, body.events, secret=body.secret)


@router.delete("/{webhook_id}", response_model=WebhookRemovedOut)
def remove_webhook(webhook_id: str, studio: StudioDep) -> dict[str, Any]:
    """Stop a webhook (admins): nothing more is sent; its delivery log stays."""
    return studio.webhooks.remove(webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    webhook_id: str,
    studio: StudioDep,
    page: Paging,
    state: Annotated[str | None, Query(description="pending | delivered | failed")] = None,
) -> dict[str, Any]:
    """A webhook's delivery log, newest first (admins)."""
    rows = studio.webhooks.deliveries(webhook_id, state=state, limit=page.limit, offset=page.offset)
    return page.page(rows)


@router.get("/deliveries/{delivery_id}/attempts", response_model=Page[AttemptOut])
def list_attempts(delivery_id: str, studio: StudioDep, page: Paging) -> dict[str, Any]:
    """Every attempt to post a delivery, first to last (admins)."""
    rows = studio.webhooks.attempts(delivery_id, limit=page.limit, offset=page.offset)
    return page.page(rows)


@router.post("/deliveries/{delivery_id}/replay", status_code=202, response_model=ReplayOut)
def replay_delivery(delivery_id: str, studio: StudioDep) -> dict[str, Any]:
    """Send a delivery again: a copy is queued behind the webhook's pending deliveries."""
    return studio.webhooks.replay(delivery_id)
