"""One listing of a prefix: a few pages in order, then top-level folders side by side.

Pages are parsed without botocore's per-object modeled parse (``s3_listing``). A big
prefix is not walked page after page: after ``sequential_pages`` pages the rest is
listed one top-level folder per thread, in key order.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..contract import RemoteObject
from . import s3_listing

__all__ = ["walk"]


def walk(
    client: Any, bucket: str, prefix: str, page_size: int, sequential_pages: int, workers: int
) -> Iterator[RemoteObject]:
    """Every object under ``prefix``, streamed in key order."""
    paging = {"PageSize": page_size}
    last_key = None
    pages = s3_listing.paginate(client, Bucket=bucket, Prefix=prefix, PaginationConfig=paging)
    for number, page in enumerate(pages, start=1):
        for obj in s3_listing.objects(page):
            last_key = obj.key
            yield obj
        if number == sequential_pages and page.get("IsTruncated") and last_key:
            yield from _rest(client, bucket, prefix, last_key, paging, workers)
            return


def _rest(
    client: Any, bucket: str, prefix: str, after: str, paging: dict[str, int], workers: int
) -> Iterator[RemoteObject]:
    """Every object after ``after``, listing top-level folders in parallel."""
    folders: list[str] = []
    listing = s3_listing.paginate(
        client, Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig=paging
    )
    for page in listing:
        yield from (obj for obj in s3_listing.objects(page) if obj.key > after)
        for common in page.get("CommonPrefixes", ()):
            folder = common["Prefix"]
            # Keys sort lexicographically: earlier folders were listed already.
            if after.startswith(folder) or folder > after:
                folders.append(folder)

    def list_folder(folder: str) -> list[RemoteObject]:
        start = {"StartAfter": after} if after.startswith(folder) else {}
        pages = s3_listing.paginate(
            client, Bucket=bucket, Prefix=folder, PaginationConfig=paging, **start
        )
        return [obj for page in pages for obj in s3_listing.objects(page)]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for objects in pool.map(list_folder, folders):
            yield from objects
