"""sha256 digests, the identity of every artifact, module version and cache key."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from mlstudio.core.canonical import canonical_bytes

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def digest_of(value: Any) -> str:
    """Digest of a JSON-compatible value via its canonical form."""
    return sha256_bytes(canonical_bytes(value))


def is_digest(text: str) -> bool:
    return bool(DIGEST_RE.fullmatch(text))
