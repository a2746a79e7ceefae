"""The Azure Blob target: Azurite behind the recording proxy."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from django.contrib.staticfiles.storage import ManifestFilesMixin
from storages.backends.azure_storage import AzureStorage

from .base import Target


class StockAzureManifestStorage(ManifestFilesMixin, AzureStorage):
    """What a stock Azure manifest setup looks like (django-storages ships none).

    Two things every such project adds: overwriting in place (AzureStorage defaults to
    random suffixes), and the usual work-around for django-storages#630 (a missing
    manifest raises ``ResourceNotFoundError``, so a first deploy would crash).
    """

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), "overwrite_files": True}

    def read_manifest(self) -> str | None:
        try:
            return super().read_manifest()  # type: ignore[no-any-return]
        except ResourceNotFoundError:
            return None


class AzureTarget(Target):
    name = "azure"
    flavor = "azure"
    manifest_backend = "preloadstorage.backends.azure_storage.PreloadingAzureManifestStorage"
    static_backend = "preloadstorage.backends.azure_storage.PreloadingAzureStorage"
    stock_manifest_backend = "tests.targets.azure.StockAzureManifestStorage"
    list_ops = frozenset({"ListBlobs"})
    upload_ops = frozenset({"PutBlob", "PutBlock", "PutBlockList"})
    # A block upload is many Put Block and one Put Block List: one of those per object.
    object_upload_ops = frozenset({"PutBlob", "PutBlockList"})
    delete_ops = frozenset({"DeleteBlob", "BlobBatch"})
    metadata_ops = frozenset({"GetBlobProperties", "GetContainerProperties"})
    read_ops = frozenset({"GetBlob"})

    def __init__(self, server: Any, proxy: Any) -> None:
        super().__init__(server, proxy)
        # Inspection talks to the server directly; no retries (the SDK waits ~15 s first).
        self.client = server.client(retry_total=0)

    def example_env(self, bucket: str, location: str = "static") -> dict[str, str]:
        from tests.support.servers import azure_connection_string

        return {
            "EXAMPLE_STORAGE": "azure",
            "EXAMPLE_AZURE_CONNECTION_STRING": azure_connection_string(self.proxy.endpoint),
            "EXAMPLE_AZURE_CONTAINER": bucket,
            "EXAMPLE_AZURE_LOCATION": location,
        }

    def options(self, bucket: str, location: str = "static", **extra: Any) -> dict[str, Any]:
        from tests.support.servers import azure_connection_string

        return {
            "connection_string": azure_connection_string(self.proxy.endpoint),
            "azure_container": bucket,
            "location": location,
            "overwrite_files": True,
            **extra,
        }

    def cache_control_options(self, value: str) -> dict[str, Any]:
        return {"cache_control": value}

    def stored_objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        container = self.client.get_container_client(bucket)
        # decompress=False: the stored bytes, even of a blob with Content-Encoding: gzip.
        return {
            blob.name: container.download_blob(blob.name, decompress=False).readall()
            for blob in container.list_blobs(name_starts_with=prefix or None)
        }

    def metadata(self, bucket: str, key: str) -> dict[str, str | None]:
        settings = self.client.get_blob_client(bucket, key).get_blob_properties().content_settings
        return {
            "content_type": settings.content_type,
            "cache_control": settings.cache_control,
            "content_encoding": settings.content_encoding,
        }

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.get_blob_client(bucket, key).upload_blob(data, overwrite=True)

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        container = self.client.get_container_client(bucket)
        for blob in container.list_blobs(name_starts_with=prefix):
            container.delete_blob(blob.name)
