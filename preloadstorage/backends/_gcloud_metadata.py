"""Object metadata as the GCS JSON API shows and sets it.

The blob properties a listing shows (and the ``fields`` that ask for them), a blob as a
:class:`RemoteObject`, and the one objects.patch that makes an object's metadata what
the settings say.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from google.api_core.retry import Retry

from ..contract import RemoteObject, Upload
from ..fingerprints import Payload, b64
from ._gcloud_sdk import PatchBlob

__all__ = ["LIST_FIELDS", "VISIBLE", "patch_metadata", "remote_object", "visible"]

#: Blob properties a listing shows, and their JSON API field names.
VISIBLE = {
    "content_type": "contentType",
    "cache_control": "cacheControl",
    "content_disposition": "contentDisposition",
    "content_encoding": "contentEncoding",
    "content_language": "contentLanguage",
    "metadata": "metadata",
}
#: objects.list's ``fields``: only what :func:`remote_object` reads, and the next page's token.
LIST_FIELDS = f"items(name,size,updated,md5Hash,crc32c,{','.join(VISIBLE.values())}),nextPageToken"


def visible(content_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """What a listing shows of an object written with these parameters."""
    wanted = {field: _clean(properties.get(prop)) for prop, field in VISIBLE.items()}
    wanted["contentType"] = content_type
    if wanted["metadata"]:  # GCS stores user metadata values as strings
        wanted["metadata"] = {k: str(v) for k, v in wanted["metadata"].items()}
    return wanted


def _clean(value: Any) -> Any:
    return value or None  # "", {} and a missing field are the same "unset"


def remote_object(
    blob: Any, shared: dict[str, dict[str, Any]] | None = None, fallback: Payload | None = None
) -> RemoteObject:
    """``blob`` as a :class:`RemoteObject`; ``shared`` keeps one dict per distinct
    metadata set, ``fallback`` stands in for what an upload's answer leaves out."""
    # Composite objects have no md5Hash: their crc32c is the fingerprint then.
    fingerprint = f"md5:{blob.md5_hash}" if blob.md5_hash else None
    if blob.crc32c and not fingerprint:
        fingerprint = f"crc32c:{blob.crc32c}"
    if fallback is not None and not fingerprint:
        fingerprint = f"md5:{b64(fallback.md5)}"
    metadata = {field: _clean(getattr(blob, prop)) for prop, field in VISIBLE.items()}
    if shared is not None:  # one dict per distinct metadata set, not per object
        metadata = shared.setdefault(json.dumps(metadata, sort_keys=True), metadata)
    updated = blob.updated or datetime.now(timezone.utc)
    size = int(blob.size if blob.size is not None else fallback.size if fallback else 0)
    return RemoteObject(blob.name, size, updated, fingerprint, metadata)


def patch_metadata(
    bucket: Any, current: RemoteObject, upload: Upload, retry: Retry
) -> RemoteObject:
    """One objects.patch: every visible field (``null`` clears one the settings no
    longer give), the other properties, and the predefined ACL as a parameter."""
    params = upload.params
    blob = PatchBlob(upload.key, bucket)
    blob.predefined_acl = params["predefined_acl"]
    for prop in VISIBLE:
        setattr(blob, prop, None)
    for prop, value in params["properties"].items():
        setattr(blob, prop, value)
    blob.content_type = params["content_type"]
    # User metadata merges: the old keys go (null), the new ones are set.
    known = (current.metadata or {}).get("metadata") or {}
    wanted = params["properties"].get("metadata") or {}
    blob.metadata = {**dict.fromkeys(known), **wanted} if wanted else None
    blob.patch(retry=retry)
    return remote_object(blob, fallback=upload.payload)
