"""Local content fingerprints, computed the way each object store computes its own.

The content skip compares these with what a listing reports, so they must be computed
over the exact bytes the backend uploads (after gzip, if django-storages would gzip) and
in the exact form the server reports: an S3 ETag is the MD5 of a single-part upload but
the MD5 of the part MD5s for a multipart one, GCS reports base64 MD5 or CRC32C, Azure a
base64 Content-MD5. A fingerprint that cannot be trusted is ``None``: never skip then.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from functools import cached_property
from typing import IO, Any

from django.core.files.base import File

__all__ = ["Payload", "b64", "s3_etag"]

_READ_SIZE = 1024 * 1024


class Payload:
    """The bytes one upload sends: held in memory, or read from a local file by path.

    Files on the local disk (the finders' sources, the staging area) stay on disk, so a
    200 MiB file is streamed and hashed in chunks, never loaded whole.
    """

    def __init__(self, data: bytes | None = None, path: str | None = None) -> None:
        if (data is None) == (path is None):
            raise ValueError("Payload takes either data or path.")
        self.data = data
        self.path = path
        self.size = len(data) if data is not None else os.path.getsize(path)  # type: ignore[arg-type]

    @classmethod
    def from_content(cls, content: Any) -> Payload:
        """Wrap what ``Storage._save()`` receives, without copying local files."""
        path = local_path(content)
        if path is not None:
            return cls(path=path)
        if hasattr(content, "seek") and getattr(content, "seekable", lambda: True)():
            content.seek(0)
        data = content.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return cls(data=bytes(data))

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        with self.open() as fh:
            return fh.read()

    def chunks(self, size: int = _READ_SIZE) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)
            for start in range(0, len(view), size):
                yield bytes(view[start : start + size])
            return
        with self.open() as fh:
            while chunk := fh.read(size):
                yield chunk

    @cached_property
    def md5(self) -> bytes:
        hasher = hashlib.md5(usedforsecurity=False)
        for chunk in self.chunks():
            hasher.update(chunk)
        return hasher.digest()

    @property
    def known_md5(self) -> bytes | None:
        """:attr:`md5` if it was computed already, else ``None`` (never reads)."""
        return self.__dict__.get("md5")  # type: ignore[no-any-return]

    @cached_property
    def crc32c(self) -> bytes:
        import google_crc32c  # shipped with google-cloud-storage

        checksum: Any = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
        for chunk in self.chunks():
            checksum.update(chunk)
        return bytes(checksum.digest())

    def part_md5s(self, part_size: int) -> list[bytes]:
        """MD5 digests of consecutive ``part_size`` chunks (S3 multipart uploads)."""
        digests = []
        with self.open() as fh:
            while part := fh.read(part_size):
                digests.append(hashlib.md5(part, usedforsecurity=False).digest())
        return digests


def local_path(content: Any) -> str | None:
    """The local file behind ``content``, if it is a plain file opened from disk."""
    if hasattr(content, "temporary_file_path"):
        return str(content.temporary_file_path())
    raw = content.file if isinstance(content, File) else content
    name = getattr(raw, "name", None) if isinstance(raw, io.BufferedReader) else None
    if isinstance(name, str) and os.path.isabs(name) and os.path.isfile(name):
        return name
    return None


def b64(digest: bytes) -> str:
    """Base64, the form GCS and Azure report digests in."""
    return base64.b64encode(digest).decode("ascii")


def s3_etag(payload: Payload, multipart_threshold: int, part_size: int) -> str:
    """The ETag S3 gives ``payload`` when boto3 uploads it with these transfer sizes."""
    if payload.size < multipart_threshold:
        return payload.md5.hex()
    parts = payload.part_md5s(part_size)
    combined = hashlib.md5(b"".join(parts), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(parts)}"
