"""The user of an ``Authorization: Bearer <token>`` header: the one token check behind the API,
the portal and the serving processes."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import AuthenticationError


def authenticate(platform: Any, header: str | None) -> str:
    """The user of the header's token, or AuthenticationError (401)."""
    if not header:
        raise AuthenticationError(
            "missing API token: send the header Authorization: Bearer <token>",
            hint="create a token with: mlstudio token create",
        )
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "malformed Authorization header: expected Bearer <token>",
            hint="send the header Authorization: Bearer <token>",
        )
    return platform.tokens.authenticate(token.strip())
