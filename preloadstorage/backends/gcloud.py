"""Preloading storages over django-storages' ``GoogleCloudStorage``.

Every django-storages option keeps working (``GS_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``.
"""

from __future__ import annotations

import gzip
import itertools
import mimetypes
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.cloud.storage.retry import DEFAULT_RETRY
from requests.adapters import HTTPAdapter
from storages.backends.gcloud import GoogleCloudStorage

from ..cache import RemoteObject
from ..command import find_collectstatic
from ..errors import ListingDenied, PreloadError, describe
from ..fingerprints import Payload, b64
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from ..sync import Upload

__all__ = [
    "GoogleCloudPreloadMixin",
    "PreloadingGoogleCloudManifestStorage",
    "PreloadingGoogleCloudStorage",
]

_LIST_FIELDS = "items(name,size,updated,md5Hash,crc32c),nextPageToken"
_BATCH_SIZE = 100  # the JSON API's limit of calls per batch request
_RETRY_CODES = {408, 429, 500, 502, 503, 504}
_CLIENT_ERRORS = (
    api_exceptions.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    requests.RequestException,
)
_should_retry: Callable[[Exception], bool] = DEFAULT_RETRY._predicate

try:  # google-cloud-storage >= 2.18; older clients have no tracing and no bucket GET
    from google.cloud.storage._opentelemetry_tracing import enable_otel_traces as _TRACING
except ImportError:  # pragma: no cover
    _TRACING = False

if TYPE_CHECKING:
    _GCSBase = Any  # GoogleCloudStorage: django-storages ships no type information
else:
    _GCSBase = object


class GoogleCloudPreloadMixin(PreloadMixin, _GCSBase):
    """The GCS adapter: objects.list, md5Hash/crc32c, one-request uploads, deletes.

    Differences from ``GoogleCloudStorage`` during collectstatic: no metadata GET
    before each upload; files up to 8 MiB go out as one multipart ``objects.insert``
    even when gzipped (the stock backend then uses a two-request resumable upload);
    the metadata is what ``GoogleCloudStorage._save()`` would set on a new object (an
    unknown extension gets ``application/octet-stream`` rather than the old object's
    type). Always: the client's connection pool holds ``max_workers`` connections,
    retries stop after ``max_attempts`` attempts, and unless OpenTelemetry tracing is on
    the client skips its background bucket GET (it only feeds trace attributes).
    """

    preload_overwrite_option = "file_overwrite"
    preload_overwrite_setting = "GS_FILE_OVERWRITE"
    #: Objects per listing page: GCS's maximum and default, said explicitly so that
    #: emulators page the same way.
    preload_page_size = 1000

    @property
    def client(self) -> Any:
        client = super().client
        if self.__dict__.get("_preload_client_id") != id(client):
            self._preload_configure(client)
            self._preload_client_id = id(client)
        return client

    def _preload_configure(self, client: Any) -> None:
        session = client._http
        # requests keeps 10 connections per host: with more upload threads, the extra
        # connections are opened and thrown away on every request.
        size = max(self.max_workers, 10)
        for scheme, adapter in list(session.adapters.items()):
            if type(adapter) is HTTPAdapter and adapter._pool_maxsize < size:  # not mTLS
                session.mount(
                    scheme, HTTPAdapter(pool_maxsize=size, max_retries=adapter.max_retries)
                )
        session.hooks.setdefault("response", []).append(self._preload_count)
        if not _TRACING and hasattr(client, "_bucket_metadata_cache"):
            # google-cloud-storage >= 3.17 fetches each bucket's metadata in a background
            # thread for trace attributes: one buckets.get per process, for nothing when
            # tracing is off (DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA=true does too).
            client._bucket_metadata_cache = None

    def _preload_count(self, response: Any, *args: Any, **kwargs: Any) -> None:
        request = response.request
        self._preload_count_request(_operation(request.method, request.url))

    def _preload_retry(self) -> Retry:
        """google-cloud-storage's retry, stopped after ``max_attempts`` attempts.

        api-core retries are bounded by time only; a fresh predicate per call counts
        the failures (for a listing, across all its pages).
        """
        failures = itertools.count(1)
        limit = self.max_attempts
        return DEFAULT_RETRY.with_predicate(  # type: ignore[no-any-return]
            lambda exc: _should_retry(exc) and next(failures) < limit
        )

    def _preload_where(self) -> str:
        return f"gs://{self.bucket_name}/{self._preload_prefix()}"

    def _preload_prefix(self) -> str:
        return self._normalize_name("")  # type: ignore[no-any-return]

    def _preload_endpoint(self) -> str:
        try:
            return str(self.client._connection.API_BASE_URL)
        except Exception:  # no client could be built (no credentials)
            return "Google Cloud Storage"

    def _preload_explain(self, exc: Exception, action: str) -> Exception:
        """Turn a client error into the error a user can act on."""
        where = self._preload_where()
        if isinstance(exc, auth_exceptions.DefaultCredentialsError):
            return PreloadError(
                "No Google Cloud credentials found: set the credentials option "
                "(GS_CREDENTIALS), GOOGLE_APPLICATION_CREDENTIALS, or run where Application "
                "Default Credentials exist; for an emulator set STORAGE_EMULATOR_HOST."
            )
        endpoint = self._preload_endpoint()
        if isinstance(exc, (auth_exceptions.RefreshError, api_exceptions.Unauthorized)):
            return PreloadError(
                f"{endpoint} rejected the credentials when trying to {action} {where} "
                f"({describe(exc)}): check the credentials option (GS_CREDENTIALS) or "
                "GOOGLE_APPLICATION_CREDENTIALS."
            )
        if isinstance(exc, (requests.ConnectionError, auth_exceptions.TransportError)):
            return PreloadError(
                f"Could not reach {endpoint} to {action} {where} ({describe(exc)}). Check "
                "STORAGE_EMULATOR_HOST (for an emulator) and the network; GS_CUSTOM_ENDPOINT "
                "(custom_endpoint) only changes the URLs {% static %} renders."
            )
        if isinstance(exc, api_exceptions.NotFound) and action == "list":
            return PreloadError(
                f"The bucket '{self.bucket_name}' does not exist at {endpoint}: create it, "
                "or fix bucket_name (GS_BUCKET_NAME)."
            )
        if isinstance(exc, api_exceptions.Forbidden) and action == "list":
            return ListingDenied(
                f"Listing {where} was denied ({describe(exc)}). Grant storage.objects.list "
                f"on gs://{self.bucket_name} (e.g. roles/storage.objectViewer) to make "
                "collectstatic fast."
            )
        return PreloadError(f"Could not {action} {where}: {describe(exc)}")

    # -- hooks -----------------------------------------------------------------------
    def _preload_list(self) -> Iterator[RemoteObject]:
        try:
            # One paginated listing, with only the fields we read.
            blobs = self.bucket.list_blobs(
                prefix=self._preload_prefix(),
                fields=_LIST_FIELDS,
                page_size=self.preload_page_size,
                retry=self._preload_retry(),
            )
            yield from (_remote(blob) for blob in blobs)
        except _CLIENT_ERRORS as exc:
            raise self._preload_explain(exc, "list") from exc

    def _preload_stat(self, key: str) -> RemoteObject | None:
        try:
            blob = self.bucket.get_blob(key, retry=self._preload_retry())
        except api_exceptions.Forbidden:
            return None  # cannot tell: treat as missing, so the file is uploaded
        except _CLIENT_ERRORS as exc:
            raise self._preload_explain(exc, "read") from exc
        return None if blob is None else _remote(blob)

    def _preload_prepare(self, name: str, content: Any) -> Upload:
        key = self._preload_key(name)
        # Exactly GoogleCloudStorage._save()'s rules, on the normalised name as there.
        mime_type, mime_encoding = mimetypes.guess_type(key)
        properties = self.get_object_parameters(key)
        if mime_encoding and "content_encoding" not in properties:
            properties["content_encoding"] = mime_encoding
        predefined_acl = properties.pop("acl", self.default_acl)
        content_type = properties.pop("content_type", mime_type)
        payload = Payload.from_content(content)
        if (
            self.gzip
            and content_type in self.gzip_content_types
            and "content_encoding" not in properties
        ):
            # The storage's own compressor (mtime=0): same bytes, same md5Hash.
            with payload.open() as raw:
                payload = Payload(data=self._compress_content(raw).read())
            properties["content_encoding"] = "gzip"
        params = {"content_type": content_type, "predefined_acl": predefined_acl}
        return Upload(name, key, payload, {**params, "properties": properties})

    def _preload_matches(self, remote: RemoteObject, upload: Upload) -> bool:
        payload = upload.payload
        if remote.fingerprint is None or remote.size != payload.size:
            return False
        kind, _, value = remote.fingerprint.partition(":")
        if kind == "md5":
            return value == b64(payload.md5)
        if kind == "crc32c":  # composite objects have no MD5
            return value == b64(payload.crc32c)
        return False

    def _preload_upload(self, upload: Upload) -> RemoteObject:
        params = upload.params
        blob = self.bucket.blob(upload.key, chunk_size=self.blob_chunk_size)
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
                retry=self._preload_retry(),
            )
        remote = _remote(blob)
        if remote.fingerprint is not None:
            return remote
        fingerprint = f"md5:{b64(payload.md5)}"
        return RemoteObject(upload.key, payload.size, datetime.now(timezone.utc), fingerprint)

    def _preload_delete(self, keys: list[str]) -> list[tuple[str, BaseException]]:
        singles = list(keys)
        failures: list[tuple[str, BaseException]] = []
        if self._preload_batch_supported():
            singles, failures = self._preload_delete_batched(keys)

        def delete_one(key: str) -> BaseException | None:
            try:
                self.bucket.delete_blob(key, retry=self._preload_retry())
            except api_exceptions.NotFound:
                pass  # already gone: what the stock delete() ignores too
            except Exception as exc:
                return exc
            return None

        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            for key, exc in zip(singles, pool.map(delete_one, singles), strict=True):
                if exc is not None:
                    failures.append((key, exc))
        return failures

    def _preload_batch_supported(self) -> bool:
        # Emulators (fake-gcs-server) have no batch endpoint: don't waste a request.
        host = urlsplit(self._preload_endpoint()).hostname or ""
        no_batch = self.__dict__.get("_preload_no_batch") or self.client._is_emulator_set
        return not no_batch and host.endswith(".googleapis.com")

    def _preload_delete_batched(
        self, keys: list[str]
    ) -> tuple[list[str], list[tuple[str, BaseException]]]:
        """Delete in batches of 100; return (keys to retry one by one, failures)."""
        retry_singly: list[str] = []
        failures: list[tuple[str, BaseException]] = []
        for start in range(0, len(keys), _BATCH_SIZE):
            chunk = keys[start : start + _BATCH_SIZE]
            batch = self.client.batch(raise_exception=False)
            try:
                with batch:
                    for key in chunk:
                        self.bucket.delete_blob(key)
            except (*_CLIENT_ERRORS, ValueError) as exc:
                # An error status, or a 200 that is not multipart (fake-gcs-server):
                # a server without the batch API. Delete one by one from now on.
                if isinstance(exc, ValueError) or getattr(exc, "code", 0) in (400, 404, 501):
                    self._preload_no_batch = True
                retry_singly.extend(chunk)
                continue
            for key, response in zip(chunk, batch._responses, strict=True):
                status = response.status_code
                if status in _RETRY_CODES:
                    retry_singly.append(key)  # transient: the single delete retries
                elif not (200 <= status < 300 or status == 404):
                    failures.append((key, api_exceptions.from_http_response(response)))  # type: ignore[no-untyped-call]
        return retry_singly, failures

    def _preload_read(self, name: str) -> bytes | None:
        blob = self.bucket.blob(self._preload_key(name))
        try:
            # One media GET; requests undoes GCS's gzip transcoding, like the stock file.
            data: bytes = blob.download_as_bytes(retry=self._preload_retry())
        except api_exceptions.NotFound:
            return None
        except api_exceptions.Forbidden:
            # Without storage.objects.list, GCS answers 403 for a missing object; only
            # trust that reading during collectstatic, which is about to write the file.
            if find_collectstatic() is None:
                raise
            return None
        except (auth_exceptions.GoogleAuthError, requests.RequestException) as exc:
            # In collectstatic this runs while the storage is created: say what to fix
            # instead of a traceback. Elsewhere, the client's own error, as stock.
            if find_collectstatic() is None:
                raise
            raise self._preload_explain(exc, "read") from exc
        if blob.content_encoding == "gzip" and data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)  # served without transcoding
        return data


def _remote(blob: Any) -> RemoteObject:
    # Composite objects have no md5Hash: their crc32c is the fingerprint then.
    fingerprint = (
        f"md5:{blob.md5_hash}"
        if blob.md5_hash
        else f"crc32c:{blob.crc32c}"
        if blob.crc32c
        else None
    )
    updated = blob.updated or datetime.now(timezone.utc)
    return RemoteObject(blob.name, int(blob.size or 0), updated, fingerprint)


def _operation(method: str, url: str) -> str:
    """The JSON API method a request calls: "objects.list", "objects.insert"..."""
    parts = urlsplit(url)
    path = parts.path.strip("/").split("/")
    if path[0] == "batch":
        return "batch"
    if path[0] == "upload":
        return "objects.upload_chunk" if method == "PUT" else "objects.insert"
    if path[0] == "download" or "alt=media" in parts.query:
        return "objects.download"
    rest = path[path.index("b") + 1 :] if "b" in path else []  # after /storage/v1/b
    verbs = {"GET": "get", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}
    if len(rest) > 3:
        return f"objects.{rest[3]}"  # compose, rewriteTo, copyTo
    if len(rest) == 3:
        return f"objects.{verbs.get(method, method.lower())}"
    if len(rest) == 2:
        return "objects.list" if method == "GET" else "objects.insert"
    if rest:
        return f"buckets.{verbs.get(method, method.lower())}"
    return "buckets.insert" if method == "POST" else "buckets.list"


class PreloadingGoogleCloudStorage(GoogleCloudPreloadMixin, GoogleCloudStorage):
    """``GoogleCloudStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingGoogleCloudManifestStorage(LocalManifestMixin, PreloadingGoogleCloudStorage):
    """``ManifestFilesMixin`` over GCS with local-first post-processing."""
