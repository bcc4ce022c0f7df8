"""Request bodies that are files: read while streaming, never past the size limit.

A body is either the raw bytes (``Content-Type: application/gzip``, ``text/csv``, …) or a
``multipart/form-data`` form whose first file part is the upload. The limit is checked against
``Content-Length`` before reading and again on every chunk, so a large body costs at most the
limit in memory.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import PurePath

from fastapi import Request

from mlstudio.errors import ArchiveError, InvalidInputError, PayloadTooLargeError

MiB = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 100 * MiB


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"upload is larger than the server's limit of {_size(limit)}",
        hint="make it smaller, or ask the operator to raise mlstudio server --max-upload-mb",
    )


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB" if n >= MiB else f"{n} bytes"


async def read_upload(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The uploaded bytes and the client's file name (multipart only), or 413 past ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    content_type = request.headers.get("content-type", "")
    filename = None
    if content_type.lower().startswith("multipart/form-data"):
        body, filename = _first_file_part(body, content_type)
    if not body:
        raise InvalidInputError(
            "the upload is empty", hint="send the file as the request body (or a multipart form)"
        )
    return body, filename


def _first_file_part(body: bytes, content_type: str) -> tuple[bytes, str | None]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise InvalidInputError("multipart upload without a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        headers = head.decode("latin-1")
        disposition = re.search(r"content-disposition:[^\r\n]*", headers, re.IGNORECASE)
        if not disposition or "filename" not in disposition.group(0):
            continue  # a plain form field
        name = re.search(r'filename="([^"]*)"', disposition.group(0))
        if content.endswith(b"\r\n"):
            content = content[:-2]
        return content, name.group(1) if name else None
    raise InvalidInputError(
        "multipart upload has no file part", hint="send the file as a form field with a filename"
    )


def safe_filename(name: str | None, default: str) -> str:
    """The base name of a client-supplied file name (no folders), or ``default``; a name with
    NUL or another control character is refused."""
    from mlstudio.core.ids import control_character

    bad = control_character(name or "")
    if bad is not None:
        raise InvalidInputError(
            f"invalid file name {name!r}: it contains the control character {bad!r}",
            hint="send a plain file name, e.g. customers.csv",
        )
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return base if base and base not in (".", "..") else default


def check_expanded_size(archive: bytes, limit: int) -> None:
    """Refuse a tar.gz whose members add up to more than ``limit`` (a decompression bomb).

    Reading the headers decompresses the stream without keeping it, so this costs CPU only.
    """
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar:
                total += max(member.size, 0)
                if total > limit:
                    raise PayloadTooLargeError(
                        f"the archive expands to more than {_size(limit)}",
                        hint="keep data out of modules (use `mlstudio data import`)",
                    )
    except (tarfile.TarError, OSError, EOFError) as exc:
        reason = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        raise ArchiveError(
            f"archive is not a readable tar.gz: {reason}", hint="rebuild it"
        ) from exc
