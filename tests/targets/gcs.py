"""The Google Cloud Storage target: fake-gcs-server behind the recording proxy."""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin
from google.auth.credentials import AnonymousCredentials
from google.cloud.storage import Client
from storages.backends.gcloud import GoogleCloudStorage

from .base import Target


class StockGoogleCloudManifestStorage(ManifestFilesMixin, GoogleCloudStorage):
    """What a stock GCS manifest setup looks like (django-storages ships none)."""


class GcsTarget(Target):
    name = "gcs"
    flavor = "gcs"
    manifest_backend = "preloadstorage.backends.gcloud.PreloadingGoogleCloudManifestStorage"
    static_backend = "preloadstorage.backends.gcloud.PreloadingGoogleCloudStorage"
    stock_manifest_backend = "tests.targets.gcs.StockGoogleCloudManifestStorage"
    list_ops = frozenset({"objects.list"})
    upload_ops = frozenset({"objects.insert", "objects.upload_chunk"})
    # A resumable upload is one objects.insert plus chunks: still one insert per object.
    object_upload_ops = frozenset({"objects.insert"})
    delete_ops = frozenset({"objects.delete", "batch"})
    metadata_ops = frozenset({"objects.get", "objects.patch"})
    read_ops = frozenset({"objects.download"})

    def __init__(self, server: Any, proxy: Any) -> None:
        super().__init__(server, proxy)
        # Inspection talks to the server directly, whatever the environment says.
        self.client = Client(
            project="test",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": server.endpoint},
        )
        self.client._bucket_metadata_cache = None  # no background bucket GETs

    def env(self) -> dict[str, str]:
        # django-storages has no endpoint option: the client reads the emulator's address
        # from the environment. The second variable stops google-cloud-storage 3.17's
        # background bucket GET (telemetry), which would show up in the counts.
        return {
            "STORAGE_EMULATOR_HOST": self.proxy.endpoint,
            "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA": "true",
        }

    def example_env(self, bucket: str, location: str = "static") -> dict[str, str]:
        return {
            **self.env(),
            "EXAMPLE_STORAGE": "gcs",
            "EXAMPLE_GCS_BUCKET": bucket,
            "EXAMPLE_GCS_LOCATION": location,
        }

    def options(self, bucket: str, location: str = "static", **extra: Any) -> dict[str, Any]:
        return {
            "bucket_name": bucket,
            "location": location,
            "project_id": "test",
            "querystring_auth": False,
            **extra,
        }

    def cache_control_options(self, value: str) -> dict[str, Any]:
        return {"object_parameters": {"cache_control": value}}

    def stored_objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        found = {}
        for blob in self.client.list_blobs(bucket, prefix=prefix or None):
            # raw_download: the stored bytes, not what gzip transcoding would serve.
            found[blob.name] = blob.download_as_bytes(raw_download=True)
        return found

    def metadata(self, bucket: str, key: str) -> dict[str, str | None]:
        blob = self.client.bucket(bucket).get_blob(key)
        if blob is None:
            raise KeyError(key)
        return {
            "content_type": blob.content_type,
            "cache_control": blob.cache_control,
            "content_encoding": blob.content_encoding,
        }

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.bucket(bucket).blob(key).upload_from_string(data)

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        for blob in self.client.list_blobs(bucket, prefix=prefix):
            blob.delete()
