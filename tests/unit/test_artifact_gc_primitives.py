"""The artifact store's clean-up primitives, on a local folder and on an fsspec store
(``memory://``, the same code path as s3:// or gs://): listing with size and age, refreshing an
object a write finds already stored, deleting only what was not written since a cutoff."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlstudio.core.hashing import sha256_bytes
from mlstudio.store.artifacts.cas import ContentStore
from mlstudio.store.artifacts.objectstore import FsspecObjectStore, LocalObjectStore


@pytest.fixture(params=["local", "fsspec"])
def cas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContentStore]:
    if request.param == "local":
        yield ContentStore(LocalObjectStore(tmp_path / "artifacts"))
    else:
        url = f"memory://gc-{secrets.token_hex(4)}"
        objects = FsspecObjectStore(url)
        yield ContentStore(objects)
        objects.fs.rm(objects.base, recursive=True)


def _age(cas: ContentStore, digest: str, hours: float) -> None:
    """Make a blob look written ``hours`` ago (the store's own notion of modified time)."""
    objects = cas.objects
    when = time.time() - hours * 3600
    if isinstance(objects, LocalObjectStore):
        os.utime(objects.root / cas.key(digest), (when, when))
    else:  # memory:// keeps a creation time per file
        objects.fs.store[objects._path(cas.key(digest))].created = datetime.fromtimestamp(when, UTC)


def _modified(cas: ContentStore, digest: str) -> datetime:
    return dict(cas.blobs())[digest].modified


def test_blobs_lists_every_blob_with_its_size_and_skips_other_objects(cas):
    one, two = cas.put(b"one"), cas.put(b"second blob")
    cas.objects.put("cas/zz/not-a-digest", b"x")
    cas.objects.put("other/" + "a" * 64, b"x")
    listed = dict(cas.blobs())
    assert set(listed) == {one, two}
    assert (listed[one].size, listed[two].size) == (3, 11)
    now = datetime.now(UTC)
    assert all(
        now - timedelta(minutes=5) < o.modified <= now + timedelta(seconds=5)
        for o in listed.values()
    )


def test_a_write_that_finds_its_blob_refreshes_it(cas):
    digest = cas.put(b"shared content")
    _age(cas, digest, 3)
    assert datetime.now(UTC) - _modified(cas, digest) > timedelta(hours=2)
    assert cas.put(b"shared content") == digest  # deduplicated, but counted as written now
    assert datetime.now(UTC) - _modified(cas, digest) < timedelta(minutes=5)
    _age(cas, digest, 3)
    assert cas.repair(b"shared content") is False  # intact: not rewritten, but refreshed
    assert datetime.now(UTC) - _modified(cas, digest) < timedelta(minutes=5)
    _age(cas, digest, 3)
    assert cas.touch(digest)  # a cache hit: the blob is there
    if isinstance(cas.objects, LocalObjectStore):  # and refreshed where the store can touch
        assert datetime.now(UTC) - _modified(cas, digest) < timedelta(minutes=5)
    assert not cas.touch(sha256_bytes(b"never stored"))


def test_delete_if_unmodified_spares_what_was_written_since_the_cutoff(cas):
    old, new = cas.put(b"old"), cas.put(b"new")
    _age(cas, old, 2)
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    assert cas.delete_if_unmodified(new, cutoff) is False and cas.exists(new)
    assert cas.delete_if_unmodified(old, cutoff) is True and not cas.exists(old)
    assert cas.delete_if_unmodified(old, cutoff) is False  # already gone


def test_a_blob_refreshed_after_gc_looked_at_it_is_not_deleted(cas):
    """gc listed the blob as old; a push re-used it before the deletion: it stays."""
    digest = cas.put(b"re-used by a push")
    _age(cas, digest, 2)
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    assert dict(cas.blobs())[digest].modified < cutoff  # what gc saw
    cas.put(b"re-used by a push")  # the concurrent push
    assert cas.delete_if_unmodified(digest, cutoff) is False
    assert cas.get(digest) == b"re-used by a push"


def test_local_deletion_leaves_no_file_aside(tmp_path):
    cas = ContentStore(LocalObjectStore(tmp_path))
    digest = cas.put(b"x")
    _age(cas, digest, 2)
    assert cas.delete_if_unmodified(digest, datetime.now(UTC))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
