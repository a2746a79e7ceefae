"""Preloading storages over django-storages' ``S3Storage`` (AWS S3 and S3-compatible).

Every django-storages option keeps working (``AWS_*`` settings and OPTIONS keys); the
preloadstorage options are listed in ``preloadstorage.conf``.
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from s3transfer.utils import ChunksizeAdjuster
from storages.backends.s3 import S3StaticStorage, S3Storage, _filter_download_params

from ..cache import RemoteObject
from ..command import find_collectstatic
from ..errors import ListingDenied, PreloadError, describe
from ..fingerprints import Payload, s3_etag
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin
from ..sync import Upload

__all__ = [
    "PreloadingS3ManifestStorage",
    "PreloadingS3StaticStorage",
    "PreloadingS3Storage",
    "S3PreloadMixin",
]

_ETAG_RE = re.compile(r"^[0-9a-f]{32}(-[0-9]+)?$")
_MIB = 1024 * 1024
_DELETE_BATCH = 1000  # DeleteObjects' limit
_SEQUENTIAL_PAGES = 5  # listing pages read in order before going parallel
_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidSecurity",
}


if TYPE_CHECKING:
    _S3Base = Any  # S3Storage: django-storages ships no type information
else:
    _S3Base = object


class S3PreloadMixin(PreloadMixin, _S3Base):
    """The S3 adapter: ListObjectsV2, ETags, PutObject, DeleteObjects.

    Differences from ``S3Storage`` during collectstatic: files below the multipart
    threshold go out as one ``PutObject`` (no transfer manager per small file), with
    the same parameters ``S3Storage._save()`` would pass; the shared client gets
    ``max_pool_connections >= max_workers`` and, unless ``client_config`` already sets
    ``retries``, standard retries with ``max_attempts`` attempts.
    """

    preload_overwrite_option = "file_overwrite"
    preload_overwrite_setting = "AWS_S3_FILE_OVERWRITE"
    preload_extra_init_args = ("cloudfront_signer",)
    client_config: Any
    #: Objects per listing page (S3's maximum is 1,000).
    preload_page_size = 1000

    @property
    def _preload_paging(self) -> dict[str, int]:
        return {"PageSize": self.preload_page_size}

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        config: Any = self.client_config
        extra: dict[str, Any] = {}
        # Upload threads, plus a transfer manager's threads for a multipart file.
        needed = self.max_workers + getattr(self.transfer_config, "max_request_concurrency", 10)
        if (config.max_pool_connections or 10) < needed:
            extra["max_pool_connections"] = needed
        if config.retries is None:
            extra["retries"] = {"mode": "standard", "max_attempts": self.max_attempts}
        if extra:
            self.client_config = config.merge(Config(**extra))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_preload_s3_client", None)
        return state

    # -- plumbing --------------------------------------------------------------------
    @property
    def _preload_client(self) -> Any:
        """One client shared by the upload threads (botocore clients are thread-safe).

        A client per thread would cost every worker a session and a resource model:
        real CPU on a small CI machine.
        """
        client = self.__dict__.get("_preload_s3_client")
        if client is None:
            client = self.connection.meta.client
            client.meta.events.register(
                "before-send.s3", self._preload_count, unique_id=f"preloadstorage-{id(self)}"
            )
            self._preload_s3_client = client
        return client

    def _preload_count(self, event_name: str = "", **kwargs: Any) -> None:
        self._preload_count_request(event_name.rsplit(".", 1)[-1])

    def _preload_where(self) -> str:
        return f"s3://{self.bucket_name}/{self._preload_prefix()}"

    def _preload_prefix(self) -> str:
        return self._normalize_name("")  # type: ignore[no-any-return]

    def _preload_explain(self, exc: Exception, action: str) -> Exception:
        """Turn a client error into the error a user can act on."""
        where = self._preload_where()
        endpoint = self.endpoint_url or "AWS S3"
        if isinstance(exc, NoCredentialsError):
            return PreloadError(
                "No AWS credentials found: set the access_key/secret_key options "
                "(AWS_S3_ACCESS_KEY_ID / AWS_S3_SECRET_ACCESS_KEY), session_profile, or "
                "give the machine a role."
            )
        if isinstance(exc, BotoCoreError):
            return PreloadError(
                f"Could not reach {endpoint} to {action} {where} ({describe(exc)}). "
                "Check endpoint_url (AWS_S3_ENDPOINT_URL) and the network."
            )
        if not isinstance(exc, ClientError):
            return exc
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code == "NoSuchBucket":
            return PreloadError(
                f"The bucket '{self.bucket_name}' does not exist at {endpoint}: create it, "
                "or fix bucket_name (AWS_STORAGE_BUCKET_NAME)."
            )
        if code in _AUTH_CODES:
            return PreloadError(
                f"{endpoint} rejected the credentials ({code}) when trying to {action} "
                f"{where}: check access_key/secret_key (AWS_S3_ACCESS_KEY_ID / "
                "AWS_S3_SECRET_ACCESS_KEY) or session_profile."
            )
        if code in {"PermanentRedirect", "AuthorizationHeaderMalformed"} or status == 301:
            return PreloadError(
                f"The bucket '{self.bucket_name}' is in another region ({code}): set "
                "region_name (AWS_S3_REGION_NAME) to the bucket's region."
            )
        if action == "list" and (code == "AccessDenied" or status == 403):
            return ListingDenied(
                f"Listing {where} was denied ({code or status}). Grant s3:ListBucket on "
                f"arn:aws:s3:::{self.bucket_name} (it may be limited with the condition "
                f"s3:prefix = '{self._preload_prefix()}*') to make collectstatic fast."
            )
        return PreloadError(f"Could not {action} {where}: {describe(exc)}")

    # -- hooks -----------------------------------------------------------------------
    def _preload_list(self) -> Iterator[RemoteObject]:
        prefix = self._preload_prefix()
        paginator = self._preload_client.get_paginator("list_objects_v2")
        last_key = None
        try:
            pages = paginator.paginate(
                Bucket=self.bucket_name, Prefix=prefix, PaginationConfig=self._preload_paging
            )
            for number, page in enumerate(pages, start=1):
                for obj in _objects(page):
                    last_key = obj.key
                    yield obj
                if number == _SEQUENTIAL_PAGES and page.get("IsTruncated") and last_key:
                    # A big prefix: list the rest folder by folder, side by side, instead
                    # of walking thousands of pages one after another.
                    yield from self._preload_list_rest(prefix, last_key)
                    return
        except (ClientError, BotoCoreError) as exc:
            raise self._preload_explain(exc, "list") from exc

    def _preload_list_rest(self, prefix: str, after: str) -> Iterator[RemoteObject]:
        """Every object after ``after``, listing top-level folders in parallel."""
        paginator = self._preload_client.get_paginator("list_objects_v2")
        folders: list[str] = []
        listing = paginator.paginate(
            Bucket=self.bucket_name,
            Prefix=prefix,
            Delimiter="/",
            PaginationConfig=self._preload_paging,
        )
        for page in listing:
            yield from (obj for obj in _objects(page) if obj.key > after)
            for common in page.get("CommonPrefixes", ()):
                folder = common["Prefix"]
                # Keys sort lexicographically: earlier folders were listed already.
                if after.startswith(folder) or folder > after:
                    folders.append(folder)

        def list_folder(folder: str) -> list[RemoteObject]:
            start = {"StartAfter": after} if after.startswith(folder) else {}
            pages = paginator.paginate(
                Bucket=self.bucket_name,
                Prefix=folder,
                PaginationConfig=self._preload_paging,
                **start,
            )
            return [obj for page in pages for obj in _objects(page)]

        with ThreadPoolExecutor(max_workers=min(self.max_workers, 8)) as pool:
            for objects in pool.map(list_folder, folders):
                yield from objects

    def _preload_stat(self, key: str) -> RemoteObject | None:
        try:
            head = self._preload_client.head_object(Bucket=self.bucket_name, Key=key)
        except ClientError as exc:
            # Without s3:ListBucket, S3 answers 403 for a missing key: treat as missing
            # (the file is uploaded, never skipped on doubt).
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") in (403, 404):
                return None
            raise self._preload_explain(exc, "read") from exc
        return RemoteObject(
            key, head["ContentLength"], head["LastModified"], _etag(head.get("ETag"))
        )

    def _preload_prepare(self, name: str, content: Any) -> Upload:
        key = self._preload_key(name)
        params = self._get_write_parameters(key, content)
        payload = Payload.from_content(content)
        # Exactly S3Storage._save()'s rule, and its compressor: same bytes, same ETag.
        if (
            self.gzip
            and params["ContentType"] in self.gzip_content_types
            and "ContentEncoding" not in params
        ):
            with payload.open() as raw:
                payload = Payload(data=self._compress_content(raw).read())
            params["ContentEncoding"] = "gzip"
        # SSE-KMS and SSE-C ETags are not MD5s: such objects are always uploaded.
        trusted = "SSECustomerKey" not in params and not str(
            params.get("ServerSideEncryption", "")
        ).startswith("aws:kms")
        return Upload(name, key, payload, params, extra={"trusted": trusted})

    def _part_size(self, size: int) -> int:
        return ChunksizeAdjuster().adjust_chunksize(self.transfer_config.multipart_chunksize, size)

    def _preload_matches(self, remote: RemoteObject, upload: Upload) -> bool:
        etag = remote.fingerprint
        payload = upload.payload
        if not upload.extra.get("trusted") or etag is None or remote.size != payload.size:
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

    def _preload_upload(self, upload: Upload) -> RemoteObject:
        client = self._preload_client
        payload = upload.payload
        threshold = self.transfer_config.multipart_threshold
        if payload.size < threshold:
            client.put_object(
                Bucket=self.bucket_name, Key=upload.key, Body=payload.read(), **upload.params
            )
        else:
            with payload.open() as fh:
                client.upload_fileobj(
                    fh,
                    self.bucket_name,
                    upload.key,
                    ExtraArgs=upload.params,
                    Config=self.transfer_config,
                )
        etag = s3_etag(payload, threshold, self._part_size(payload.size))
        fingerprint = etag if upload.extra.get("trusted") else None
        return RemoteObject(upload.key, payload.size, datetime.now(timezone.utc), fingerprint)

    def _preload_delete(self, keys: list[str]) -> list[tuple[str, BaseException]]:
        failures: list[tuple[str, BaseException]] = []
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            try:
                response = self._preload_client.delete_objects(
                    Bucket=self.bucket_name,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                failures.extend((key, exc) for key in batch)
                continue
            for error in response.get("Errors", ()):
                failures.append(
                    (error["Key"], RuntimeError(f"{error['Code']}: {error['Message']}"))
                )
        return failures

    def _preload_read(self, name: str) -> bytes | None:
        key = self._preload_key(name)
        params = _filter_download_params(self.get_object_parameters(name))
        try:
            response = self._preload_client.get_object(Bucket=self.bucket_name, Key=key, **params)
        except (ClientError, BotoCoreError) as exc:
            in_collectstatic = find_collectstatic() is not None
            status = None
            if isinstance(exc, ClientError):
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = (
                exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
            )
            # 403 is S3's answer for a missing key without s3:ListBucket; only trust
            # that reading during collectstatic, which is about to write the file.
            if (status == 404 and code != "NoSuchBucket") or (status == 403 and in_collectstatic):
                return None
            if in_collectstatic:
                raise self._preload_explain(exc, "read") from exc
            raise
        body: bytes = response["Body"].read()
        if self.gzip and response.get("ContentEncoding") == "gzip":
            body = gzip.decompress(body)
        return body


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


def _objects(page: dict[str, Any]) -> Iterator[RemoteObject]:
    for item in page.get("Contents", ()):
        yield RemoteObject(item["Key"], item["Size"], item["LastModified"], _etag(item.get("ETag")))


def _etag(value: str | None) -> str | None:
    """Normalise an ETag; ``None`` for anything that is not an MD5 or multipart ETag."""
    etag = (value or "").strip('"').lower()
    return etag if _ETAG_RE.match(etag) else None


class PreloadingS3Storage(S3PreloadMixin, S3Storage):
    """``S3Storage`` with a preload cache, content skip and parallel uploads."""


class PreloadingS3StaticStorage(S3PreloadMixin, S3StaticStorage):
    """``S3StaticStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingS3ManifestStorage(LocalManifestMixin, PreloadingS3StaticStorage):
    """``S3ManifestStaticStorage`` semantics with local-first post-processing."""
