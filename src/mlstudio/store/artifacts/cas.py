"""Content-addressed storage: blobs keyed by their sha256, written once, verified on read.

A write that finds its blob already stored *refreshes* it (its last-modified time becomes now),
so garbage collection, which deletes only unreferenced blobs not written for a grace period,
never deletes a blob that a concurrent push or run has just (re)written and is about to
reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from mlstudio.core.hashing import is_digest, sha256_bytes
from mlstudio.errors import CorruptArtifactError, InvalidInputError, NotFoundError
from mlstudio.store.artifacts.objectstore import ObjectStore, StoredObject

PREFIX = "cas/"


class ArtifactMissingError(NotFoundError):
    code = "artifact_missing"


class ContentStore:
    """Not meant to be subclassed: identity, dedup and integrity live here, bytes live below."""

    def __init__(self, objects: ObjectStore) -> None:
        self.objects = objects

    @staticmethod
    def key(digest: str) -> str:
        if not is_digest(digest):
            raise InvalidInputError(f"{digest!r} is not a sha256 digest")
        return f"cas/{digest[:2]}/{digest[2:]}"

    def put(self, data: bytes) -> str:
        """Store ``data`` once; returns its digest."""
        digest = sha256_bytes(data)
        key = self.key(digest)
        if not self.objects.refresh(key):
            self.objects.put(key, data)
        return digest

    def intact(self, digest: str) -> bool:
        """Whether the blob exists and still hashes to ``digest``."""
        try:
            self.get(digest)
        except (ArtifactMissingError, CorruptArtifactError):
            return False
        return True

    def repair(self, data: bytes) -> bool:
        """Store ``data`` like ``put``, but also rewrite a stored copy that is missing or corrupt.

        The only way a blob is ever rewritten: with bytes that hash to its key. Returns whether
        anything was written (False when the stored copy was already intact).
        """
        digest = sha256_bytes(data)
        key = self.key(digest)
        if self.intact(digest):
            if not self.objects.refresh(key):  # a store that cannot touch: write to refresh
                self.objects.put(key, data)
            return False
        self.objects.put(key, data)
        return True

    def put_file(self, path: Path) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        key = self.key(digest)
        if not self.objects.refresh(key):
            self.objects.put_file(key, path)
        return digest

    def exists(self, digest: str) -> bool:
        return self.objects.exists(self.key(digest))

    def touch(self, digest: str) -> bool:
        """Whether the blob exists; one that does is refreshed where the store can (reusing a
        stored blob, e.g. on a cache hit, counts as writing it for garbage collection)."""
        key = self.key(digest)
        return self.objects.refresh(key) or self.objects.exists(key)

    def get(self, digest: str) -> bytes:
        """The blob's bytes, after checking they still hash to ``digest``."""
        try:
            data = self.objects.get(self.key(digest))
        except NotFoundError as exc:
            raise ArtifactMissingError(
                f"artifact {digest[:12]} is missing from the artifact store",
                hint="it was deleted or never written; re-run the step that produced it",
            ) from exc
        actual = sha256_bytes(data)
        if actual != digest:
            raise CorruptArtifactError(
                f"artifact {digest[:12]} is corrupt (its content hashes to {actual[:12]})",
                hint="delete the blob and re-run the step that produced it",
            )
        return data

    def delete(self, digest: str) -> None:
        self.objects.delete(self.key(digest))

    def blobs(self) -> Iterator[tuple[str, StoredObject]]:
        """Every stored blob as ``(digest, object)``; objects that are not blobs are skipped."""
        for obj in self.objects.list(PREFIX):
            folder, _, rest = obj.key[len(PREFIX) :].partition("/")
            digest = folder + rest
            if len(folder) == 2 and is_digest(digest):
                yield digest, obj

    def delete_if_unmodified(self, digest: str, cutoff: datetime) -> bool:
        """Delete the blob unless it was (re)written at or after ``cutoff``; True if deleted."""
        return self.objects.delete_if_unmodified(self.key(digest), cutoff)
