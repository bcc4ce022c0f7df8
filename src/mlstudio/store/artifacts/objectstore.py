"""A tiny byte-level object store over any fsspec URL (local folder, s3://, gs://, memory://)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from mlstudio.errors import NotFoundError, StoreUnavailableError


class ObjectStore(Protocol):
    url: str

    def exists(self, key: str) -> bool: ...
    def get(self, key: str) -> bytes: ...
    def put(self, key: str, data: bytes) -> None: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def delete(self, key: str) -> None: ...
    def local_path(self, key: str) -> Path | None: ...


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


class FsspecObjectStore:
    """Any fsspec filesystem; used for remote URLs (s3://, gs://, memory://, …)."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        try:
            self.fs, self.base = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise StoreUnavailableError(
                f"cannot open artifact store {url!r}: {exc}",
                hint="install the fsspec driver for this URL (e.g. s3fs) or fix MLSTUDIO_ARTIFACT_URL",
            ) from exc

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def get(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(key))
        except FileNotFoundError as exc:
            raise NotFoundError(f"artifact object {key} is missing from {self.url}") from exc

    def put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def put_file(self, key: str, path: Path) -> None:
        self.fs.put_file(str(path), self._path(key))

    def delete(self, key: str) -> None:
        if self.fs.exists(self._path(key)):
            self.fs.rm_file(self._path(key))

    def local_path(self, key: str) -> Path | None:
        return None


def open_object_store(url: str) -> ObjectStore:
    if "://" not in url or url.startswith("file://"):
        return LocalObjectStore(url.removeprefix("file://"))
    return FsspecObjectStore(url)
