"""Preloading storages over django-storages' ``AzureStorage`` (Azure Blob Storage).

Every django-storages option keeps working (``AZURE_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``. Client plumbing (retries,
the connection pool, request names, error messages) is in ``preloadstorage.backends._azure``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from azure.core import exceptions as az
from azure.storage.blob import BlobServiceClient, ContentSettings
from storages.backends.azure_storage import AzureStorage
from storages.utils import setting

from ..contract import RETRY_ALONE, MaybeMissing, PreloadAdapter, RemoteObject, Upload
from ..fingerprints import Payload, b64
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from . import _azure_listing as azure_listing
from ._azure import ShortRetry, counting_hook, explain, pool_options, refused

__all__ = [
    "AzureAdapter",
    "AzurePreloadMixin",
    "PreloadingAzureManifestStorage",
    "PreloadingAzureStorage",
]

_TRANSIENT = {408, 429, 500, 502, 503, 504}
# client_options keys that mean the user chose a retry policy themselves.
_RETRY_OPTIONS = {"retry_policy", "retry_total", "initial_backoff", "increment_base"}
#: The content settings the stock ``_save()`` gives a blob (``ContentSettings`` fields;
#: Content-MD5 is the bytes' own, not metadata). Set Blob Properties replaces all of them.
CONTENT_SETTINGS = tuple(azure_listing.SETTINGS_TAGS)


# -- the adapter --------------------------------------------------------------------------
class AzureAdapter(PreloadAdapter):
    """List Blobs with Content-MD5 and content settings, Put Blob (blocks above the
    single-put size) always with a Content-MD5, Set Blob Properties for metadata,
    Blob Batch deletes."""

    delete_batch_size = 256  # Blob Batch's limit of sub-requests
    #: Blobs per List Blobs page: the service's maximum (and Azurite's default).
    page_size = 5000

    def where(self) -> str:
        storage = self.storage
        # account_name comes from the settings or the connection string's AccountName.
        account = storage.account_name or getattr(storage._service_client, "account_name", "?")
        return f"azure://{account}/{storage.azure_container}/{self.prefix()}"

    def key(self, name: str) -> str:
        key = super().key(name)
        if not key or key.endswith("/"):
            return key  # the prefix, or a folder
        # AzureStorage._get_valid_path() strips dots and slashes from both ends of a name.
        return key.strip("./") or key

    def explain(self, exc: BaseException, action: str) -> BaseException:
        return explain(self, exc, action)

    # -- reading state ----------------------------------------------------------------
    def list(self) -> Iterator[RemoteObject]:
        storage = self.storage
        chained = (storage.client_options or {}).get("raw_response_hook")
        try:  # one paginated listing; each item has its content settings and metadata
            blobs = azure_listing.blobs(
                storage.client, self.prefix() or None, self.page_size, storage.timeout, chained
            )
            yield from map(_listed, blobs)
        except (az.AzureError, ValueError) as exc:
            raise self.explain(exc, "list") from exc

    def stat(self, key: str) -> RemoteObject | None:
        storage = self.storage
        try:
            blob = storage.client.get_blob_client(key).get_blob_properties(timeout=storage.timeout)
        except az.AzureError as exc:
            # 404, or 403 (cannot tell): missing, so the file is uploaded, never skipped.
            if getattr(exc, "status_code", None) in (403, 404) and not refused(exc):
                return None
            raise self.explain(exc, "read") from exc
        return _remote(blob)

    def read(self, name: str) -> bytes | None:
        storage = self.storage
        try:
            blob = storage.client.download_blob(self.key(name), timeout=storage.timeout)
            return bytes(blob.readall())
        except az.ResourceNotFoundError:
            # What ManifestFilesMixin expects of a missing manifest; stock AzureStorage
            # lets this escape and crashes a first deploy (django-storages#630).
            return None
        except az.HttpResponseError as exc:
            # A write-only SAS may not read the old manifest: the run does not need it.
            if exc.status_code == 403 and not refused(exc):
                raise MaybeMissing(f"reading {name} was refused") from exc
            raise

    # -- comparing ----------------------------------------------------------------------
    def prepare(self, name: str, content: Any) -> Upload:
        storage = self.storage
        key: str = storage._get_valid_path(name)
        # AzureStorage._save()'s own method on the same full name: the file's
        # content_type or the guessed one, the guessed encoding, cache_control, then
        # get_object_parameters(). No compression: AzureStorage sends the bytes as given.
        params: dict[str, Any] = storage._get_content_settings_parameters(key, content)
        metadata: dict[str, Any] = {field: params.get(field) for field in CONTENT_SETTINGS}
        # The stock Put Blob sends no x-ms-meta-*: a blob it writes has no user metadata.
        metadata["metadata"] = {}
        # With client-side encryption the stored bytes (and their MD5) are not these.
        trusted = getattr(storage.client, "key_encryption_key", None) is None
        return Upload(name, key, Payload.from_content(content), params, metadata, trusted)

    def matches(self, remote: RemoteObject, upload: Upload) -> bool:
        if not upload.trusted or remote.size != upload.payload.size:
            return False
        return remote.fingerprint == _fingerprint(upload.payload.md5)

    def metadata_matches(self, remote: RemoteObject, upload: Upload) -> bool | None:
        if remote.metadata is None:
            return None
        # Azure stores an empty header as absent: None and "" are the same setting.
        return _normal(remote.metadata) == _normal(upload.metadata)

    # -- writing --------------------------------------------------------------------------
    def upload(self, upload: Upload) -> RemoteObject:
        storage, payload = self.storage, upload.payload
        content_settings = ContentSettings(**upload.params)
        fingerprint = _fingerprint(payload.md5) if upload.trusted else None
        if fingerprint:
            # Put Blob stores an MD5 by itself, Put Block List does not: say it always,
            # so a file above max_single_put_size is also skipped next time.
            content_settings.content_md5 = bytearray(payload.md5)
        with payload.open() as data:
            # With the length known, one Put Blob up to the client's max_single_put_size
            # (64 MiB), blocks above it: the stock call and settings otherwise.
            # (The blob client's call: the container's returns no last_modified.)
            written = storage.client.get_blob_client(upload.key).upload_blob(
                data, length=payload.size, content_settings=content_settings,
                max_concurrency=storage.upload_max_conn, timeout=storage.timeout,
                overwrite=True,
            )  # fmt: skip
        return RemoteObject(
            upload.key, payload.size, _modified(written), fingerprint, _stored(upload)
        )

    def update_metadata(self, remote: RemoteObject, upload: Upload) -> RemoteObject:
        storage = self.storage
        blob = storage.client.get_blob_client(upload.key)
        content_settings = ContentSettings(**upload.params)
        # Set Blob Properties replaces every content header, Content-MD5 included: keep
        # it (the bytes match), or the next run could not skip this blob.
        content_settings.content_md5 = bytearray(upload.payload.md5)
        written = blob.set_http_headers(content_settings, timeout=storage.timeout)
        wanted = upload.metadata["metadata"]
        if remote.metadata is None or dict(remote.metadata.get("metadata") or {}) != wanted:
            written = blob.set_blob_metadata(wanted, timeout=storage.timeout)
        return RemoteObject(
            remote.key, remote.size, _modified(written), remote.fingerprint, _stored(upload)
        )

    def delete_one(self, key: str) -> None:
        with contextlib.suppress(az.ResourceNotFoundError):  # already gone: as stock delete()
            self.storage.client.delete_blob(key, timeout=self.storage.timeout)

    def delete_batch(self, keys: Sequence[str]) -> Mapping[str, BaseException | None] | None:
        """One Blob Batch; ``None`` on a server (or emulator) without Blob Batch."""
        try:
            responses = list(
                self.storage.client.delete_blobs(
                    *keys, raise_on_any_failure=False, timeout=self.storage.timeout
                )
            )
        except az.HttpResponseError as exc:
            if exc.status_code in (400, 404, 405, 501):
                return None
            raise  # the engine deletes this chunk one by one, which retries and reports
        outcome: dict[str, BaseException | None] = {}
        for key, response in zip(keys, responses, strict=True):
            status = response.status_code
            if status in _TRANSIENT:  # delete_one retries it
                outcome[key] = RETRY_ALONE
            elif 200 <= status < 300 or status == 404:  # 404: already gone
                outcome[key] = None
            else:
                code = response.headers.get("x-ms-error-code", "")
                outcome[key] = RuntimeError(f"Delete Blob answered {status} {code}")
        return outcome


def _fingerprint(md5: bytes) -> str:
    return f"md5:{b64(md5)}"


def _normal(metadata: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        *(metadata.get(field) or "" for field in CONTENT_SETTINGS),
        dict(metadata.get("metadata") or {}),
    )


def _stored(upload: Upload) -> dict[str, Any]:
    """What a listing shows of ``upload``'s blob once written."""
    return {**upload.metadata, "metadata": dict(upload.metadata["metadata"])}


def _modified(written: Mapping[str, Any] | None) -> datetime:
    modified = (written or {}).get("last_modified")
    return modified if isinstance(modified, datetime) else datetime.now(timezone.utc)


def _remote(blob: Any) -> RemoteObject:
    return _listed(azure_listing.from_sdk(blob))


def _listed(blob: dict[str, Any]) -> RemoteObject:
    metadata = {field: blob[field] for field in CONTENT_SETTINGS}
    metadata["metadata"] = dict(blob["metadata"])
    modified = blob["last_modified"] or datetime.now(timezone.utc)
    fingerprint = _fingerprint(blob["md5"]) if blob["md5"] else None
    return RemoteObject(blob["name"], blob["size"], modified, fingerprint, metadata)


# -- the storage ------------------------------------------------------------------------
class AzurePreloadMixin(PreloadMixin):
    """The storage side of Azure preloading: client configuration and option names.

    Differences from ``AzureStorage``: ``overwrite_files`` defaults to True (False is
    refused); every upload carries its Content-MD5, block uploads included, so they can
    be skipped next time; a missing manifest reads as missing instead of raising
    ``ResourceNotFoundError`` (django-storages#630). Always: ``client_options`` apply
    with a connection string too, the connection pool holds ``max_workers`` (times
    ``upload_max_conn``) connections and, unless ``client_options`` set a retry policy,
    a request is tried at most ``max_attempts`` times, with waits of at most 8 s.
    """

    preload_adapter_class = AzureAdapter
    preload_overwrite_option = "overwrite_files"
    preload_overwrite_setting = "AZURE_OVERWRITE_FILES"
    client_options: dict[str, Any]
    connection_string: str | None

    def get_default_settings(self) -> dict[str, Any]:
        defaults: dict[str, Any] = super().get_default_settings()
        # AzureStorage defaults to False (a HEAD per save and random suffixes); here only
        # an explicit False is refused, in PreloadMixin.__init__.
        defaults["overwrite_files"] = setting("AZURE_OVERWRITE_FILES", True)
        return defaults

    def _get_service_client(self) -> Any:
        user: dict[str, Any] = dict(self.client_options or {})
        options: dict[str, Any] = {}
        if not _RETRY_OPTIONS & set(user):
            options["retry_policy"] = ShortRetry(self.max_attempts)
        if "transport" not in user and "session" not in user:
            # requests keeps 10 connections per host; the upload threads (each with up to
            # upload_max_conn block uploads) would open and drop extra ones per request.
            options.update(pool_options(max(10, self.max_workers * self.upload_max_conn)))
        count = lambda operation: self.preload_adapter.on_request(operation)  # noqa: E731
        hook = counting_hook(count, user.get("raw_request_hook"))
        options.update(user, raw_request_hook=hook)
        if self.connection_string is not None:
            # django-storages ignores client_options with a connection string: the retry
            # policy, the pool and the request counter would all be lost.
            return BlobServiceClient.from_connection_string(self.connection_string, **options)
        stock, self.client_options = self.client_options, options
        try:  # the stock credential rules (account key, SAS, token), with our options
            return super()._get_service_client()
        finally:
            self.client_options = stock


class PreloadingAzureStorage(AzurePreloadMixin, AzureStorage):
    """``AzureStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingAzureManifestStorage(LocalManifestMixin, PreloadingAzureStorage):
    """``ManifestFilesMixin`` over Azure Blob with local-first post-processing."""
