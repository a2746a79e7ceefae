"""What the GCS adapter takes from its SDKs beyond their public API.

django-storages, google-cloud-storage and google-cloud-core publish none of the names
in the commented block below; each one is pinned by a test in tests/test_gcloud.py
("test_private_sdk_*") that fails loudly when a release moves it. :data:`CLIENT_ERRORS`
(public names only) is here because every module that calls the client catches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions
from google.cloud.storage.blob import Blob
from google.cloud.storage.retry import DEFAULT_RETRY

__all__ = [
    "CLIENT_ERRORS",
    "TRACING",
    "PatchBlob",
    "api_endpoint",
    "batch_responses",
    "compress",
    "session",
    "should_retry",
    "skip_bucket_metadata_get",
]

#: What a failed call through the client raises (API answers, credentials, transport).
CLIENT_ERRORS = (
    api_exceptions.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    requests.RequestException,
)


# -- private SDK attributes ----------------------------------------------------------------
# Everything the GCS modules read or override that their SDKs do not publish.

#: google-cloud-storage's own "is this error transient?" (DEFAULT_RETRY's predicate).
should_retry: Callable[[Exception], bool] = DEFAULT_RETRY._predicate

try:  # google-cloud-storage >= 2.18; older clients have no tracing and no bucket GET
    from google.cloud.storage._opentelemetry_tracing import enable_otel_traces
except ImportError:  # pragma: no cover
    enable_otel_traces = False
TRACING = bool(enable_otel_traces)


def session(client: Any) -> requests.Session:
    """The client's HTTP session (google-cloud-core has no public accessor)."""
    return client._http  # type: ignore[no-any-return]


def api_endpoint(client: Any) -> str:
    """``client.api_endpoint`` (public since 2.1x); before: the connection's base URL."""
    endpoint = getattr(client, "api_endpoint", None) or client._connection.API_BASE_URL
    return str(endpoint)


def compress(storage: Any, raw: Any) -> Any:
    """``GoogleCloudStorage._save()``'s gzip compressor (mtime=0: same bytes, same md5Hash)."""
    return storage._compress_content(raw)


def batch_responses(batch: Any) -> list[Any]:
    """The per-call responses of a finished batch (``with batch:`` drops ``finish()``'s)."""
    return list(batch._responses)


def skip_bucket_metadata_get(client: Any) -> None:
    """google-cloud-storage >= 3.17 fetches each bucket's metadata in a background
    thread, for trace attributes only: one buckets.get per process for nothing when
    tracing is off (DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA=true does too)."""
    if not TRACING and hasattr(client, "_bucket_metadata_cache"):
        client._bucket_metadata_cache = None


class PatchBlob(Blob):  # type: ignore[misc]
    """A blob whose public ``patch()`` also applies a predefined ACL: ``predefinedAcl``
    is a query parameter of the same objects.patch (no public ``patch()`` argument)."""

    predefined_acl: str | None = None

    @property
    def _query_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super()._query_params
        if self.predefined_acl:
            params["predefinedAcl"] = self.predefined_acl
        return params
