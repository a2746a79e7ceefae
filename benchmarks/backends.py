"""A storage server behind the recording proxy, per cloud: start, env, direct reads."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from variants import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support import servers
from tests.support.proxy import Flavor, RecordingProxy

#: Table columns and the proxy operation names (tests/support/proxy.py) that go in each.
CATEGORIES: dict[str, frozenset[str]] = {
    "List": frozenset({"ListObjectsV2", "ListObjects", "objects.list", "ListBlobs"}),
    "HEAD": frozenset(
        {"HeadObject", "objects.get", "objects.patch", "GetBlobProperties", "SetBlobProperties"}
    ),
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
    "COPY": frozenset(
        {"CopyObject", "UploadPartCopy", "objects.copy", "objects.rewrite", "CopyBlob"}
    ),
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
#: Operations that create one object each (for the "one PUT per object" budget).
OBJECT_WRITES = frozenset({"PutObject", "CompleteMultipartUpload", "objects.insert", "PutBlob"})


def categorize(counts: Counter[str]) -> dict[str, int]:
    """Requests per table column; whatever fits none goes to "other"."""
    out = {name: sum(counts.get(op, 0) for op in ops) for name, ops in CATEGORIES.items()}
    known = frozenset().union(*CATEGORIES.values())
    out["other"] = sum(n for op, n in counts.items() if op not in known)
    return out


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

    def keys(self, bucket: str) -> list[str]:
        """Every key under ``location/`` (read from the server, not through the proxy)."""
        raise NotImplementedError

    def read(self, bucket: str, key: str) -> bytes | None:
        raise NotImplementedError

    def read_many(self, bucket: str, keys: Iterable[str]) -> dict[str, bytes | None]:
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

    def keys(self, bucket: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=self.location + "/"
        )
        return [item["Key"] for page in pages for item in page.get("Contents", ())]

    def read(self, bucket: str, key: str) -> bytes | None:
        try:
            body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        return body


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

    def keys(self, bucket: str) -> list[str]:
        return [blob.name for blob in self.client.list_blobs(bucket, prefix=self.location + "/")]

    def read(self, bucket: str, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            # raw_download: the stored bytes, never a transcoded (gunzipped) copy.
            data: bytes = self.client.bucket(bucket).blob(key).download_as_bytes(raw_download=True)
        except NotFound:
            return None
        return data


class AzureBackend(Backend):
    kind = "azure"

    def env(self, bucket: str) -> dict[str, str]:
        return {
            "EXAMPLE_AZURE_CONNECTION_STRING": servers.azure_connection_string(self.endpoint),
            "EXAMPLE_AZURE_CONTAINER": bucket,
            "EXAMPLE_AZURE_LOCATION": self.location,
        }

    def keys(self, bucket: str) -> list[str]:
        container = self.client.get_container_client(bucket)
        return [b.name for b in container.list_blobs(name_starts_with=self.location + "/")]

    def read(self, bucket: str, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data: bytes = self.client.get_blob_client(bucket, key).download_blob().readall()
        except ResourceNotFoundError:
            return None
        return data


def make_backend(backend: str, server: str, delay: float) -> Backend:
    if backend == "s3":
        return S3Backend(server, delay)
    if backend == "gcs":
        return GcsBackend("gcs", delay)
    return AzureBackend("azure", delay)
