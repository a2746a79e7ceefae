"""Preloading storages over django-storages' ``GoogleCloudStorage``.

Every django-storages option keeps working (``GS_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``. The adapter speaks
objects.list, objects.insert, objects.patch, objects.delete (batched where GCS has the
batch API) and media downloads; object metadata is in ``_gcloud_metadata``, batch
deletes in ``_gcloud_deletes``, error messages in ``_gcloud_messages`` and what it uses
of the SDKs beyond their public API in ``_gcloud_sdk``.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import mimetypes
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.cloud.storage.retry import DEFAULT_RETRY
from requests.adapters import HTTPAdapter
from storages.backends.gcloud import GoogleCloudStorage

from ..contract import MaybeMissing, PreloadAdapter, RemoteObject, Upload
from ..errors import describe
from ..fingerprints import Payload, b64
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from ._gcloud_deletes import delete_batch
from ._gcloud_messages import explain, operation
from ._gcloud_metadata import LIST_FIELDS, VISIBLE, patch_metadata, remote_object, visible
from ._gcloud_sdk import (
    CLIENT_ERRORS,
    api_endpoint,
    compress,
    session,
    should_retry,
    skip_bucket_metadata_get,
)

__all__ = [
    "GoogleCloudAdapter",
    "GoogleCloudPreloadMixin",
    "PreloadingGoogleCloudManifestStorage",
    "PreloadingGoogleCloudStorage",
]

_DEFAULT_TYPE = "application/octet-stream"  # what the client sends without a type


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
            lambda exc: should_retry(exc) and next(failures) < limit
        )

    # -- reading state ------------------------------------------------------------------
    def list(self) -> Iterator[RemoteObject]:
        shared: dict[str, dict[str, Any]] = {}  # most objects share one metadata set
        try:
            blobs = self.storage.bucket.list_blobs(
                prefix=self.prefix(),
                fields=LIST_FIELDS,
                page_size=self.page_size,
                retry=self.retry(),
            )
            yield from (remote_object(blob, shared) for blob in blobs)
        except CLIENT_ERRORS as exc:
            raise self.explain(exc, "list") from exc

    def stat(self, key: str) -> RemoteObject | None:
        try:
            blob = self.storage.bucket.get_blob(key, retry=self.retry())
        except api_exceptions.Forbidden:
            return None  # cannot tell: treat as missing, so the file is uploaded
        except CLIENT_ERRORS as exc:
            raise self.explain(exc, "read") from exc
        return None if blob is None else remote_object(blob)

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
                payload = Payload(data=compress(storage, raw).read())
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
        wanted = visible(upload.params["content_type"], properties)
        if any(remote.metadata.get(field) != value for field, value in wanted.items()):
            return False
        # A listing shows no ACL, nor properties outside VISIBLE (storage_class...).
        if upload.params["predefined_acl"] or set(properties) - set(VISIBLE):
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
        return remote_object(blob, fallback=payload)

    def update_metadata(self, remote: RemoteObject, upload: Upload) -> RemoteObject:
        """One objects.patch, ACL included (see ``_gcloud_metadata.patch_metadata``)."""
        return patch_metadata(self.storage.bucket, remote, upload, self.retry())

    def delete_one(self, key: str) -> None:
        with contextlib.suppress(api_exceptions.NotFound):  # gone: as the stock delete()
            self.storage.bucket.delete_blob(key, retry=self.retry())

    def delete_batch(self, keys: Sequence[str]) -> Mapping[str, BaseException | None] | None:
        return delete_batch(self.storage, keys, self.endpoint())

    # -- messages -----------------------------------------------------------------------
    def endpoint(self) -> str:
        try:
            return api_endpoint(self.storage.client)
        except Exception:  # no client could be built (no credentials)
            return "Google Cloud Storage"

    def explain(self, exc: BaseException, action: str) -> BaseException:
        return explain(exc, action, self.where(), self.storage.bucket_name, self.endpoint)


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
        http = session(client)
        # requests keeps 10 connections per host: with more upload threads, the extra
        # connections are opened and thrown away on every request.
        size = max(self.max_workers, 10)
        for scheme, adapter in list(http.adapters.items()):
            if type(adapter) is HTTPAdapter:  # not mTLS
                http.mount(scheme, HTTPAdapter(pool_maxsize=size, max_retries=adapter.max_retries))
        http.hooks.setdefault("response", []).append(self._preload_count_response)
        skip_bucket_metadata_get(client)

    def _preload_count_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        request = response.request
        self.preload_adapter.on_request(operation(request.method, request.url))


class PreloadingGoogleCloudStorage(GoogleCloudPreloadMixin, GoogleCloudStorage):
    """``GoogleCloudStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingGoogleCloudManifestStorage(LocalManifestMixin, PreloadingGoogleCloudStorage):
    """``ManifestFilesMixin`` over GCS with local-first post-processing."""
