"""API tokens: random secrets shown once, stored as sha256 only, revocable, and expiring.

A token reads ``mls_<token id>_<secret>``, e.g. ``mls_tok_0190f3a2b4c5d6e7f8a9b0c1d2_AbC…``.
The id makes a token easy to name (``mlstudio token revoke tok_…``) and to look up; the secret
is 32 random bytes (``secrets.token_urlsafe(32)``). Only ``sha256(whole token)`` is stored, so a
leaked database does not leak usable tokens; a presented token is looked up by that hash.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from datetime import timedelta
from typing import Any

from mlstudio.core.clock import iso, utcnow
from mlstudio.core.ids import new_id, validate_user
from mlstudio.data.records import TokenRecord
from mlstudio.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from mlstudio.governance.audit import guarded, guarded_read
from mlstudio.governance.rbac import Authorizer
from mlstudio.store.metadata.store import MetadataStore

TOKEN_PREFIX = "mls_"
TOKEN_ID_PREFIX = "tok"
DEFAULT_TTL_DAYS = 90.0
MAX_TTL_DAYS = 3650.0
_TOKEN_RE = re.compile(r"^mls_(tok_[0-9a-f]{22})_([A-Za-z0-9_-]{32,128})$")
_ID_RE = re.compile(r"^tok_[0-9a-f]{22}$")
_ANONYMOUS = "anonymous"
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at precision: not a write per request


def hash_token(token: str) -> str:
    """The stored form of a token: hex sha256 of the whole ``mls_…`` string."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_token(token: str) -> str | None:
    """The token id of a well-formed token, else None."""
    match = _TOKEN_RE.fullmatch(token.strip()) if isinstance(token, str) else None
    return match.group(1) if match else None


class TokenService:
    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    # --- create / revoke / list ---------------------------------------------------------------
    def create(
        self,
        actor: str,
        user: str | None = None,
        ttl_days: float = DEFAULT_TTL_DAYS,
        description: str = "",
    ) -> tuple[TokenRecord, str]:
        """A new token for ``user`` (default: the actor); returns the record and the secret.

        The secret is returned only here and never stored. Anyone may create tokens for
        themselves; only admins for other users. The user must exist and be enabled.
        """
        owner = validate_user(user or actor)
        ttl = _validate_ttl(ttl_days)
        description = description or ""
        if len(description) > 500:
            raise InvalidInputError("token description is too long (over 500 characters)")

        def work(uow: Any) -> tuple[TokenRecord, str]:
            auth = Authorizer(uow.identity)
            if owner == actor:
                auth.require_active(actor, "create API tokens")
            else:
                auth.require_admin(actor, f"create API tokens for {owner}")
            target = uow.identity.get_user(owner)
            if target is None:
                raise NotFoundError(
                    f"user {owner} does not exist", hint=f"add it first: mlstudio user add {owner}"
                )
            if target.disabled:
                raise PermissionDeniedError(
                    f"user {owner} is disabled: no tokens can be created for it",
                    hint=f"enable it first: mlstudio user enable {owner}",
                )
            token_id = new_id(TOKEN_ID_PREFIX)
            secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
            record = uow.tokens.create(
                token_id,
                owner,
                hash_token(secret),
                created_by=actor,
                expires_at=utcnow() + ttl,
                description=description,
            )
            uow.audit.record(
                actor,
                "token.create",
                f"token:{token_id}",
                details={
                    "user": owner,
                    "expires_at": iso(record.expires_at),
                    "description": description,
                },
            )
            return record, secret

        return guarded(self.store, actor, "token.create", f"user:{owner}", work)

    def revoke(self, actor: str, token_id: str) -> TokenRecord:
        """Revoke a token (its owner or an admin); revoking twice is a no-op."""
        token_id = _validate_id(token_id)

        def work(uow: Any) -> TokenRecord:
            auth = Authorizer(uow.identity)
            record = uow.tokens.get(token_id)
            if record is None:
                raise NotFoundError(
                    f"token {token_id} does not exist", hint="see your tokens: mlstudio token list"
                )
            if record.user == actor:
                auth.require_active(actor, "revoke API tokens")
            else:
                auth.require_admin(actor, f"revoke a token of {record.user}")
            if record.revoked_at is not None:
                return record
            uow.tokens.revoke(token_id)
            uow.audit.record(
                actor, "token.revoke", f"token:{token_id}", details={"user": record.user}
            )
            found = uow.tokens.get(token_id)
            assert found is not None
            return found

        return guarded(self.store, actor, "token.revoke", f"token:{token_id}", work)

    def list(self, actor: str, user: str | None = None) -> list[TokenRecord]:
        """Tokens (never their hashes): your own; admins see everyone's, or ``user``'s."""
        if user is not None:
            validate_user(user)

        def work(uow: Any) -> list[TokenRecord]:
            auth = Authorizer(uow.identity)
            if auth.is_admin(actor):
                return uow.tokens.list(user)
            if user is not None and user != actor:
                raise PermissionDeniedError(
                    f"{actor} may not list the tokens of {user}: it needs the platform admin role",
                    hint="list your own: mlstudio token list",
                )
            return uow.tokens.list(actor)

        return guarded_read(self.store, actor, "token.list", f"user:{user or actor}", work)

    # --- authentication -----------------------------------------------------------------------
    def authenticate(self, token: str) -> str:
        """The user a token belongs to, or :class:`AuthenticationError` (each reason distinct).

        Successful use stamps ``last_used_at``; every refusal is audited as ``auth.denied``.
        """
        token = token.strip() if isinstance(token, str) else ""
        token_id = parse_token(token)
        token_hash = hash_token(token) if token_id else ""

        with self.store.read() as uow:  # the common case writes at most a timestamp
            record = uow.tokens.by_hash(token_hash) if token_id else None
            refusal = _refusal(token_id, record, uow)
        if refusal is not None:
            reason, user, error = refusal

            def deny(uow: Any) -> None:
                uow.audit.record(
                    user or _ANONYMOUS,
                    "auth.denied",
                    f"token:{token_id or ''}",
                    decision="deny",
                    details={"reason": reason},
                )

            self.store.retrying(deny)
            raise error
        assert record is not None
        if record.last_used_at is None or utcnow() - record.last_used_at > TOUCH_EVERY:
            self.store.retrying(lambda uow: uow.tokens.touch(record.id))
        return record.user


def _refusal(
    token_id: str | None, record: TokenRecord | None, uow: Any
) -> tuple[str, str | None, AuthenticationError] | None:
    """``(reason, user, error)`` when ``record`` may not authenticate, else None."""
    if token_id is None:
        return (
            "malformed",
            None,
            AuthenticationError(
                "malformed API token: expected mls_<token id>_<secret>",
                hint="pass the whole token printed by `mlstudio token create`",
            ),
        )
    # an unknown id and a wrong secret look the same: guessing teaches nothing
    if record is None or record.id != token_id:
        return (
            "unknown",
            None,
            AuthenticationError(
                f"unknown API token {token_id}: no such token, or its secret is wrong",
                hint="create a token with: mlstudio token create",
            ),
        )
    renew = "create a new one with: mlstudio token create"
    if record.revoked_at is not None:
        message = f"API token {record.id} was revoked at {iso(record.revoked_at)}"
        return "revoked", record.user, AuthenticationError(message, hint=renew)
    if record.expires_at is not None and record.expires_at <= utcnow():
        message = f"API token {record.id} expired at {iso(record.expires_at)}"
        return "expired", record.user, AuthenticationError(message, hint=renew)
    user = uow.identity.get_user(record.user)
    if user is None:
        message = f"API token {record.id} belongs to {record.user}, who is not a registered user"
        hint = f"ask an admin: mlstudio user add {record.user}"
        return "unknown_user", record.user, AuthenticationError(message, hint=hint)
    if user.disabled:
        message = f"user {record.user} is disabled: its API tokens are refused"
        hint = f"ask an admin: mlstudio user enable {record.user}"
        return "disabled", record.user, AuthenticationError(message, hint=hint)
    return None


def _validate_ttl(ttl_days: float) -> timedelta:
    try:
        days = float(ttl_days)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"invalid token lifetime {ttl_days!r}") from exc
    if not math.isfinite(days) or days <= 0 or days > MAX_TTL_DAYS:
        raise InvalidInputError(
            f"invalid token lifetime {ttl_days!r} days",
            hint=f"tokens expire: use a number of days above 0 and at most {MAX_TTL_DAYS:g}",
        )
    return timedelta(days=days)


def _validate_id(token_id: str) -> str:
    token_id = (token_id or "").strip()
    if not _ID_RE.fullmatch(token_id):
        raise InvalidInputError(
            f"invalid token id {token_id!r}",
            hint="token ids look like tok_0190f3a2b4c5d6e7f8a9b0 (see: mlstudio token list)",
        )
    return token_id
