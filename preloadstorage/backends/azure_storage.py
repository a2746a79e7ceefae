"""Preloading storages over django-storages' ``AzureStorage`` (Azure Blob Storage).

Every django-storages option keeps working (``AZURE_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from azure.core import exceptions as az
from azure.storage.blob import BlobServiceClient, ContentSettings, ExponentialRetry
from requests import Session
from requests.adapters import HTTPAdapter
from storages.backends.azure_storage import AzureStorage
from storages.utils import setting
from urllib3.util.retry import Retry

from ..cache import RemoteObject
from ..command import find_collectstatic
from ..errors import ListingDenied, PreloadError, describe
from ..fingerprints import Payload, b64
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from ..sync import Upload

__all__ = ["AzurePreloadMixin", "PreloadingAzureManifestStorage", "PreloadingAzureStorage"]

_BATCH_SIZE = 256  # Blob Batch's limit of sub-requests
_TRANSIENT = {408, 429, 500, 502, 503, 504}
# client_options keys that mean the user chose a retry policy themselves.
_RETRY_OPTIONS = {"retry_policy", "retry_total", "initial_backoff", "increment_base"}

if TYPE_CHECKING:
    _AzureBase = Any  # AzureStorage: django-storages ships no type information
else:
    _AzureBase = object


class _ShortRetry(ExponentialRetry):
    """The SDK's retry rules with waits from 0.25 s doubling up to 8 s (SDK: 15, 18, 24 s)."""

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        return float(min(8.0, 0.25 * 2 ** settings["count"]) * random.uniform(0.5, 1.0))


class AzurePreloadMixin(PreloadMixin, _AzureBase):
    """The Azure adapter: List Blobs, Content-MD5, Put Blob, Blob Batch deletes.

    Differences from ``AzureStorage``: ``overwrite_files`` defaults to True (False is
    refused); every upload carries its Content-MD5, block uploads included, so they can
    be skipped next time; a missing manifest reads as missing instead of raising
    ``ResourceNotFoundError`` (django-storages#630). Always: ``client_options`` apply
    with a connection string too, the connection pool holds ``max_workers`` (times
    ``upload_max_conn``) connections and, unless ``client_options`` set a retry policy,
    retries stop after ``max_attempts`` attempts with waits of at most 8 s.
    """

    preload_overwrite_option = "overwrite_files"
    preload_overwrite_setting = "AZURE_OVERWRITE_FILES"
    #: Blobs per List Blobs page: the service's maximum (and Azurite's default).
    preload_page_size = 5000
    client_options: dict[str, Any]
    connection_string: str | None

    def get_default_settings(self) -> dict[str, Any]:
        defaults: dict[str, Any] = super().get_default_settings()
        # AzureStorage defaults to False (a HEAD per save and random suffixes); here only
        # an explicit False is refused, in PreloadMixin.__init__.
        defaults["overwrite_files"] = setting("AZURE_OVERWRITE_FILES", True)
        return defaults

    # -- plumbing --------------------------------------------------------------------
    def _get_service_client(self) -> Any:
        user: dict[str, Any] = dict(self.client_options or {})
        options: dict[str, Any] = {}
        if not _RETRY_OPTIONS & set(user):
            n = self.max_attempts - 1
            options["retry_policy"] = _ShortRetry(
                retry_total=n, retry_connect=n, retry_read=n, retry_status=n
            )
        if "transport" not in user and "session" not in user:
            # requests keeps 10 connections per host; the upload threads (each with up to
            # upload_max_conn block uploads) would open and drop extra ones per request.
            options["session"] = _session(max(10, self.max_workers * self.upload_max_conn))
        options.update(user, raw_request_hook=self._preload_hook(user.get("raw_request_hook")))
        if self.connection_string is not None:
            # django-storages ignores client_options with a connection string: the retry
            # policy, the pool and the request counter would all be lost.
            return BlobServiceClient.from_connection_string(self.connection_string, **options)
        stock, self.client_options = self.client_options, options
        try:  # the stock credential rules (account key, SAS, token), with our options
            return super()._get_service_client()
        finally:
            self.client_options = stock

    def _preload_hook(self, chained: Any) -> Any:
        def count(request: Any) -> None:
            http = request.http_request
            self._preload_count_request(_operation(http.method, http.url, http.headers))
            if chained is not None:
                chained(request)

        return count

    def _preload_key(self, name: str) -> str:
        key: str = super()._preload_key(name)
        if not key or key.endswith("/"):
            return key  # the prefix, or a folder
        # AzureStorage._get_valid_path() strips dots and slashes from both ends of a name.
        return key.strip("./") or key

    def _preload_where(self) -> str:
        # account_name comes from the settings or the connection string's AccountName.
        account = self.account_name or getattr(self._service_client, "account_name", "?")
        return f"azure://{account}/{self.azure_container}/{self._preload_prefix()}"

    def _preload_prefix(self) -> str:
        return self._normalize_name("")  # type: ignore[no-any-return]

    def _preload_endpoint(self) -> str:
        try:  # never the query string: it may hold a SAS token
            return str(urlsplit(self.service_client.url)._replace(query="").geturl()).rstrip("/")
        except Exception:  # the client itself could not be built (malformed settings)
            return "Azure Blob Storage"

    def _preload_explain(self, exc: Exception, action: str) -> Exception:
        """Turn a client error into the error a user can act on (never with secrets)."""
        where, endpoint, code = self._preload_where(), self._preload_endpoint(), _code(exc)
        if isinstance(exc, az.ServiceRequestError):  # refused, DNS, TLS: nothing was answered
            return PreloadError(
                f"Could not reach {endpoint} to {action} {where} ({describe(exc)}). Check "
                "the BlobEndpoint of connection_string (AZURE_CONNECTION_STRING), or "
                "account_name/endpoint_suffix/azure_ssl (AZURE_ACCOUNT_NAME / "
                "AZURE_ENDPOINT_SUFFIX / AZURE_SSL), and the network."
            )
        if _refused(exc):
            return PreloadError(
                f"{endpoint} refused the credentials ({code}) when trying to {action} "
                f"{where}: check account_key (AZURE_ACCOUNT_KEY), sas_token (AZURE_SAS_TOKEN), "
                "token_credential or connection_string (AZURE_CONNECTION_STRING), and the "
                "account's network rules."
            )
        if isinstance(exc, az.ResourceNotFoundError) and code == "ContainerNotFound":
            return PreloadError(
                f"The container '{self.azure_container}' does not exist at {endpoint}: create "
                "it, or fix azure_container (AZURE_CONTAINER)."
            )
        if action == "list" and isinstance(exc, az.HttpResponseError) and exc.status_code == 403:
            return ListingDenied(
                f"Listing {where} was denied ({code}). Allow listing the container (the 'l' "
                "permission of a SAS, or a role such as Storage Blob Data Reader) to make "
                "collectstatic fast."
            )
        hint = " (check connection_string, AZURE_CONNECTION_STRING)" * isinstance(exc, ValueError)
        return PreloadError(f"Could not {action} {where}: {describe(exc)}{hint}")

    # -- hooks -----------------------------------------------------------------------
    def _preload_list(self) -> Iterator[RemoteObject]:
        prefix = self._preload_prefix()
        try:  # one paginated listing; each item has the size and Content-MD5
            blobs = self.client.list_blobs(
                prefix or None, results_per_page=self.preload_page_size, timeout=self.timeout
            )
            yield from map(_remote, blobs)
        except (az.AzureError, ValueError) as exc:
            raise self._preload_explain(exc, "list") from exc

    def _preload_stat(self, key: str) -> RemoteObject | None:
        try:
            blob = self.client.get_blob_client(key).get_blob_properties(timeout=self.timeout)
        except az.AzureError as exc:
            # 404, or 403 (cannot tell): missing, so the file is uploaded, never skipped.
            if getattr(exc, "status_code", None) in (403, 404) and not _refused(exc):
                return None
            raise self._preload_explain(exc, "read") from exc
        return _remote(blob)

    def _preload_prepare(self, name: str, content: Any) -> Upload:
        key = self._get_valid_path(name)
        # AzureStorage._save()'s own method on the same full name: the file's
        # content_type or the guessed one, the guessed encoding, cache_control, then
        # get_object_parameters(). No compression: AzureStorage sends the bytes as given.
        params: dict[str, Any] = self._get_content_settings_parameters(key, content)
        # With client-side encryption the stored bytes (and their MD5) are not these.
        trusted = getattr(self.client, "key_encryption_key", None) is None
        return Upload(name, key, Payload.from_content(content), params, {"trusted": trusted})

    def _preload_matches(self, remote: RemoteObject, upload: Upload) -> bool:
        payload = upload.payload
        if not upload.extra["trusted"] or remote.size != payload.size:
            return False
        return remote.fingerprint == f"md5:{b64(payload.md5)}"

    def _preload_upload(self, upload: Upload) -> RemoteObject:
        payload = upload.payload
        content_settings = ContentSettings(**upload.params)
        fingerprint = f"md5:{b64(payload.md5)}" if upload.extra["trusted"] else None
        if fingerprint:
            # Put Blob stores an MD5 by itself, Put Block List does not: say it always,
            # so a file above max_single_put_size is also skipped next time.
            content_settings.content_md5 = bytearray(payload.md5)
        with payload.open() as data:
            # With the length known, one Put Blob up to the client's max_single_put_size
            # (64 MiB), blocks above it: the stock call and settings otherwise.
            self.client.upload_blob(
                upload.key, data, length=payload.size, content_settings=content_settings,
                max_concurrency=self.upload_max_conn, timeout=self.timeout, overwrite=True,
            )  # fmt: skip
        return RemoteObject(upload.key, payload.size, datetime.now(timezone.utc), fingerprint)

    def _preload_delete(self, keys: list[str]) -> list[tuple[str, BaseException]]:
        singles, failures = list(keys), list[tuple[str, BaseException]]()
        if not self.__dict__.get("_preload_no_batch"):  # batches of 256, side by side
            chunks = [keys[i : i + _BATCH_SIZE] for i in range(0, len(keys), _BATCH_SIZE)]
            singles = []
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(chunks))) as pool:
                for retry, failed in pool.map(self._preload_delete_batch, chunks):
                    singles.extend(retry)
                    failures.extend(failed)
        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            for key, exc in zip(singles, pool.map(self._preload_delete_one, singles), strict=True):
                if exc is not None:
                    failures.append((key, exc))
        return failures

    def _preload_delete_one(self, key: str) -> BaseException | None:
        try:
            self.client.delete_blob(key, timeout=self.timeout)
        except az.ResourceNotFoundError:
            pass  # already gone: what the stock delete() ignores too
        except Exception as exc:
            return exc
        return None

    def _preload_delete_batch(
        self, chunk: list[str]
    ) -> tuple[list[str], list[tuple[str, BaseException]]]:
        """One Blob Batch; return (keys to retry one by one, failures)."""
        try:
            responses = list(
                self.client.delete_blobs(*chunk, raise_on_any_failure=False, timeout=self.timeout)
            )
        except az.HttpResponseError as exc:
            if exc.status_code in (400, 404, 405, 501):
                self._preload_no_batch = True  # a server (or emulator) without Blob Batch
            return list(chunk), []
        except az.AzureError:
            return list(chunk), []  # the single deletes retry, and report
        retry: list[str] = []
        failures: list[tuple[str, BaseException]] = []
        for key, response in zip(chunk, responses, strict=True):
            status = response.status_code
            if status in _TRANSIENT:  # the single delete retries it
                retry.append(key)
            elif not (200 <= status < 300 or status == 404):  # 404: already gone
                code = response.headers.get("x-ms-error-code", "")
                failures.append((key, RuntimeError(f"Delete Blob answered {status} {code}")))
        return retry, failures

    def _preload_read(self, name: str) -> bytes | None:
        try:
            blob = self.client.download_blob(self._preload_key(name), timeout=self.timeout)
            return bytes(blob.readall())
        except az.ResourceNotFoundError:
            # What ManifestFilesMixin expects of a missing manifest; stock AzureStorage
            # lets this escape and crashes a first deploy (django-storages#630).
            return None
        except (az.AzureError, ValueError) as exc:
            # In collectstatic this runs while the storage is created: say what to fix.
            # A write-only SAS may not read the old manifest; the run does not need it.
            if find_collectstatic() is None:
                raise
            if getattr(exc, "status_code", None) == 403 and not _refused(exc):
                return None
            raise self._preload_explain(exc, "read") from exc


def _session(pool_size: int) -> Session:
    """A requests session as azure-core builds one, with a bigger connection pool."""
    session = Session()
    # No retries in requests (as azure-core): the SDK's retry policy does the retrying.
    no_retries = Retry(total=False, redirect=False, raise_on_status=False)
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(pool_maxsize=pool_size, max_retries=no_retries))
    return session


def _code(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)  # a StorageErrorCode, a str enum
    return str(getattr(code, "value", code) or getattr(exc, "status_code", None) or "")


def _refused(exc: Exception) -> bool:
    """Bad key or SAS (Azurite says AuthorizationFailure where Azure says AuthenticationFailed)."""
    return isinstance(exc, az.ClientAuthenticationError) or _code(exc) == "AuthorizationFailure"


def _remote(blob: Any) -> RemoteObject:
    md5 = blob.content_settings.content_md5 if blob.content_settings else None
    fingerprint = f"md5:{b64(bytes(md5))}" if md5 else None
    modified = blob.last_modified or datetime.now(timezone.utc)
    return RemoteObject(blob.name, int(blob.size or 0), modified, fingerprint)


def _operation(method: str, url: str, headers: Any) -> str:
    """The Blob REST operation a request calls: "ListBlobs", "PutBlob"..."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    comp = query.get("comp", [""])[0]
    if comp == "batch":
        return "BlobBatch"
    if query.get("restype", [""])[0] == "container":
        if comp == "list":
            return "ListBlobs"
        verbs = {"PUT": "CreateContainer", "DELETE": "DeleteContainer"}
        return verbs.get(method, "GetContainerProperties") if not comp else f"Container:{comp}"
    if comp:
        return {"block": "PutBlock", "blocklist": "PutBlockList"}.get(comp, f"Blob:{comp}")
    if method == "PUT":  # Copy Blob sends no bytes
        return "CopyBlob" if "x-ms-copy-source" in headers else "PutBlob"
    return {"GET": "GetBlob", "HEAD": "GetBlobProperties", "DELETE": "DeleteBlob"}.get(
        method, f"Other:{method}"
    )


class PreloadingAzureStorage(AzurePreloadMixin, AzureStorage):
    """``AzureStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingAzureManifestStorage(LocalManifestMixin, PreloadingAzureStorage):
    """``ManifestFilesMixin`` over Azure Blob with local-first post-processing."""
