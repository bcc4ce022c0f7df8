"""``/api/v1/tokens``: API tokens (the secret is returned once, at creation)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from mlstudio.api.deps import Paging, StudioDep
from mlstudio.api.schemas.common import Page
from mlstudio.api.schemas.governance import TokenCreatedOut, TokenCreateIn, TokenOut

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=Page[TokenOut])
def list_tokens(
    studio: StudioDep,
    page: Paging,
    user: Annotated[str | None, Query(description="Only this user's tokens (admins)")] = None,
) -> dict[str, Any]:
    """Your tokens (admins: everyone's); secrets and hashes are never returned."""
    return page.page(page.slice(studio.tokens.list(user)))


@router.post("", status_code=201, response_model=TokenCreatedOut)
def create_token(body: TokenCreateIn, studio: StudioDep) -> Any:
    """Create a token for you (admins: for anyone); the secret is in the response only."""
    return studio.tokens.create(body.user, ttl_days=body.ttl_days, description=body.description)


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, studio: StudioDep) -> Any:
    """Revoke a token now (your own; admins: anyone's)."""
    return studio.tokens.revoke(token_id)
