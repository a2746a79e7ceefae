"""Preloading storages over django-storages' ``S3Storage`` (AWS S3 and S3-compatible).

Every django-storages option keeps working (``AWS_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``. The adapter speaks
ListObjectsV2, PutObject (or a managed multipart upload), CopyObject onto itself for
metadata-only changes, DeleteObjects and GetObject; error messages are in ``_s3_errors``.
"""

from __future__ import annotations

import gzip
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from storages.backends.s3 import S3StaticStorage, S3Storage

from ..contract import RETRY_ALONE, MaybeMissing, PreloadAdapter, RemoteObject, Upload
from ..fingerprints import Payload, s3_etag
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from . import s3_listing
from ._s3_errors import explain, status_and_code
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
#: DeleteObjects error codes worth one more try, alone.
_TRANSIENT = frozenset({"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"})
_CLIENT_LOCK = threading.Lock()


class S3Adapter(PreloadAdapter):
    """ListObjectsV2, ETags (multipart and gzip included), PutObject, CopyObject,
    DeleteObjects, through one botocore client shared by every worker thread."""

    #: Objects per listing page (S3's maximum is 1,000).
    page_size = 1000
    #: Listing pages read in order before the rest is listed folder by folder.
    sequential_pages = 5

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_client"}

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
        self.on_request(event_name.rsplit(".", 1)[-1])

    @property
    def bucket(self) -> str:
        return str(self.storage.bucket_name)

    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix()}"

    def explain(self, exc: BaseException, action: str) -> BaseException:
        return explain(exc, action, self)

    # -- reading state --------------------------------------------------------------------
    def list(self) -> Iterator[RemoteObject]:
        prefix = self.prefix()
        paging = {"PageSize": self.page_size}
        last_key = None
        try:
            # Pages parsed without botocore's per-object modeled parse (s3_listing.py).
            pages = s3_listing.paginate(
                self.client, Bucket=self.bucket, Prefix=prefix, PaginationConfig=paging
            )
            for number, page in enumerate(pages, start=1):
                for obj in s3_listing.objects(page):
                    last_key = obj.key
                    yield obj
                if number == self.sequential_pages and page.get("IsTruncated") and last_key:
                    # A big prefix: list the rest folder by folder, side by side, instead
                    # of walking thousands of pages one after another.
                    yield from self._list_rest(prefix, last_key)
                    return
        except (ClientError, BotoCoreError) as exc:
            raise self.explain(exc, "list") from exc

    def _list_rest(self, prefix: str, after: str) -> Iterator[RemoteObject]:
        """Every object after ``after``, listing top-level folders in parallel."""
        paging = {"PageSize": self.page_size}
        folders: list[str] = []
        listing = s3_listing.paginate(
            self.client, Bucket=self.bucket, Prefix=prefix, Delimiter="/", PaginationConfig=paging
        )
        for page in listing:
            yield from (obj for obj in s3_listing.objects(page) if obj.key > after)
            for common in page.get("CommonPrefixes", ()):
                folder = common["Prefix"]
                # Keys sort lexicographically: earlier folders were listed already.
                if after.startswith(folder) or folder > after:
                    folders.append(folder)

        def list_folder(folder: str) -> list[RemoteObject]:
            start = {"StartAfter": after} if after.startswith(folder) else {}
            pages = s3_listing.paginate(
                self.client, Bucket=self.bucket, Prefix=folder, PaginationConfig=paging, **start
            )
            return [obj for page in pages for obj in s3_listing.objects(page)]

        with ThreadPoolExecutor(max_workers=min(self.storage.max_workers, 8)) as pool:
            for objects in pool.map(list_folder, folders):
                yield from objects

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
        metadata = {k: _jsonable(v) for k, v in params.items() if k not in _NOT_METADATA}
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
        # Multipart: MD5 of the part MD5s. Try our part size, then the whole-MiB part
        # sizes that give this part count (objects uploaded by other tools), common
        # ones first; a few full reads of a large file beat re-uploading it.
        parts = int(etag.rsplit("-", 1)[1])
        return any(
            s3_etag(payload, 0, size) == etag
            for size in _part_size_candidates(payload.size, parts, self._part_size(payload.size))
        )

    # -- writing --------------------------------------------------------------------------
    def upload(self, upload: Upload) -> RemoteObject:
        payload = upload.payload
        config = self.storage.transfer_config
        threshold = config.multipart_threshold
        if payload.size < threshold:  # one PutObject: no transfer manager per small file
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
        args = self._copy_args(upload.params)
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

    def _copy_args(self, params: Mapping[str, Any]) -> dict[str, Any]:
        members = self.client.meta.service_model.operation_model("CopyObject").input_shape.members
        args = {k: v for k, v in params.items() if k in members and k not in _NOT_COPY}
        args["MetadataDirective"] = "REPLACE"
        if "Tagging" in args:
            args["TaggingDirective"] = "REPLACE"
        return args

    def delete_one(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def delete_batch(self, keys: Sequence[str]) -> Mapping[str, BaseException | None] | None:
        try:
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        except ClientError as exc:
            status, code = status_and_code(exc)
            if status == 501 or code == "NotImplemented":  # a server without DeleteObjects
                return None
            raise
        outcome: dict[str, BaseException | None] = dict.fromkeys(keys)
        for error in response.get("Errors", ()):
            code = str(error.get("Code", ""))
            outcome[error["Key"]] = (
                RETRY_ALONE
                if code in _TRANSIENT
                else RuntimeError(f"{code}: {error.get('Message', '')}")
            )
        return outcome


_NOT_COPY = frozenset({"Bucket", "Key", "CopySource", "MetadataDirective", "TaggingDirective"})
_COMMON_PART_SIZES = (8, 5, 16, 15, 10, 64, 100, 32, 50, 25)


def _part_size_candidates(size: int, parts: int, ours: int) -> list[int]:
    """Part sizes (bytes) that split ``size`` into exactly ``parts`` parts."""

    def fits(part: int) -> bool:
        return part > 0 and math.ceil(size / part) == parts

    sizes = [ours] if fits(ours) else []
    low = math.ceil(size / parts / _MIB)
    high = math.ceil(size / (parts - 1) / _MIB) if parts > 1 else low
    whole = [m for m in range(low, high + 1) if fits(m * _MIB)]
    whole.sort(key=lambda m: (_COMMON_PART_SIZES.index(m) if m in _COMMON_PART_SIZES else 99, m))
    sizes.extend(m * _MIB for m in whole if m * _MIB != ours)
    return sizes[:6]


#: Bodies up to this size are sent without ``Expect: 100-continue``.
_EXPECT_LIMIT = _MIB


def _no_expect_for_small_bodies(request: Any, **kwargs: Any) -> None:
    """Send a small PutObject body at once instead of waiting for ``100 Continue``.

    botocore asks for ``100 Continue`` before every file-like body (so a refused large
    upload is not sent in vain): one more round trip per object, and ~0.8 ms of client
    CPU to wait for and parse the interim response. For a body of at most 1 MiB the
    wait costs more than sending it in vain ever could. (``Expect`` is never signed.)
    """
    headers = request.headers
    if "Expect" in headers:
        try:
            length = int(headers.get("Content-Length", ""))
        except ValueError:
            return
        if length <= _EXPECT_LIMIT:
            del headers["Expect"]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


# -- private SDK attributes ------------------------------------------------------------------
# django-storages and s3transfer have no public API for these; each is pinned by a test
# in tests/test_s3.py that fails loudly when a release moves it.
def _write_parameters(storage: Any, key: str, content: Any) -> dict[str, Any]:
    """What ``S3Storage._save()`` passes to the upload (content type, ACL, parameters)."""
    return dict(storage._get_write_parameters(key, content))


def _compress(storage: Any, raw: Any) -> Any:
    """``S3Storage._save()``'s gzip compressor (same bytes, so the same ETag)."""
    return storage._compress_content(raw)


def _download_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The object parameters a download takes (SSE-C keys), as ``S3File`` filters them."""
    from storages.backends.s3 import _filter_download_params

    return dict(_filter_download_params(params))


def _adjust_chunksize(chunksize: int, size: int) -> int:
    """The part size boto3's transfer manager really uses for ``size`` bytes."""
    from s3transfer.utils import ChunksizeAdjuster

    return int(ChunksizeAdjuster().adjust_chunksize(chunksize, size))


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
    client_config: Any

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


class PreloadingS3Storage(CloudFrontInvalidationMixin, S3PreloadMixin, S3Storage):
    """``S3Storage`` with a preload cache, content skip and parallel uploads."""


class PreloadingS3StaticStorage(CloudFrontInvalidationMixin, S3PreloadMixin, S3StaticStorage):
    """``S3StaticStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingS3ManifestStorage(LocalManifestMixin, PreloadingS3StaticStorage):
    """``S3ManifestStaticStorage`` semantics with local-first post-processing."""
