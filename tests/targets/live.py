"""The opt-in live tier: the conformance suite against real cloud buckets.

Enabled per cloud by environment variables (and skipped otherwise; ``.ci/run`` never
needs them):

- S3: ``PRELOADSTORAGE_LIVE_S3_BUCKET`` plus credentials botocore finds on its own
  (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, a role) and
  ``AWS_DEFAULT_REGION``; ``AWS_ENDPOINT_URL_S3`` points it at any S3-compatible service.
- GCS: ``PRELOADSTORAGE_LIVE_GCS_BUCKET`` plus application default credentials
  (``GOOGLE_APPLICATION_CREDENTIALS``) and ``GOOGLE_CLOUD_PROJECT``.
- Azure: ``PRELOADSTORAGE_LIVE_AZURE_CONNECTION_STRING`` and
  ``PRELOADSTORAGE_LIVE_AZURE_CONTAINER``.

Each test works under a fresh random prefix of the configured bucket, removed after the
test. There is no proxy in front of a real cloud: request counts come from the storage's
own per-run counters, and tests that need fault injection are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from typing import Any

from .base import Target

#: Requests counted by the storage during the last collectstatic (set by conftest).
LAST_REQUESTS: Counter[str] = Counter()

ENV = {
    "live-s3": ("PRELOADSTORAGE_LIVE_S3_BUCKET",),
    "live-gcs": ("PRELOADSTORAGE_LIVE_GCS_BUCKET",),
    "live-azure": (
        "PRELOADSTORAGE_LIVE_AZURE_CONNECTION_STRING",
        "PRELOADSTORAGE_LIVE_AZURE_CONTAINER",
    ),
}


def available() -> list[str]:
    """The live targets whose environment variables are set."""
    return [name for name, needs in ENV.items() if all(os.environ.get(v) for v in needs)]


class StatsProxy:
    """Stands in for the recording proxy: counts come from the storage's own counters."""

    records: list[tuple[str, str, str, int]] = []

    @property
    def counts(self) -> Counter[str]:
        return LAST_REQUESTS

    def reset(self) -> None:
        LAST_REQUESTS.clear()


class _Client:
    """A 'server' whose client() is the real cloud's."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.endpoint = ""

    def client(self) -> Any:
        return self._client


class LiveTarget(Target):
    """Wraps an emulator target's inspection code around a real bucket and a random prefix."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proxy = StatsProxy()
        self.roots: list[str] = []
        if name == "live-s3":
            import boto3

            from .s3 import S3Target

            self.bucket = os.environ["PRELOADSTORAGE_LIVE_S3_BUCKET"]
            self.inner: Target = S3Target(_Client(boto3.client("s3")), self.proxy, name)
        elif name == "live-gcs":
            from google.cloud.storage import Client

            from .gcs import GcsTarget

            self.bucket = os.environ["PRELOADSTORAGE_LIVE_GCS_BUCKET"]
            self.inner = GcsTarget.__new__(GcsTarget)
            self.inner.client = Client()  # type: ignore[attr-defined]
            self.inner.client._bucket_metadata_cache = None  # type: ignore[attr-defined]
        else:
            from azure.storage.blob import BlobServiceClient

            from .azure import AzureTarget

            self.bucket = os.environ["PRELOADSTORAGE_LIVE_AZURE_CONTAINER"]
            self.inner = AzureTarget.__new__(AzureTarget)
            self.inner.client = BlobServiceClient.from_connection_string(  # type: ignore[attr-defined]
                os.environ["PRELOADSTORAGE_LIVE_AZURE_CONNECTION_STRING"]
            )
        for attr in (
            "flavor",
            "manifest_backend",
            "static_backend",
            "stock_manifest_backend",
            "list_ops",
            "upload_ops",
            "object_upload_ops",
            "delete_ops",
            "metadata_ops",
            "read_ops",
        ):
            setattr(self, attr, getattr(self.inner, attr))

    # A "bucket" handed to the tests is a fresh random prefix of the real bucket.
    def new_bucket(self) -> str:
        root = f"preloadstorage-live-{uuid.uuid4().hex[:16]}"
        self.roots.append(root)
        return root

    def options(self, bucket: str, location: str = "static", **extra: Any) -> dict[str, Any]:
        location = f"{bucket}/{location}"
        if self.name == "live-azure":
            return {
                "connection_string": os.environ["PRELOADSTORAGE_LIVE_AZURE_CONNECTION_STRING"],
                "azure_container": self.bucket,
                "location": location,
                "overwrite_files": True,
                **extra,
            }
        return {
            "bucket_name": self.bucket,
            "location": location,
            "querystring_auth": False,
            **extra,
        }

    def cache_control_options(self, value: str) -> dict[str, Any]:
        return self.inner.cache_control_options(value)

    def stored_objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        found = self.inner.stored_objects(self.bucket, f"{bucket}/{prefix}")
        return {key[len(bucket) + 1 :]: data for key, data in found.items()}

    def metadata(self, bucket: str, key: str) -> dict[str, str | None]:
        return self.inner.metadata(self.bucket, f"{bucket}/{key}")

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.inner.put(self.bucket, f"{bucket}/{key}", data)

    def cleanup(self) -> None:
        """Remove everything the test wrote under its random prefixes."""
        while self.roots:
            self.inner.delete_prefix(self.bucket, self.roots.pop() + "/")
