"""Multipart ETags: which part sizes could have produced an ``"<md5>-<parts>"`` ETag.

An S3 multipart ETag is the MD5 of the part MD5s, so recognising one needs the part
size the uploader used: ours first, then the whole-MiB sizes that give the same part
count (objects uploaded by other tools), common ones first.
"""

from __future__ import annotations

import math

from ..fingerprints import Payload, s3_etag

__all__ = ["multipart_matches", "part_size_candidates"]

_MIB = 1024 * 1024
_COMMON_PART_SIZES = (8, 5, 16, 15, 10, 64, 100, 32, 50, 25)


def multipart_matches(etag: str, payload: Payload, ours: int) -> bool:
    """Whether ``payload`` uploaded in parts of one of the likely sizes gives ``etag``
    (a few full reads of a large file beat re-uploading it)."""
    parts = int(etag.rsplit("-", 1)[1])
    return any(
        s3_etag(payload, 0, size) == etag
        for size in part_size_candidates(payload.size, parts, ours)
    )


def part_size_candidates(size: int, parts: int, ours: int) -> list[int]:
    """Part sizes (bytes) that split ``size`` into exactly ``parts`` parts."""

    def fits(part: int) -> bool:
        return part > 0 and math.ceil(size / part) == parts

    sizes = [ours] if fits(ours) else []
    low = math.ceil(size / parts / _MIB)
    high = math.ceil(size / (parts - 1) / _MIB) if parts > 1 else low
    whole = [m for m in range(low, high + 1) if fits(m * _MIB)]
    whole.sort(key=lambda m: (_COMMON_PART_SIZES.index(m) if m in _COMMON_PART_SIZES else 99, m))
    sizes.extend(m * _MIB for m in whole if m * _MIB != ours)
    return sizes[:6]
