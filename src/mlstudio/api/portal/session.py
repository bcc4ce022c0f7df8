"""Portal sessions: a signed cookie (HttpOnly, SameSite=Strict) and CSRF tokens.

Signing in exchanges an API token (checked by the API's own ``authenticate``) for a cookie
``v1.<payload>.<hmac>`` whose payload names the user, the token's id (not its secret: each
page checks through the interface that the token is still active, so revoking it signs the
session out), an expiry (never past the token's) and a random session id; the server keeps
only its signing key. The CSRF token of a session is an HMAC of its id, so it needs
no storage either and a forged form (no cookie-bound token) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from mlstudio.errors import ConfigurationError

COOKIE = "mlstudio_session"
PRE_COOKIE = "mlstudio_signin"  # binds the sign-in form's CSRF token before a session exists
SESSION_TTL_S = 8 * 3600


@dataclass(frozen=True)
class Session:
    user: str
    sid: str
    expires: float
    token_id: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


KEY_FILE = "portal.key"


def signing_key(home: Path, secret: str | None = None) -> bytes:
    """The key sessions are signed with: derived from ``secret`` (``MLSTUDIO_PORTAL_KEY``: set
    the same value on every server behind one address), else a random key kept in
    ``HOME/portal.key`` (mode 0600, made once), so a restarted server keeps its users signed in.
    """
    if secret:
        return hashlib.sha256(b"mlstudio-portal-session:" + secret.encode()).digest()
    path = home / KEY_FILE
    for _ in range(3):
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            key = b""
        if len(key) == 32:
            return key
        home.mkdir(parents=True, exist_ok=True)
        new = secrets.token_bytes(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server made it first (or it is damaged): read again
            if len(key) not in (0, 32):
                path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(new)
        return new
    raise ConfigurationError(
        f"cannot read or create the portal's key {path}",
        hint="set MLSTUDIO_PORTAL_KEY, or make the home writable",
    )


class Sessions:
    """Issues and checks session cookies and CSRF tokens with one key (see :func:`signing_key`)."""

    def __init__(self, key: bytes | None = None, ttl_s: float = SESSION_TTL_S) -> None:
        self.key = key or secrets.token_bytes(32)
        self.ttl_s = ttl_s

    def _mac(self, purpose: str, text: str) -> str:
        return _b64(hmac.new(self.key, f"{purpose}:{text}".encode(), hashlib.sha256).digest())

    def issue(
        self,
        user: str,
        now: float | None = None,
        *,
        token_id: str = "",
        not_after: float | None = None,
    ) -> tuple[str, Session]:
        """A new session for ``user`` (signed in with token ``token_id``, valid until
        ``not_after`` at most): (cookie value, session)."""
        now = time.time() if now is None else now
        expires = now + self.ttl_s if not_after is None else min(now + self.ttl_s, not_after)
        session = Session(user, secrets.token_urlsafe(16), expires, token_id)
        data = {"u": user, "s": session.sid, "e": session.expires, "t": token_id}
        payload = _b64(json.dumps(data).encode())
        return f"v1.{payload}.{self._mac('session', payload)}", session

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie value, or None (absent, tampered with, or expired)."""
        if not cookie:
            return None
        version, _, rest = cookie.partition(".")
        payload, _, mac = rest.partition(".")
        if version != "v1" or not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(
                str(data["u"]), str(data["s"]), float(data["e"]), str(data.get("t", ""))
            )
        except (ValueError, KeyError, TypeError):
            return None
        now = time.time() if now is None else now
        return session if session.expires > now else None

    def csrf(self, sid: str) -> str:
        """The CSRF token of the session (or sign-in nonce) ``sid``."""
        return self._mac("csrf", sid)

    def check_csrf(self, sid: str | None, token: str | None) -> bool:
        return bool(sid and token) and hmac.compare_digest(self.csrf(str(sid)), str(token))


def cookie_options(secure: bool) -> dict[str, object]:
    """Options for ``Response.set_cookie``: never readable from scripts, never sent cross-site."""
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": "/"}
