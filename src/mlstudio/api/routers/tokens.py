"""``/api/v1/tokens``: API tokens (the secret is returned once, at creation)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Actor, Paging, PlatformDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.governance import TokenCreatedOut, TokenCreateIn, TokenOut

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=Page[TokenOut])
def list_tokens(
    platform: PlatformDep,
    actor: Actor,
    page: Paging,
    user: Annotated[str | None, Query(description="Only this user's tokens (admins)")] = None,
) -> dict[str, Any]:
    """Your tokens (admins: everyone's); secrets and hashes are never returned."""
    return page.page(page.slice([t.to_dict() for t in platform.tokens.list(actor, user)]))


@router.post("", status_code=201, response_model=TokenCreatedOut)
def create_token(body: TokenCreateIn, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Create a token for you (admins: for anyone); the secret is in the response only."""
    record, secret = platform.tokens.create(
        actor, body.user, ttl_days=body.ttl_days, description=body.description
    )
    return {**record.to_dict(), "token": secret, "warning": "the token is not shown again"}


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, platform: PlatformDep, actor: Actor) -> dict[str, Any]:
    """Revoke a token now (your own; admins: anyone's)."""
    return platform.tokens.revoke(actor, token_id).to_dict()
