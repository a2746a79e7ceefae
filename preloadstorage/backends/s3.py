"""Preloading storages over django-storages' ``S3Storage`` (AWS S3 and S3-compatible).

Every django-storages option keeps working (``AWS_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``. The adapter speaks
ListObjectsV2, PutObject (or a managed multipart upload), CopyObject onto itself for
metadata-only changes, DeleteObjects and GetObject; error messages are in ``_s3_errors``.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from storages.backends.s3 import S3StaticStorage, S3Storage

from ..contract import MaybeMissing, PreloadAdapter, RemoteObject, Upload
from ..fingerprints import Payload, s3_etag
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from . import s3_crt, s3_listing
from ._s3_deletes import delete_batch
from ._s3_errors import explain, status_and_code
from ._s3_parts import multipart_matches
from ._s3_sdk import adjust_chunksize as _adjust_chunksize
from ._s3_sdk import compress as _compress
from ._s3_sdk import copy_args as _copy_args
from ._s3_sdk import download_params as _download_params
from ._s3_sdk import no_expect_for_small_bodies as _no_expect_for_small_bodies
from ._s3_sdk import write_parameters as _write_parameters
from ._s3_walk import walk
from .cloudfront import CloudFrontInvalidationMixin

__all__ = [
    "PreloadingS3ManifestStorage",
    "PreloadingS3StaticStorage",
    "PreloadingS3Storage",
    "S3Adapter",
    "S3PreloadMixin",
]

_MIB = 1024 * 1024
#: CopyObject's limit; larger objects are copied in parts (UploadPartCopy).
_COPY_LIMIT = 5 * 1024 * _MIB
#: Write parameters that are about one request, not the stored object (and a secret).
_NOT_METADATA = frozenset(
    {"SSECustomerKey", "SSECustomerKeyMD5", "ContentMD5", "ContentLength", "ChecksumAlgorithm",
     "ExpectedBucketOwner", "RequestPayer", "IfMatch", "IfNoneMatch"}
)  # fmt: skip
_CLIENT_LOCK = threading.Lock()
_CRT_LOCK = threading.Lock()


class S3Adapter(PreloadAdapter):
    """ListObjectsV2, ETags (multipart and gzip included), PutObject, CopyObject,
    DeleteObjects, through one botocore client shared by every worker thread."""

    #: Objects per listing page (S3's maximum is 1,000).
    page_size = 1000
    #: Listing pages read in order before the rest is listed folder by folder.
    sequential_pages = 5

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_crt_transport")}

    @property
    def client(self) -> Any:
        """One client for every thread (botocore clients are thread-safe); a client per
        thread would cost each worker a session and a resource model."""
        client = self.__dict__.get("_client")
        if client is None:
            with _CLIENT_LOCK:
                client = self.__dict__.get("_client")
                if client is None:
                    client = self.storage.connection.meta.client
                    client.meta.events.register(
                        "before-send.s3", self._count, unique_id=f"preloadstorage-{id(self)}"
                    )
                    client.meta.events.register(
                        "before-send.s3.PutObject",
                        _no_expect_for_small_bodies,
                        unique_id="preloadstorage-no-expect",
                    )
                    self._client = client
        return client

    def _count(self, event_name: str = "", **kwargs: Any) -> None:
        if not s3_crt.capturing():  # a CRT template request is never sent
            self.on_request(event_name.rsplit(".", 1)[-1])

    def _crt(self) -> s3_crt.CrtPutTransport | None:
        """The CRT upload transport (``transport="crt"``), created on first use."""
        if self.storage.transport != "crt":
            return None
        with _CRT_LOCK:
            if "_crt_transport" not in self.__dict__:
                self._crt_transport = s3_crt.CrtPutTransport(self)
        return self._crt_transport

    @property
    def bucket(self) -> str:
        return str(self.storage.bucket_name)

    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix()}"

    def explain(self, exc: BaseException, action: str) -> BaseException:
        return explain(exc, action, self)

    # -- reading state --------------------------------------------------------------------
    def list(self) -> Iterator[RemoteObject]:
        workers = min(self.storage.max_workers, 8)
        try:
            yield from walk(
                self.client,
                self.bucket,
                self.prefix(),
                self.page_size,
                self.sequential_pages,
                workers,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self.explain(exc, "list") from exc

    def stat(self, key: str) -> RemoteObject | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            # Without s3:ListBucket, S3 answers 403 for a missing key: treat as missing
            # (the file is uploaded, never skipped on doubt).
            if status_and_code(exc)[0] in (403, 404):
                return None
            raise self.explain(exc, "read") from exc
        return RemoteObject(
            key, head["ContentLength"], head["LastModified"], s3_listing.etag(head.get("ETag"))
        )

    def read(self, name: str) -> bytes | None:
        key = self.key(name)
        params = _download_params(self.storage.get_object_parameters(key))
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, **params)
        except ClientError as exc:
            status, code = status_and_code(exc)
            if status == 404 and code != "NoSuchBucket":
                return None
            if status == 403:  # S3's answer for a missing key without s3:ListBucket
                raise MaybeMissing(f"GetObject {key}: 403") from exc
            raise
        body: bytes = response["Body"].read()
        if self.storage.gzip and response.get("ContentEncoding") == "gzip":
            body = gzip.decompress(body)
        return body

    # -- comparing ------------------------------------------------------------------------
    def prepare(self, name: str, content: Any) -> Upload:
        storage = self.storage
        key = self.key(name)
        params = _write_parameters(storage, key, content)
        payload = Payload.from_content(content)
        # Exactly S3Storage._save()'s rule, and its compressor: same bytes, same ETag.
        if (
            storage.gzip
            and params["ContentType"] in storage.gzip_content_types
            and "ContentEncoding" not in params
        ):
            with payload.open() as raw:
                payload = Payload(data=_compress(storage, raw).read())
            params["ContentEncoding"] = "gzip"
        # SSE-KMS and SSE-C ETags are not MD5s: such objects are always uploaded.
        trusted = "SSECustomerKey" not in params and not str(
            params.get("ServerSideEncryption", "")
        ).startswith("aws:kms")
        plain = {k: v for k, v in params.items() if k not in _NOT_METADATA}
        metadata = {k: v.isoformat() if isinstance(v, date) else v for k, v in plain.items()}
        return Upload(name, key, payload, params, metadata, trusted)

    def _part_size(self, size: int) -> int:
        return _adjust_chunksize(self.storage.transfer_config.multipart_chunksize, size)

    def matches(self, remote: RemoteObject, upload: Upload) -> bool:
        etag = remote.fingerprint
        payload = upload.payload
        if not upload.trusted or etag is None or remote.size != payload.size:
            return False
        if "-" not in etag:
            return etag == payload.md5.hex()
        return multipart_matches(etag, payload, self._part_size(payload.size))

    # -- writing --------------------------------------------------------------------------
    def upload(self, upload: Upload) -> RemoteObject:
        payload = upload.payload
        config = self.storage.transfer_config
        threshold = config.multipart_threshold
        if payload.size < threshold:  # one PutObject: no transfer manager per small file
            crt = self._crt()
            if crt is None or not crt.put(upload):
                self.client.put_object(
                    Bucket=self.bucket, Key=upload.key, Body=payload.read(), **upload.params
                )
        else:
            with payload.open() as fh:
                self.client.upload_fileobj(
                    fh, self.bucket, upload.key, ExtraArgs=upload.params, Config=config
                )
        etag = s3_etag(payload, threshold, self._part_size(payload.size))
        fingerprint = etag if upload.trusted else None
        return RemoteObject(upload.key, payload.size, datetime.now(timezone.utc), fingerprint)

    def update_metadata(self, remote: RemoteObject, upload: Upload) -> RemoteObject:
        """CopyObject onto itself, metadata and ACL replaced: with no ACL configured the
        object gets the bucket's default (private), as a fresh PutObject would."""
        args = _copy_args(self.client, upload.params)
        source = {"Bucket": self.bucket, "Key": remote.key}
        if remote.size <= _COPY_LIMIT:
            response = self.client.copy_object(
                Bucket=self.bucket, Key=remote.key, CopySource=source, **args
            )
            result = response.get("CopyObjectResult", {})
            etag, modified = result.get("ETag"), result.get("LastModified")
        else:  # multipart copy (UploadPartCopy): the managed transfer does it
            config = self.storage.transfer_config
            self.client.copy(source, self.bucket, remote.key, ExtraArgs=args, Config=config)
            head = self.client.head_object(Bucket=self.bucket, Key=remote.key)
            etag, modified = head.get("ETag"), head.get("LastModified")
        modified = modified or datetime.now(timezone.utc)
        return RemoteObject(remote.key, remote.size, modified, s3_listing.etag(etag))

    def delete_one(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_batch(self, keys: Sequence[str]) -> Mapping[str, BaseException | None] | None:
        return delete_batch(self.client, self.bucket, keys)


# -- the storages ------------------------------------------------------------------------------
if TYPE_CHECKING:
    _S3Base = Any  # S3Storage: django-storages ships no type information
else:
    _S3Base = object


class S3PreloadMixin(PreloadMixin, _S3Base):
    """Storage glue: the client configuration and S3Storage's option names.

    The shared client gets ``max_pool_connections >= max_workers`` (plus a transfer
    manager's threads) and, unless ``client_config`` already sets ``retries``, standard
    retries with ``max_attempts`` attempts in all.
    """

    preload_adapter_class = S3Adapter
    preload_overwrite_option = "file_overwrite"
    preload_overwrite_setting = "AWS_S3_FILE_OVERWRITE"
    preload_extra_init_args = ("cloudfront_signer",)
    preload_cache_control_parameter = "CacheControl"
    preload_transports = ("boto3", "crt")
    client_config: Any
    transport: str

    @property
    def preload_plain_urls(self) -> bool:  # type: ignore[override]
        return not self.querystring_auth  # unsigned: the last segment is the quoted key

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        config: Any = self.client_config
        extra: dict[str, Any] = {}
        # Upload threads, plus a transfer manager's threads for a multipart file.
        needed = self.max_workers + getattr(self.transfer_config, "max_request_concurrency", 10)
        if (config.max_pool_connections or 10) < needed:
            extra["max_pool_connections"] = needed
        if config.retries is None:
            extra["retries"] = {"mode": "standard", "total_max_attempts": self.max_attempts}
        if extra:
            self.client_config = config.merge(Config(**extra))
        if self.transport == "crt":
            s3_crt.check_available(self)


class PreloadingS3Storage(CloudFrontInvalidationMixin, S3PreloadMixin, S3Storage):
    """``S3Storage`` with a preload cache, content skip and parallel uploads."""


class PreloadingS3StaticStorage(CloudFrontInvalidationMixin, S3PreloadMixin, S3StaticStorage):
    """``S3StaticStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingS3ManifestStorage(LocalManifestMixin, PreloadingS3StaticStorage):
    """``S3ManifestStaticStorage`` semantics with local-first post-processing."""
