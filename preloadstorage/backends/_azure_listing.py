"""Azure List Blobs pages parsed from their raw XML, without the SDK's per-blob models.

``ContainerClient.list_blobs()`` deserializes every listed blob into generated models
and then into ``BlobProperties``: about 0.4 ms of CPU per blob, ~2 s for a 5,000-blob
prefix, on every run. The listing here still goes through the SDK (its credentials,
retry policy, API version, errors and request counting): a per-call
``raw_response_hook`` takes each successful page's body before the SDK deserializes it,
and the page is parsed with ElementTree into exactly what the SDK would have given
(``RemoteObject`` values equal field by field: ``tests/test_azure_storage.py``).
Responses other than 200 are left to the SDK, which raises its usual errors.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_tz
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

__all__ = ["SETTINGS_TAGS", "blobs", "from_sdk"]

#: ``ContentSettings`` fields the engine compares, and the ``Properties`` child of each.
SETTINGS_TAGS = {
    "content_type": "Content-Type",
    "content_encoding": "Content-Encoding",
    "content_language": "Content-Language",
    "content_disposition": "Content-Disposition",
    "cache_control": "Cache-Control",
}


class _Page(Exception):
    """Carries a page's raw body out of the SDK's pipeline (never seen by callers)."""

    def __init__(self, body: bytes) -> None:
        super().__init__("a listed page")
        self.body = body


def _taking(chained: Callable[[Any], None] | None) -> Callable[[Any], None]:
    def hook(response: Any) -> None:
        if chained is not None:
            chained(response)  # the user's own client-level hook still sees it
        http = response.http_response
        if http.status_code == 200:
            raise _Page(http.body())

    return hook


def blobs(
    client: Any,
    prefix: str | None,
    page_size: int,
    timeout: int | None,
    chained: Callable[[Any], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every blob under ``prefix``: ``name``, ``size``, ``last_modified``, ``md5``,
    the content settings and ``metadata``, as ``BlobProperties`` would hold them."""
    marker: str | None = None
    hook = _taking(chained)
    while True:
        pages = client.list_blobs(
            name_starts_with=prefix,
            include=["metadata"],
            results_per_page=page_size,
            timeout=timeout,
            raw_response_hook=hook,
        ).by_page(continuation_token=marker)
        try:
            page = next(pages, None)
        except _Page as raw:
            root = ElementTree.fromstring(raw.body)
        else:  # the hook was not called (an SDK that no longer supports it): its items
            yield from (from_sdk(blob) for blob in page or ())
            yield from (from_sdk(blob) for page in pages for blob in page)
            return
        yield from map(_blob, root.iterfind("Blobs/Blob"))
        marker = root.findtext("NextMarker") or None
        if marker is None:
            return


def _blob(element: ElementTree.Element) -> dict[str, Any]:
    name = element.find("Name")
    text = (name.text or "") if name is not None else ""
    if name is not None and name.get("Encoded", "").lower() == "true":
        text = unquote(text)
    props = element.find("Properties")

    def prop(tag: str) -> str | None:
        found = props.find(tag) if props is not None else None
        return found.text if found is not None else None

    metadata = element.find("Metadata")
    blob: dict[str, Any] = {field: prop(tag) or None for field, tag in SETTINGS_TAGS.items()}
    blob.update(
        name=text,
        size=int(prop("Content-Length") or 0),
        last_modified=_rfc1123(prop("Last-Modified")),
        md5=_base64(prop("Content-MD5")),
        metadata={child.tag: child.text for child in metadata} if metadata is not None else {},
    )
    return blob


def from_sdk(blob: Any) -> dict[str, Any]:
    """The same fields from the SDK's ``BlobProperties`` (``get_blob_properties()``)."""
    settings = blob.content_settings
    found = {field: getattr(settings, field, None) for field in SETTINGS_TAGS}
    md5 = settings.content_md5 if settings else None
    found.update(
        name=blob.name,
        size=int(blob.size or 0),
        last_modified=blob.last_modified,
        md5=bytes(md5) if md5 else None,
        metadata=dict(blob.metadata or {}),
    )
    return found


def _rfc1123(text: str | None) -> datetime | None:
    """The SDK's ``rfc-1123`` deserialization: the offset the header gives (GMT: UTC)."""
    parsed = parsedate_tz(text) if text else None
    if parsed is None:
        return None
    offset = timedelta(seconds=parsed[9] or 0)
    return datetime(*parsed[:6], tzinfo=timezone(offset) if offset else timezone.utc)


def _base64(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True) or None
    except (binascii.Error, ValueError):
        return None
