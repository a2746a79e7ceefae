"""S3-specific behaviour: ETags (multipart, gzip, SSE), permissions, bad settings."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from django.core.files.base import ContentFile

from preloadstorage.backends.s3 import PreloadingS3Storage
from preloadstorage.cache import RemoteObject
from tests.conftest import LOCATION, StaticTree, collect, deploy, local_collect
from tests.targets.base import Target

MIB = 1024 * 1024


def big_bytes(size: int) -> bytes:
    block = bytes(range(256)) * 4096  # 1 MiB, not compressible to nothing
    return (block * (size // len(block) + 1))[:size]


def test_multipart_files_are_skipped_when_unchanged(s3: Target, small_tree: StaticTree) -> None:
    small_tree.write("media/big.bin", big_bytes(9 * MIB))
    bucket = s3.new_bucket()
    first = deploy(s3, bucket)
    assert first.exit_code == 0, first.stderr
    assert s3.count(frozenset({"CreateMultipartUpload"})) == 2  # original + hashed copy
    assert s3.objects(bucket)[f"{LOCATION}/media/big.bin"] == big_bytes(9 * MIB)

    small_tree.touch_all()
    again = deploy(s3, bucket)
    assert again.exit_code == 0, again.stderr
    assert s3.count(s3.upload_ops) == 0


def test_multipart_etag_from_another_part_size_is_recognised(
    moto: Target, small_tree: StaticTree
) -> None:
    data = big_bytes(11 * MIB)
    small_tree.write("media/big.bin", data)
    bucket = moto.new_bucket()
    # Uploaded by another tool with 5 MiB parts: ETag "...-3".
    moto.client.upload_fileobj(
        io.BytesIO(data),
        bucket,
        f"{LOCATION}/media/big.bin",
        Config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB),
    )
    result = collect(moto.static_backend, moto.options(bucket, LOCATION))
    assert result.exit_code == 0, result.stderr
    assert moto.count(frozenset({"CreateMultipartUpload"})) == 0
    assert "1 unchanged" in result.stdout


def test_gzip_is_byte_exact_with_stock_and_skipped(s3: Target, small_tree: StaticTree) -> None:
    ours, stock = s3.new_bucket(), s3.new_bucket()
    assert deploy(s3, ours, gzip=True).exit_code == 0
    result = collect(s3.stock_manifest_backend, s3.options(stock, LOCATION, gzip=True))
    assert result.exit_code == 0, result.stderr
    stored = s3.objects(ours)
    assert stored == s3.objects(stock)
    css = f"{LOCATION}/css/vars.css"
    assert stored[css][:2] == b"\x1f\x8b"
    assert s3.metadata(ours, css)["content_encoding"] == "gzip"

    small_tree.touch_all()
    again = deploy(s3, ours, gzip=True)
    assert again.exit_code == 0 and s3.count(s3.upload_ops) == 0


def test_kms_and_sse_c_fingerprints_are_never_trusted() -> None:
    for params in ({"ServerSideEncryption": "aws:kms"}, {"SSECustomerKey": "k" * 32}):
        storage = PreloadingS3Storage(bucket_name="b", object_parameters=params)
        upload = storage._preload_prepare("a.css", ContentFile(b"x"))
        same_md5 = RemoteObject(upload.key, 1, datetime.now(timezone.utc), upload.payload.md5.hex())
        assert upload.extra["trusted"] is False
        assert not storage._preload_matches(same_md5, upload)
    plain = PreloadingS3Storage(bucket_name="b")
    upload = plain._preload_prepare("a.css", ContentFile(b"x"))
    same_md5 = RemoteObject(upload.key, 1, datetime.now(timezone.utc), upload.payload.md5.hex())
    assert plain._preload_matches(same_md5, upload)


def test_listing_denied_falls_back_with_one_warning(s3: Target, small_tree: StaticTree) -> None:
    bucket = s3.new_bucket()
    assert deploy(s3, bucket).exit_code == 0
    small_tree.write("js/app.js", "console.log('v2');\n")
    s3.proxy.deny_list = True
    result = deploy(s3, bucket)
    s3.proxy.deny_list = False
    assert result.exit_code == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("s3:ListBucket") == 1
    assert s3.count(s3.metadata_ops) > 0  # the slower, per-file path
    paths = json.loads(s3.objects(bucket)[f"{LOCATION}/staticfiles.json"])["paths"]
    assert s3.objects(bucket)[f"{LOCATION}/{paths['js/app.js']}"] == b"console.log('v2');\n"


def test_missing_bucket_is_one_clear_error(s3: Target, small_tree: StaticTree) -> None:
    result = deploy(s3, "no-such-bucket-here")
    assert result.exit_code == 1
    message = str(result.error)
    assert "no-such-bucket-here" in message and "AWS_STORAGE_BUCKET_NAME" in message
    assert "\n" not in message
    assert s3.count(s3.upload_ops | s3.delete_ops) == 0


def test_unreachable_endpoint_is_one_clear_error(small_tree: StaticTree) -> None:
    options = {
        "bucket_name": "b",
        "location": LOCATION,
        "endpoint_url": "http://127.0.0.1:9",
        "access_key": "test",
        "secret_key": "test",
        "region_name": "us-east-1",
        "client_config": Config(retries={"max_attempts": 1}, connect_timeout=1),
    }
    result = collect("preloadstorage.backends.s3.PreloadingS3ManifestStorage", options)
    assert result.exit_code == 1
    assert "endpoint_url" in str(result.error)


def test_bad_credentials_are_one_clear_error_without_secrets(small_tree: StaticTree) -> None:
    from tests.conftest import make_target

    seaweed = make_target("seaweedfs")
    bucket = seaweed.new_bucket()
    options = seaweed.options(bucket, LOCATION, access_key="test", secret_key="wrong-secret-x")
    result = collect(seaweed.manifest_backend, options)
    assert result.exit_code == 1
    message = str(result.error)
    assert "credentials" in message and "wrong-secret-x" not in message
    assert seaweed.objects(bucket) == {}


def test_clear_batches_deletes(moto: Target, small_tree: StaticTree) -> None:
    bucket = moto.new_bucket()
    for i in range(1005):
        moto.put(bucket, f"{LOCATION}/old/{i}.css", b"x")
    result = deploy(moto, bucket, "--clear")
    assert result.exit_code == 0, result.stderr
    assert moto.count(frozenset({"DeleteObjects"})) == 2
    assert moto.count(frozenset({"DeleteObject"})) == 0
    assert not any("/old/" in key for key in moto.objects(bucket))


def test_checksum_setting_for_s3_compatible_servers(
    s3: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    config = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"},
    )
    bucket = s3.new_bucket()
    result = deploy(s3, bucket, client_config=config)
    assert result.exit_code == 0, result.stderr
    expected = {f"{LOCATION}/{k}": v for k, v in local_collect(tmp_path).items()}
    assert s3.objects(bucket) == expected


@pytest.mark.parametrize("use_tz", [True, False])
def test_use_tz_false_still_skips(moto: Target, small_tree: StaticTree, use_tz: bool) -> None:
    from django.test import override_settings

    bucket = moto.new_bucket()
    with override_settings(USE_TZ=use_tz):
        assert deploy(moto, bucket).exit_code == 0
        small_tree.touch_all()
        result = deploy(moto, bucket)
    assert result.exit_code == 0, result.stderr
    assert moto.count(moto.upload_ops) == 0


class SmallPages(PreloadingS3Storage):
    preload_page_size = 4


def test_big_prefixes_are_listed_folder_by_folder(moto: Target) -> None:
    from preloadstorage.backends import s3 as s3_module

    bucket = moto.new_bucket()
    keys = [f"{LOCATION}/root-{i}.txt" for i in range(3)]
    keys += [f"{LOCATION}/{folder}/{i:02d}.css" for folder in "abcdef" for i in range(7)]
    keys.append("elsewhere/x.txt")
    for key in keys:
        moto.put(bucket, key, key.encode())
    storage = SmallPages(**moto.options(bucket, LOCATION))
    listed = sorted(obj.key for obj in storage._preload_list())
    assert listed == sorted(k for k in keys if k.startswith(LOCATION + "/"))
    assert s3_module._SEQUENTIAL_PAGES * SmallPages.preload_page_size < len(listed)
    assert moto.count(frozenset({"ListObjectsV2"})) > s3_module._SEQUENTIAL_PAGES
