"""S3 targets: moto's server and SeaweedFS (and LocalStack, when LOCALSTACK_HOST is set)."""

from __future__ import annotations

from typing import Any

from .base import Target, parallel_map


class S3Target(Target):
    flavor = "s3"
    manifest_backend = "preloadstorage.backends.s3.PreloadingS3ManifestStorage"
    static_backend = "preloadstorage.backends.s3.PreloadingS3StaticStorage"
    stock_manifest_backend = "storages.backends.s3.S3ManifestStaticStorage"
    list_ops = frozenset({"ListObjectsV2", "ListObjects"})
    upload_ops = frozenset(
        {"PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload"}
    )
    object_upload_ops = frozenset({"PutObject", "CompleteMultipartUpload"})
    delete_ops = frozenset({"DeleteObject", "DeleteObjects"})
    metadata_ops = frozenset({"HeadObject"})
    read_ops = frozenset({"GetObject"})

    def __init__(self, server: Any, proxy: Any, name: str) -> None:
        super().__init__(server, proxy)
        self.name = name
        self.client = server.client()

    def options(self, bucket: str, location: str = "static", **extra: Any) -> dict[str, Any]:
        return {
            "bucket_name": bucket,
            "location": location,
            "endpoint_url": self.proxy.endpoint,
            "access_key": "test",
            "secret_key": "test",
            "region_name": "us-east-1",
            "addressing_style": "path",
            "querystring_auth": False,
            **extra,
        }

    def example_env(self, bucket: str, location: str = "static") -> dict[str, str]:
        return {
            "EXAMPLE_STORAGE": "s3",
            "EXAMPLE_S3_ENDPOINT": self.proxy.endpoint,
            "EXAMPLE_S3_BUCKET": bucket,
            "EXAMPLE_S3_LOCATION": location,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }

    def cache_control_options(self, value: str) -> dict[str, Any]:
        return {"object_parameters": {"CacheControl": value}}

    def stored_objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys = [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", ())
        ]

        def read(key: str) -> bytes:
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())

        return dict(zip(keys, parallel_map(read, keys), strict=True))

    def metadata(self, bucket: str, key: str) -> dict[str, str | None]:
        head = self.client.head_object(Bucket=bucket, Key=key)
        return {
            "content_type": head.get("ContentType"),
            "cache_control": head.get("CacheControl"),
            "content_encoding": head.get("ContentEncoding"),
        }

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if keys:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
