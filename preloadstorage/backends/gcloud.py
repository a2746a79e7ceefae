"""Preloading storages over django-storages' ``GoogleCloudStorage``.

Every django-storages option keeps working (``GS_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import mimetypes
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.cloud.storage.blob import Blob
from google.cloud.storage.retry import DEFAULT_RETRY
from requests.adapters import HTTPAdapter
from storages.backends.gcloud import GoogleCloudStorage

from ..contract import RETRY_ALONE, MaybeMissing, PreloadAdapter, RemoteObject, Upload
from ..errors import describe
from ..fingerprints import Payload, b64
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from ._gcloud_messages import explain, operation

__all__ = [
    "GoogleCloudAdapter",
    "GoogleCloudPreloadMixin",
    "PreloadingGoogleCloudManifestStorage",
    "PreloadingGoogleCloudStorage",
]

#: Blob properties a listing shows, and their JSON API field names.
_VISIBLE = {
    "content_type": "contentType",
    "cache_control": "cacheControl",
    "content_disposition": "contentDisposition",
    "content_encoding": "contentEncoding",
    "content_language": "contentLanguage",
    "metadata": "metadata",
}
_LIST_FIELDS = (
    f"items(name,size,updated,md5Hash,crc32c,{','.join(_VISIBLE.values())}),nextPageToken"
)
_DEFAULT_TYPE = "application/octet-stream"  # what the client sends without a type
_RETRY_CODES = {408, 429, 500, 502, 503, 504}
_NO_BATCH_CODES = {400, 404, 405, 501}
_CLIENT_ERRORS = (
    api_exceptions.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    requests.RequestException,
)


# -- private SDK attributes ----------------------------------------------------------------
# Everything this module reads or overrides that its SDKs do not publish. Each one is
# pinned by a test in tests/test_gcloud.py ("test_private_sdk_*") that fails loudly when
# a release moves it.

#: google-cloud-storage's own "is this error transient?" (DEFAULT_RETRY's predicate).
_should_retry: Callable[[Exception], bool] = DEFAULT_RETRY._predicate

try:  # google-cloud-storage >= 2.18; older clients have no tracing and no bucket GET
    from google.cloud.storage._opentelemetry_tracing import enable_otel_traces
except ImportError:  # pragma: no cover
    enable_otel_traces = False
_TRACING = bool(enable_otel_traces)


def _session(client: Any) -> requests.Session:
    """The client's HTTP session (google-cloud-core has no public accessor)."""
    return client._http  # type: ignore[no-any-return]


def _api_endpoint(client: Any) -> str:
    """``client.api_endpoint`` (public since 2.1x); before: the connection's base URL."""
    endpoint = getattr(client, "api_endpoint", None) or client._connection.API_BASE_URL
    return str(endpoint)


def _batch_responses(batch: Any) -> list[Any]:
    """The per-call responses of a finished batch (``with batch:`` drops ``finish()``'s)."""
    return list(batch._responses)


def _skip_bucket_metadata_get(client: Any) -> None:
    """google-cloud-storage >= 3.17 fetches each bucket's metadata in a background
    thread, for trace attributes only: one buckets.get per process for nothing when
    tracing is off (DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA=true does too)."""
    if not _TRACING and hasattr(client, "_bucket_metadata_cache"):
        client._bucket_metadata_cache = None


class _PatchBlob(Blob):  # type: ignore[misc]
    """A blob whose public ``patch()`` also applies a predefined ACL: ``predefinedAcl``
    is a query parameter of the same objects.patch (no public ``patch()`` argument)."""

    predefined_acl: str | None = None

    @property
    def _query_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super()._query_params
        if self.predefined_acl:
            params["predefinedAcl"] = self.predefined_acl
        return params


# -- the adapter ---------------------------------------------------------------------------
class GoogleCloudAdapter(PreloadAdapter):
    """objects.list with md5Hash/crc32c, one-request inserts, objects.patch, batch deletes.

    Differences from ``GoogleCloudStorage._save()``: no metadata GET before each upload;
    files up to 8 MiB go out as one multipart ``objects.insert`` even when gzipped (the
    stock backend then uses a two-request resumable upload); an unknown extension gets
    ``application/octet-stream`` rather than the old object's type.
    """

    delete_batch_size = 100  # the JSON API's limit of calls per batch request
    #: Objects per listing page: GCS's maximum and default, said explicitly so that
    #: emulators page the same way.
    page_size = 1000

    def where(self) -> str:
        return f"gs://{self.storage.bucket_name}/{self.prefix()}"

    def retry(self) -> Retry:
        """google-cloud-storage's retry, stopped after ``max_attempts`` attempts.

        api-core retries are bounded by time only; a fresh predicate per call counts
        the failures (for a listing, across all its pages).
        """
        failures = itertools.count(1)
        limit = self.storage.max_attempts
        return DEFAULT_RETRY.with_predicate(  # type: ignore[no-any-return]
            lambda exc: _should_retry(exc) and next(failures) < limit
        )

    # -- reading state ------------------------------------------------------------------
    def list(self) -> Iterator[RemoteObject]:
        shared: dict[str, dict[str, Any]] = {}  # most objects share one metadata set
        try:
            blobs = self.storage.bucket.list_blobs(
                prefix=self.prefix(),
                fields=_LIST_FIELDS,
                page_size=self.page_size,
                retry=self.retry(),
            )
            yield from (_remote(blob, shared) for blob in blobs)
        except _CLIENT_ERRORS as exc:
            raise self.explain(exc, "list") from exc

    def stat(self, key: str) -> RemoteObject | None:
        try:
            blob = self.storage.bucket.get_blob(key, retry=self.retry())
        except api_exceptions.Forbidden:
            return None  # cannot tell: treat as missing, so the file is uploaded
        except _CLIENT_ERRORS as exc:
            raise self.explain(exc, "read") from exc
        return None if blob is None else _remote(blob)

    def read(self, name: str) -> bytes | None:
        blob = self.storage.bucket.blob(self.key(name))
        try:
            # One media GET; requests undoes GCS's gzip transcoding, like the stock file.
            data: bytes = blob.download_as_bytes(retry=self.retry())
        except api_exceptions.NotFound:
            return None
        except api_exceptions.Forbidden as exc:
            # Without storage.objects.list, GCS answers 403 for a missing object.
            raise MaybeMissing(describe(exc)) from exc
        if blob.content_encoding == "gzip" and data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)  # served without transcoding
        return data

    # -- comparing ----------------------------------------------------------------------
    def prepare(self, name: str, content: Any) -> Upload:
        storage = self.storage
        key = self.key(name)
        # Exactly GoogleCloudStorage._save()'s rules, on the normalised name as there.
        mime_type, mime_encoding = mimetypes.guess_type(key)
        properties = storage.get_object_parameters(key)
        if mime_encoding and "content_encoding" not in properties:
            properties["content_encoding"] = mime_encoding
        predefined_acl = properties.pop("acl", storage.default_acl)
        content_type = properties.pop("content_type", mime_type) or _DEFAULT_TYPE
        payload = Payload.from_content(content)
        if (
            storage.gzip
            and content_type in storage.gzip_content_types
            and "content_encoding" not in properties
        ):
            # The storage's own compressor (mtime=0): same bytes, same md5Hash.
            with payload.open() as raw:
                payload = Payload(data=storage._compress_content(raw).read())
            properties["content_encoding"] = "gzip"
        params = {
            "content_type": content_type,
            "predefined_acl": predefined_acl,
            "properties": properties,
        }
        metadata = json.loads(json.dumps(params, sort_keys=True, default=str))
        return Upload(name, key, payload, params, metadata)

    def matches(self, remote: RemoteObject, upload: Upload) -> bool:
        payload = upload.payload
        if remote.fingerprint is None or remote.size != payload.size:
            return False
        kind, _, value = remote.fingerprint.partition(":")
        if kind == "md5":
            return value == b64(payload.md5)
        if kind == "crc32c":  # composite objects have no MD5
            return value == b64(payload.crc32c)
        return False

    def metadata_matches(self, remote: RemoteObject, upload: Upload) -> bool | None:
        if remote.metadata is None:
            return None
        properties = upload.params["properties"]
        wanted = _visible(upload.params["content_type"], properties)
        if any(remote.metadata.get(field) != value for field, value in wanted.items()):
            return False
        # A listing shows no ACL, nor properties outside _VISIBLE (storage_class...).
        if upload.params["predefined_acl"] or set(properties) - set(_VISIBLE):
            return None
        return True

    # -- writing ------------------------------------------------------------------------
    def upload(self, upload: Upload) -> RemoteObject:
        params = upload.params
        blob = self.storage.bucket.blob(upload.key, chunk_size=self.storage.blob_chunk_size)
        for prop, value in params["properties"].items():
            setattr(blob, prop, value)
        payload = upload.payload
        with payload.open() as fh:
            # Known size: multipart up to 8 MiB, resumable above, as the stock backend.
            # An explicit retry, as there: uploads without preconditions are not
            # retried by default.
            blob.upload_from_file(
                fh,
                size=payload.size,
                content_type=params["content_type"],
                predefined_acl=params["predefined_acl"],
                retry=self.retry(),
            )
        return _remote(blob, fallback=payload)

    def update_metadata(self, remote: RemoteObject, upload: Upload) -> RemoteObject:
        """One objects.patch: every visible field (``null`` clears one the settings no
        longer give), the other properties, and the predefined ACL as a parameter."""
        params = upload.params
        blob = _PatchBlob(upload.key, self.storage.bucket)
        blob.predefined_acl = params["predefined_acl"]
        for prop in _VISIBLE:
            setattr(blob, prop, None)
        for prop, value in params["properties"].items():
            setattr(blob, prop, value)
        blob.content_type = params["content_type"]
        # User metadata merges: the old keys go (null), the new ones are set.
        known = (remote.metadata or {}).get("metadata") or {}
        wanted = params["properties"].get("metadata") or {}
        blob.metadata = {**dict.fromkeys(known), **wanted} if wanted else None
        blob.patch(retry=self.retry())
        return _remote(blob, fallback=upload.payload)

    def delete_one(self, key: str) -> None:
        with contextlib.suppress(api_exceptions.NotFound):  # gone: as the stock delete()
            self.storage.bucket.delete_blob(key, retry=self.retry())

    def delete_batch(self, keys: Sequence[str]) -> Mapping[str, BaseException | None] | None:
        # Emulators (fake-gcs-server) have no batch endpoint: don't waste a request.
        if not (urlsplit(self.endpoint()).hostname or "").endswith(".googleapis.com"):
            return None
        batch = self.storage.client.batch(raise_exception=False)
        try:
            with batch:
                for key in keys:
                    self.storage.bucket.delete_blob(key)
        except (*_CLIENT_ERRORS, ValueError) as exc:
            # An error status, or a 200 that is not multipart: no batch API there.
            if isinstance(exc, ValueError) or getattr(exc, "code", 0) in _NO_BATCH_CODES:
                return None
            raise
        outcome: dict[str, BaseException | None] = {}
        for key, response in zip(keys, _batch_responses(batch), strict=True):
            status = response.status_code
            if 200 <= status < 300 or status == 404:
                outcome[key] = None
            elif status in _RETRY_CODES:
                outcome[key] = RETRY_ALONE  # transient: the single delete retries
            else:
                outcome[key] = api_exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
        return outcome

    # -- messages -----------------------------------------------------------------------
    def endpoint(self) -> str:
        try:
            return _api_endpoint(self.storage.client)
        except Exception:  # no client could be built (no credentials)
            return "Google Cloud Storage"

    def explain(self, exc: BaseException, action: str) -> BaseException:
        return explain(exc, action, self.where(), self.storage.bucket_name, self.endpoint)


def _visible(content_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """What a listing shows of an object written with these parameters."""
    wanted = {field: _clean(properties.get(prop)) for prop, field in _VISIBLE.items()}
    wanted["contentType"] = content_type
    if wanted["metadata"]:  # GCS stores user metadata values as strings
        wanted["metadata"] = {k: str(v) for k, v in wanted["metadata"].items()}
    return wanted


def _clean(value: Any) -> Any:
    return value or None  # "", {} and a missing field are the same "unset"


def _remote(
    blob: Any, shared: dict[str, dict[str, Any]] | None = None, fallback: Payload | None = None
) -> RemoteObject:
    # Composite objects have no md5Hash: their crc32c is the fingerprint then.
    fingerprint = f"md5:{blob.md5_hash}" if blob.md5_hash else None
    if blob.crc32c and not fingerprint:
        fingerprint = f"crc32c:{blob.crc32c}"
    if fallback is not None and not fingerprint:
        fingerprint = f"md5:{b64(fallback.md5)}"
    metadata = {field: _clean(getattr(blob, prop)) for prop, field in _VISIBLE.items()}
    if shared is not None:  # one dict per distinct metadata set, not per object
        metadata = shared.setdefault(json.dumps(metadata, sort_keys=True), metadata)
    updated = blob.updated or datetime.now(timezone.utc)
    size = int(blob.size if blob.size is not None else fallback.size if fallback else 0)
    return RemoteObject(blob.name, size, updated, fingerprint, metadata)


# -- the storages --------------------------------------------------------------------------
if TYPE_CHECKING:
    _GCSBase = Any  # GoogleCloudStorage: django-storages ships no type information
else:
    _GCSBase = object


class GoogleCloudPreloadMixin(PreloadMixin, _GCSBase):
    """The storage side: the overwrite option's names and the client's configuration.

    The client's connection pool holds ``max_workers`` connections, each response is
    counted for the summary, and unless OpenTelemetry tracing is on the client skips
    its background bucket GET.
    """

    preload_adapter_class = GoogleCloudAdapter
    preload_overwrite_option = "file_overwrite"
    preload_overwrite_setting = "GS_FILE_OVERWRITE"

    @property
    def client(self) -> Any:
        client = super().client
        if self.__dict__.get("_preload_client_id") != id(client):
            self._preload_configure(client)
            self._preload_client_id = id(client)
        return client

    def _preload_configure(self, client: Any) -> None:
        session = _session(client)
        # requests keeps 10 connections per host: with more upload threads, the extra
        # connections are opened and thrown away on every request.
        size = max(self.max_workers, 10)
        for scheme, adapter in list(session.adapters.items()):
            if type(adapter) is HTTPAdapter:  # not mTLS
                session.mount(
                    scheme, HTTPAdapter(pool_maxsize=size, max_retries=adapter.max_retries)
                )
        session.hooks.setdefault("response", []).append(self._preload_count_response)
        _skip_bucket_metadata_get(client)

    def _preload_count_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        request = response.request
        self.preload_adapter.on_request(operation(request.method, request.url))


class PreloadingGoogleCloudStorage(GoogleCloudPreloadMixin, GoogleCloudStorage):
    """``GoogleCloudStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingGoogleCloudManifestStorage(LocalManifestMixin, PreloadingGoogleCloudStorage):
    """``ManifestFilesMixin`` over GCS with local-first post-processing."""
