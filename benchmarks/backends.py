"""A storage server behind the recording proxy, per cloud: start, env, direct reads."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

from variants import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import servers
from tests.support.proxy import Flavor, RecordingProxy

#: Table columns and the proxy operation names (tests/support/proxy.py) that go in each.
CATEGORIES: dict[str, frozenset[str]] = {
    "List": frozenset({"ListObjectsV2", "ListObjects", "objects.list", "ListBlobs"}),
    "HEAD": frozenset({"HeadObject", "objects.get", "GetBlobProperties", "GetBlobMetadata"}),
    "GET": frozenset({"GetObject", "objects.download", "GetBlob"}),
    "PUT": frozenset(
        {
            "PutObject",
            "UploadPart",
            "CreateMultipartUpload",
            "CompleteMultipartUpload",
            "objects.insert",
            "objects.upload_chunk",
            "objects.update",
            "PutBlob",
            "PutBlock",
            "PutBlockList",
        }
    ),
    # Server-side metadata updates, one request per object: S3 CopyObject (onto itself,
    # MetadataDirective=REPLACE: the only CopyObject any variant sends), GCS objects.patch,
    # Azure Set Blob Properties (PUT ?comp=properties) and Set Blob Metadata (?comp=metadata).
    "META": frozenset({"CopyObject", "objects.patch", "SetBlobProperties", "SetBlobMetadata"}),
    "COPY": frozenset({"UploadPartCopy", "objects.copy", "objects.rewrite", "CopyBlob"}),
    "DELETE": frozenset(
        {
            "DeleteObject",
            "DeleteObjects",
            "AbortMultipartUpload",
            "objects.delete",
            "batch",
            "DeleteBlob",
            "BlobBatch",
        }
    ),
}
#: Operations sent once per object written or updated (not listed in the JSON's
#: ``other_requests``).
BULK_OPERATIONS = CATEGORIES["PUT"] | CATEGORIES["META"]
#: Operations that create one object each (for the "one PUT per object" budget).
OBJECT_WRITES = frozenset({"PutObject", "CompleteMultipartUpload", "objects.insert", "PutBlob"})


#: Azure blob requests that tests/support/proxy.py leaves unnamed ("Other:PUT" ...):
#: ``(method, comp) -> operation``, told apart here by the recorded target's query.
_AZURE_COMP_OPERATIONS = {
    ("PUT", "properties"): "SetBlobProperties",
    ("PUT", "metadata"): "SetBlobMetadata",
    ("GET", "metadata"): "GetBlobMetadata",
    ("HEAD", "metadata"): "GetBlobMetadata",
}


def operation_counts(proxy: RecordingProxy) -> Counter[str]:
    """The proxy's requests by operation, naming the Azure blob operations it leaves as
    ``Other:<method>`` (Set Blob Properties/Metadata)."""
    counts = Counter(proxy.counts)
    if proxy.flavor != "azure":
        return counts
    for operation, method, target, _status in list(proxy.records):
        if not operation.startswith("Other:"):
            continue
        comp = (parse_qs(urlsplit(target).query).get("comp") or [""])[0]
        named = _AZURE_COMP_OPERATIONS.get((method, comp))
        if named is not None and counts[operation] > 0:
            counts[operation] -= 1
            counts[named] += 1
    return +counts  # without the zeros


def listing_seconds(proxy: RecordingProxy) -> float:
    """How long the server took to answer the listing requests the proxy recorded."""
    return sum(proxy.upstream_seconds.get(op, 0.0) for op in CATEGORIES["List"])


def categorize(counts: Counter[str]) -> dict[str, int]:
    """Requests per table column; whatever fits none goes to "other"."""
    out = {name: sum(counts.get(op, 0) for op in ops) for name, ops in CATEGORIES.items()}
    known = frozenset().union(*CATEGORIES.values())
    out["other"] = sum(n for op, n in counts.items() if op not in known)
    return out


#: An object's (Cache-Control, Content-Type); ``None``: not set. A listing without
#: metadata (S3) gives ``None`` instead of the pair.
Headers = tuple[str | None, str | None]
#: An object read back: its bytes and headers (``None`` where only the listing has them).
Stored = tuple[bytes, Headers | None]


class Backend:
    """One server (moto, SeaweedFS, fake-gcs-server or Azurite) behind a RecordingProxy.

    The storages talk to the proxy (delay + counting); verification reads the server
    directly, so it neither waits for the delay nor shows up in the counts.
    """

    kind: Flavor = "s3"
    location = "static"

    def __init__(self, server_name: str, delay: float) -> None:
        self.server: Any = servers.SERVERS[server_name]()
        self.delay = delay
        self.proxy: RecordingProxy | None = None
        self.client: Any = None

    def start(self) -> None:
        self.server.start()
        self.proxy = RecordingProxy(self.server.endpoint, flavor=self.kind, delay=self.delay)
        self.proxy.start()
        self.client = self.server.client()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self.server.stop()

    @property
    def endpoint(self) -> str:
        assert self.proxy is not None
        return self.proxy.endpoint

    def create_bucket(self, name: str) -> None:
        self.server.create_bucket(name)

    def env(self, bucket: str) -> dict[str, str]:
        raise NotImplementedError

    def keys(self, bucket: str) -> dict[str, Headers | None]:
        """Every key under ``location/`` -> its headers where the listing has them (GCS,
        Azure; ``None`` on S3), read from the server, not through the proxy."""
        raise NotImplementedError

    def read(self, bucket: str, key: str) -> Stored | None:
        """The object's bytes and headers (``None`` where only the listing has them)."""
        raise NotImplementedError

    def read_many(self, bucket: str, keys: Iterable[str]) -> dict[str, Stored | None]:
        keys = list(keys)
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(keys, pool.map(lambda k: self.read(bucket, k), keys), strict=True))


class S3Backend(Backend):
    kind = "s3"

    def env(self, bucket: str) -> dict[str, str]:
        return {
            "EXAMPLE_S3_ENDPOINT": self.endpoint,
            "EXAMPLE_S3_BUCKET": bucket,
            "EXAMPLE_S3_LOCATION": self.location,
            "AWS_ACCESS_KEY_ID": servers.S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": servers.S3_SECRET_KEY,
        }

    # -- CloudFront on the same moto server (the preload+cdn variant) ---------------------
    def cloudfront_endpoint(self) -> str:
        """moto's own endpoint, not the proxy's: the invalidation stays out of the counts."""
        return str(self.server.endpoint)

    def _cloudfront(self) -> Any:
        return servers.cloudfront_client(self.cloudfront_endpoint())

    def create_distribution(self, bucket: str) -> str:
        """A CloudFront distribution in front of ``bucket``; its id."""
        return servers.create_distribution(
            self._cloudfront(), bucket, bucket, "preloadstorage benchmark"
        )

    def invalidations(self, distribution: str) -> dict[str, list[str]]:
        """Invalidation id -> its paths, for every invalidation of ``distribution``."""
        client = self._cloudfront()
        listed = client.list_invalidations(DistributionId=distribution)
        found: dict[str, list[str]] = {}
        for item in listed["InvalidationList"].get("Items", []):
            got = client.get_invalidation(DistributionId=distribution, Id=item["Id"])
            paths = got["Invalidation"]["InvalidationBatch"]["Paths"].get("Items", [])
            found[item["Id"]] = sorted(paths)
        return found

    def keys(self, bucket: str) -> dict[str, Headers | None]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=self.location + "/"
        )
        return {item["Key"]: None for page in pages for item in page.get("Contents", ())}

    def read(self, bucket: str, key: str) -> Stored | None:
        try:
            answer = self.client.get_object(Bucket=bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            return None
        body: bytes = answer["Body"].read()
        return body, (answer.get("CacheControl"), answer.get("ContentType"))


class GcsBackend(Backend):
    kind = "gcs"

    def start(self) -> None:
        super().start()
        self.client._bucket_metadata_cache = None  # no background bucket GETs

    def env(self, bucket: str) -> dict[str, str]:
        # django-storages has no endpoint option: the client reads it from the
        # environment. The second variable stops google-cloud-storage's background
        # bucket GET (telemetry), one per process, which would blur the counts.
        return {
            "STORAGE_EMULATOR_HOST": self.endpoint,
            "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA": "true",
            "EXAMPLE_GCS_BUCKET": bucket,
            "EXAMPLE_GCS_LOCATION": self.location,
        }

    def keys(self, bucket: str) -> dict[str, Headers | None]:
        blobs = self.client.list_blobs(bucket, prefix=self.location + "/")
        return {blob.name: (blob.cache_control, blob.content_type) for blob in blobs}

    def read(self, bucket: str, key: str) -> Stored | None:
        from google.api_core.exceptions import NotFound

        try:
            # raw_download: the stored bytes, never a transcoded (gunzipped) copy.
            data: bytes = self.client.bucket(bucket).blob(key).download_as_bytes(raw_download=True)
        except NotFound:
            return None
        return data, None  # the listing has the headers


class AzureBackend(Backend):
    kind = "azure"

    def env(self, bucket: str) -> dict[str, str]:
        return {
            "EXAMPLE_AZURE_CONNECTION_STRING": servers.azure_connection_string(self.endpoint),
            "EXAMPLE_AZURE_CONTAINER": bucket,
            "EXAMPLE_AZURE_LOCATION": self.location,
        }

    def keys(self, bucket: str) -> dict[str, Headers | None]:
        container = self.client.get_container_client(bucket)
        return {
            b.name: (b.content_settings.cache_control, b.content_settings.content_type)
            for b in container.list_blobs(name_starts_with=self.location + "/")
        }

    def read(self, bucket: str, key: str) -> Stored | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            download = self.client.get_blob_client(bucket, key).download_blob()
            data: bytes = download.readall()
        except ResourceNotFoundError:
            return None
        settings = download.properties.content_settings
        return data, (settings.cache_control, settings.content_type)


def make_backend(backend: str, server: str, delay: float) -> Backend:
    if backend == "s3":
        return S3Backend(server, delay)
    if backend == "gcs":
        return GcsBackend("gcs", delay)
    return AzureBackend("azure", delay)
