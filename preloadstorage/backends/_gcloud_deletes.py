"""Batch deletes: up to 100 objects.delete calls per request, and what became of each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from google.api_core import exceptions as api_exceptions

from ..contract import RETRY_ALONE
from ._gcloud_sdk import CLIENT_ERRORS, batch_responses

__all__ = ["delete_batch"]

_RETRY_CODES = {408, 429, 500, 502, 503, 504}
_NO_BATCH_CODES = {400, 404, 405, 501}


def delete_batch(
    storage: Any, keys: Sequence[str], endpoint: str
) -> Mapping[str, BaseException | None] | None:
    """Per key: ``None`` (gone), :data:`RETRY_ALONE` or the error; ``None`` in all when
    the server at ``endpoint`` has no batch API (see ``PreloadAdapter.delete_batch``)."""
    # Emulators (fake-gcs-server) have no batch endpoint: don't waste a request.
    if not (urlsplit(endpoint).hostname or "").endswith(".googleapis.com"):
        return None
    batch = storage.client.batch(raise_exception=False)
    try:
        with batch:
            for key in keys:
                storage.bucket.delete_blob(key)
    except (*CLIENT_ERRORS, ValueError) as exc:
        # An error status, or a 200 that is not multipart: no batch API there.
        if isinstance(exc, ValueError) or getattr(exc, "code", 0) in _NO_BATCH_CODES:
            return None
        raise
    outcome: dict[str, BaseException | None] = {}
    for key, response in zip(keys, batch_responses(batch), strict=True):
        status = response.status_code
        if 200 <= status < 300 or status == 404:
            outcome[key] = None
        elif status in _RETRY_CODES:
            outcome[key] = RETRY_ALONE  # transient: the single delete retries
        else:
            outcome[key] = api_exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
    return outcome
