"""Local fingerprints must equal what the servers compute."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from django.core.files.base import ContentFile, File

from preloadstorage.fingerprints import Payload, b64, local_path, s3_etag


def test_payload_from_disk_is_not_read_into_memory(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc" * 1000)
    with open(path, "rb") as fh:
        payload = Payload.from_content(File(fh))
    assert payload.path == str(path) and payload.data is None
    assert payload.size == 3000
    assert payload.md5 == hashlib.md5(b"abc" * 1000).digest()


def test_payload_from_memory() -> None:
    payload = Payload.from_content(ContentFile(b"hello"))
    assert payload.data == b"hello" and payload.read() == b"hello"
    assert Payload.from_content(ContentFile("héllo")).read() == "héllo".encode()
    assert local_path(io.BytesIO(b"x")) is None


def test_s3_etag_single_and_multipart() -> None:
    data = bytes(range(256)) * 40000  # 10 MB
    payload = Payload(data=data)
    assert s3_etag(payload, 8 * 2**20, 8 * 2**20) == (
        hashlib.md5(
            hashlib.md5(data[: 8 * 2**20]).digest() + hashlib.md5(data[8 * 2**20 :]).digest()
        ).hexdigest()
        + "-2"
    )
    assert s3_etag(payload, len(data) + 1, 8 * 2**20) == hashlib.md5(data).hexdigest()


def test_b64_and_crc32c() -> None:
    payload = Payload(data=b"hello world")
    assert b64(payload.md5) == "XrY7u+Ae7tCTyyK7j1rNww=="
    # crc32c("hello world") as GCS reports it
    assert b64(payload.crc32c) == "yZRlqg=="
