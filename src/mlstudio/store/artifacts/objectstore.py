"""A tiny byte-level object store over any fsspec URL (local folder, s3://, gs://, memory://).

Besides reading and writing, a store lists its objects with their size and last-modified time,
*refreshes* an object (marks it as just written: the content store does so when a write finds
the object already there) and deletes an object only if it was not modified since a cutoff.
Those three are what garbage collection needs to be safe against concurrent writers (see
:mod:`mlstudio.maintenance.gc`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from mlstudio.errors import (
    ConfigurationError,
    MlstudioError,
    NotFoundError,
    StoreUnavailableError,
)

REFRESH_AFTER = timedelta(minutes=5)
"""An object store without a cheap "touch" rewrites an object found again only when its
last-modified time is older than this (far below any garbage-collection grace period)."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime  # UTC


class ObjectStore(Protocol):
    url: str

    def exists(self, key: str) -> bool: ...
    def get(self, key: str) -> bytes: ...
    def put(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def delete(self, key: str) -> None: ...
    def local_path(self, key: str) -> Path | None: ...
    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix`` (a folder, e.g. ``cas/``)."""
        ...

    def refresh(self, key: str) -> bool:
        """Mark an existing object as just written; False when it does not exist (or cannot
        be refreshed in place: then the caller writes it again)."""
        ...

    def delete_if_unmodified(self, key: str, cutoff: datetime) -> bool:
        """Delete the object only if it was last modified before ``cutoff``; True if deleted."""
        ...


class LocalObjectStore:
    """Objects are files under ``root``; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.url = self.root.as_posix()

    def _path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact object {key} is missing from {self.url}") from exc

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path) -> None:
        import shutil

        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        base = self._path(prefix)
        if not base.is_dir():
            return
        for folder, _dirs, files in os.walk(base):
            for name in files:
                if name.startswith((".tmp-", ".gc-")):
                    continue  # a write or a deletion in progress
                path = Path(folder) / name
                try:
                    info = path.stat()
                except FileNotFoundError:
                    continue
                yield StoredObject(
                    path.relative_to(self.root).as_posix(),
                    info.st_size,
                    datetime.fromtimestamp(info.st_mtime, UTC),
                )

    def refresh(self, key: str) -> bool:
        try:
            os.utime(self._path(key))
        except FileNotFoundError:
            return False
        return True

    def delete_if_unmodified(self, key: str, cutoff: datetime) -> bool:
        """Move the file aside first, then look at it: a writer that refreshes it meanwhile
        either touched it before the move (it is put back) or finds it gone (and writes it)."""
        path = self._path(key)
        aside = path.with_name(f".gc-{path.name}")
        try:
            if _mtime(path) >= cutoff:
                return False
            os.replace(path, aside)
        except FileNotFoundError:
            return False
        if _mtime(aside) >= cutoff:  # refreshed between the look and the move
            if not path.exists():
                os.replace(aside, path)
            else:
                aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return True


LISTINGLESS = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "az"})
"""Object stores whose fsspec driver caches listings: the cache is off, since other processes
(workers, servers) write the same store and a stale listing would hide their objects."""
MULTIPART_BYTES = 8 * 1024 * 1024  # larger blobs go up as multipart uploads (S3's part >= 5 MiB)


class FsspecObjectStore:
    """Any fsspec filesystem; used for remote URLs (s3://, gs://, memory://, …).

    Endpoint, credentials and region come from the driver's usual settings (for S3:
    ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or ``AWS_PROFILE``,
    ``AWS_DEFAULT_REGION``; throttled requests are retried by botocore). A driver's failure
    becomes one line naming the store: ``StoreUnavailableError`` when it cannot be reached (a
    caller may retry), ``ConfigurationError`` when it refuses the credentials."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        protocol = self.url.split("://", 1)[0]
        options: dict[str, Any] = {}
        if protocol in LISTINGLESS:
            options = {"use_listings_cache": False, "skip_instance_cache": True}
        try:
            self.fs, self.base = fsspec.core.url_to_fs(self.url, **options)
        except (ImportError, ValueError) as exc:
            raise StoreUnavailableError(
                f"cannot open artifact store {url!r}: {exc}",
                hint="install the fsspec driver for this URL (pip install 'mlstudio[s3]' for "
                "s3://) or fix MLSTUDIO_ARTIFACT_URL",
            ) from exc

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}"

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Translate the driver's errors (FileNotFoundError is the caller's to handle)."""
        try:
            yield
        except (FileNotFoundError, MlstudioError):
            raise
        except PermissionError as exc:
            raise ConfigurationError(
                f"artifact store {self.url} refused to {what}: {_first_line(exc)}",
                hint="check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
                "AWS_PROFILE for s3://) and the bucket's policy",
            ) from exc
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            raise StoreUnavailableError(
                f"artifact store {self.url} is unavailable ({what}): {_first_line(exc)}",
                hint="check the endpoint (AWS_ENDPOINT_URL for s3://), the network and that "
                "the bucket exists; nothing was half-written",
            ) from exc

    def exists(self, key: str) -> bool:
        with self._calling("look up an object"):
            return bool(self.fs.exists(self._path(key)))

    def get(self, key: str) -> bytes:
        try:
            with self._calling("read an object"):
                return self.fs.cat_file(self._path(key))
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact object {key} is missing from {self.url}") from exc

    def put(self, key: str, data: bytes) -> None:
        with self._writing():
            if len(data) > MULTIPART_BYTES and "chunksize" in _parameters(self.fs.pipe_file):
                self.fs.pipe_file(self._path(key), data, chunksize=MULTIPART_BYTES)
            else:
                self.fs.pipe_file(self._path(key), data)

    def put_file(self, key: str, path: Path) -> None:
        with self._writing():
            if "chunksize" in _parameters(self.fs.put_file):
                self.fs.put_file(str(path), self._path(key), chunksize=MULTIPART_BYTES)
            else:
                self.fs.put_file(str(path), self._path(key))

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that finds no bucket (or container) to write into is a configuration error."""
        try:
            with self._calling("write an object"):
                yield
        except FileNotFoundError as exc:
            raise ConfigurationError(
                f"artifact store {self.url} cannot be written: {_first_line(exc)}",
                hint="create the bucket, or fix MLSTUDIO_ARTIFACT_URL",
            ) from exc

    def delete(self, key: str) -> None:
        with self._calling("delete an object"):
            if self.fs.exists(self._path(key)):
                self.fs.rm_file(self._path(key))

    def local_path(self, key: str) -> Path | None:
        return None

    def list(self, prefix: str) -> Iterator[StoredObject]:
        base = self._path(prefix).rstrip("/")
        try:
            with self._calling("list objects"):
                found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        root = self.base.rstrip("/").lstrip("/") + "/"
        for path, info in sorted(found.items()):
            if info.get("type", "file") != "file":
                continue
            relative = path.lstrip("/")
            if not relative.startswith(root):
                continue
            key = relative[len(root) :]
            yield StoredObject(key, int(info.get("size") or 0), self._modified(path, info))

    def refresh(self, key: str) -> bool:
        path = self._path(key)
        try:
            with self._calling("look up an object"):
                info = self.fs.info(path)
        except FileNotFoundError:
            return False
        if _utcnow() - self._modified(path, info) < REFRESH_AFTER:
            return True
        try:
            self.fs.touch(path, truncate=False)
        except (NotImplementedError, ValueError, TypeError, OSError):
            return False  # no in-place touch (object stores): the caller writes it again
        return True

    def delete_if_unmodified(self, key: str, cutoff: datetime) -> bool:
        path = self._path(key)
        try:
            with self._calling("delete an object"):
                if self._modified(path, self.fs.info(path)) >= cutoff:
                    return False
                self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    def _modified(self, path: str, info: dict[str, Any]) -> datetime:
        """An object's last-modified time from its listing (each backend names it its own way),
        else from ``fs.modified``; unknown counts as now (so it is never deleted)."""
        for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
            value = info.get(key)
            when = _as_datetime(value)
            if when is not None:
                return when
        try:
            return _as_datetime(self.fs.modified(path)) or _utcnow()
        except (NotImplementedError, FileNotFoundError, OSError):
            return _utcnow()


def _is_driver_error(exc: BaseException) -> bool:
    """An error of the storage driver or its transport (botocore, aiohttp, google, azure), or an
    OS-level connection failure: the store could not be used, the request was not at fault."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    module = type(exc).__module__.split(".", 1)[0]
    return module in {"botocore", "aiobotocore", "aiohttp", "google", "azure", "s3fs", "gcsfs"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _parameters(fn: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            return _as_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def open_object_store(url: str) -> ObjectStore:
    if "://" not in url or url.startswith("file://"):
        return LocalObjectStore(url.removeprefix("file://"))
    return FsspecObjectStore(url)
