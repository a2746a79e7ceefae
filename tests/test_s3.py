"""S3-specific behaviour: ETags (multipart, gzip, SSE), permissions, bad settings."""

from __future__ import annotations

import gzip
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from django.core.files.base import ContentFile

from preloadstorage.backends._s3_sdk import copy_args
from preloadstorage.backends.s3 import PreloadingS3ManifestStorage, PreloadingS3Storage, S3Adapter
from preloadstorage.contract import RETRY_ALONE, MaybeMissing, RemoteObject
from preloadstorage.state import STATE_NAME
from tests.conftest import LOCATION, StaticTree, collect, deploy, local_collect
from tests.targets.s3 import S3Target

MIB = 1024 * 1024
STATE_KEY = f"{LOCATION}/{STATE_NAME}"


def adapter(storage: PreloadingS3Storage) -> S3Adapter:
    assert isinstance(storage.preload_adapter, S3Adapter)
    return storage.preload_adapter


def big_bytes(size: int) -> bytes:
    block = bytes(range(256)) * 4096  # 1 MiB, not compressible to nothing
    return (block * (size // len(block) + 1))[:size]


def test_multipart_files_are_skipped_when_unchanged(s3: S3Target, small_tree: StaticTree) -> None:
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
    moto: S3Target, small_tree: StaticTree
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
    # Bytes recognised; the other tool's metadata is unknown: rewritten once, server-side.
    assert moto.count(frozenset({"CopyObject"})) == 1
    assert "1 metadata updated" in result.stdout
    moto.proxy.reset()
    again = collect(moto.static_backend, moto.options(bucket, LOCATION))
    assert again.exit_code == 0, again.stderr
    assert "5 unchanged" in again.stdout
    assert moto.count(frozenset({"CopyObject", "CreateMultipartUpload", "PutObject"})) == 0


def test_gzip_is_byte_exact_with_stock_and_skipped(s3: S3Target, small_tree: StaticTree) -> None:
    ours, stock = s3.new_bucket(), s3.new_bucket()
    assert deploy(s3, ours, gzip=True).exit_code == 0
    result = collect(s3.stock_manifest_backend, s3.options(stock, LOCATION, gzip=True))
    assert result.exit_code == 0, result.stderr
    stored = s3.objects(ours)  # the collection, without the run state object
    assert stored == s3.objects(stock)
    css = f"{LOCATION}/css/vars.css"
    assert stored[css][:2] == b"\x1f\x8b"
    assert s3.metadata(ours, css)["content_encoding"] == "gzip"

    small_tree.touch_all()
    again = deploy(s3, ours, gzip=True)
    assert again.exit_code == 0 and s3.count(s3.upload_ops) == 0


def test_kms_and_sse_c_fingerprints_are_never_trusted() -> None:
    for params in ({"ServerSideEncryption": "aws:kms"}, {"SSECustomerKey": "k" * 32}):
        adapter = PreloadingS3Storage(bucket_name="b", object_parameters=params).preload_adapter
        upload = adapter.prepare("a.css", ContentFile(b"x"))
        same_md5 = RemoteObject(upload.key, 1, datetime.now(timezone.utc), upload.payload.md5.hex())
        assert upload.trusted is False
        assert not adapter.matches(same_md5, upload)
        assert "SSECustomerKey" not in upload.metadata  # a secret, and not metadata
    plain = PreloadingS3Storage(bucket_name="b").preload_adapter
    upload = plain.prepare("a.css", ContentFile(b"x"))
    same_md5 = RemoteObject(upload.key, 1, datetime.now(timezone.utc), upload.payload.md5.hex())
    assert upload.trusted and plain.matches(same_md5, upload)


def test_listing_denied_falls_back_with_one_warning(s3: S3Target, small_tree: StaticTree) -> None:
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


def test_missing_bucket_is_one_clear_error(s3: S3Target, small_tree: StaticTree) -> None:
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


def test_clear_batches_deletes(moto: S3Target, small_tree: StaticTree) -> None:
    bucket = moto.new_bucket()
    for i in range(1005):
        moto.put(bucket, f"{LOCATION}/old/{i}.css", b"x")
    result = deploy(moto, bucket, "--clear")
    assert result.exit_code == 0, result.stderr
    assert moto.count(frozenset({"DeleteObjects"})) == 2
    assert moto.count(frozenset({"DeleteObject"})) == 0
    assert not any("/old/" in key for key in moto.objects(bucket))


def test_checksum_setting_for_s3_compatible_servers(
    s3: S3Target, small_tree: StaticTree, tmp_path: Path
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
    assert STATE_KEY in s3.objects(bucket, state=True)


@pytest.mark.parametrize("use_tz", [True, False])
def test_use_tz_false_still_skips(moto: S3Target, small_tree: StaticTree, use_tz: bool) -> None:
    from django.test import override_settings

    bucket = moto.new_bucket()
    with override_settings(USE_TZ=use_tz):
        assert deploy(moto, bucket).exit_code == 0
        small_tree.touch_all()
        result = deploy(moto, bucket)
    assert result.exit_code == 0, result.stderr
    assert moto.count(moto.upload_ops) == 0


class SmallPagesAdapter(S3Adapter):
    page_size = 4


class SmallPages(PreloadingS3Storage):
    preload_adapter_class = SmallPagesAdapter


def test_big_prefixes_are_listed_folder_by_folder(moto: S3Target) -> None:
    bucket = moto.new_bucket()
    keys = [f"{LOCATION}/root-{i}.txt" for i in range(3)]
    keys += [f"{LOCATION}/{folder}/{i:02d}.css" for folder in "abcdef" for i in range(7)]
    keys.append("elsewhere/x.txt")
    for key in keys:
        moto.put(bucket, key, key.encode())
    adapter = SmallPages(**moto.options(bucket, LOCATION)).preload_adapter
    listed = sorted(obj.key for obj in adapter.list())
    assert listed == sorted(k for k in keys if k.startswith(LOCATION + "/"))
    assert S3Adapter.sequential_pages * SmallPagesAdapter.page_size < len(listed)
    assert moto.count(frozenset({"ListObjectsV2"})) > S3Adapter.sequential_pages


# -- metadata-only changes: CopyObject onto itself ------------------------------------------
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
OLD = {"CacheControl": "max-age=100"}
NEW = {"CacheControl": "max-age=999", "ContentDisposition": "inline"}


def collection(s3: S3Target, bucket: str) -> list[str]:
    """Every key of the collection (the run state object excluded)."""
    return sorted(s3.objects(bucket))


def headers(s3: S3Target, bucket: str, key: str) -> dict[str, str | None]:
    """What the server itself says of one object (not through the proxy)."""
    head = s3.client.head_object(Bucket=bucket, Key=key)
    return {name: head.get(name) for name in ("CacheControl", "ContentDisposition", "ContentType")}


def is_public(s3: S3Target, bucket: str, key: str) -> bool:
    grants = s3.client.get_object_acl(Bucket=bucket, Key=key)["Grants"]
    return any(g["Grantee"].get("URI") == ALL_USERS for g in grants)


def acl_is_honoured(s3: S3Target) -> bool:
    """moto applies canned ACLs sent with PutObject and CopyObject as S3 does. SeaweedFS
    (4.48) ignores x-amz-acl on both (only PutObjectAcl sets an ACL there), so with stock
    django-storages as with us, its objects stay owner-only: assert that instead."""
    return s3.name != "seaweedfs"


def puts(s3: S3Target) -> list[str]:
    return [target for op, _, target, _ in s3.proxy.records if op == "PutObject"]


def assert_only_metadata_rewritten(s3: S3Target, keys: list[str]) -> None:
    assert s3.count(frozenset({"CopyObject"})) == len(keys)
    assert [STATE_NAME in target for target in puts(s3)] == [True]  # the run state only
    assert s3.count(s3.upload_ops - {"PutObject"} | s3.delete_ops | s3.metadata_ops) == 0


@pytest.mark.parametrize("mode", ["plain", "touched", "clear"])
def test_changed_headers_and_acl_are_rewritten_server_side(
    s3: S3Target, small_tree: StaticTree, mode: str
) -> None:
    args = ("--clear",) if mode == "clear" else ()
    bucket = s3.new_bucket()
    first = deploy(s3, bucket, object_parameters=OLD)
    assert first.exit_code == 0, first.stderr
    keys = collection(s3, bucket)
    assert f"{LOCATION}/staticfiles.json" in keys and len(keys) == 9
    assert {headers(s3, bucket, key)["CacheControl"] for key in keys} == {"max-age=100"}
    content_types = {key: headers(s3, bucket, key)["ContentType"] for key in keys}

    if mode == "touched":
        small_tree.touch_all()
    public = deploy(s3, bucket, *args, object_parameters=NEW, default_acl="public-read")
    assert public.exit_code == 0, public.stderr
    assert_only_metadata_rewritten(s3, keys)
    assert f"{len(keys)} metadata updated" in public.stdout
    assert collection(s3, bucket) == keys
    for key in keys:
        assert headers(s3, bucket, key) == {**NEW, "ContentType": content_types[key]}, key
        assert is_public(s3, bucket, key) is acl_is_honoured(s3), key

    # Back to no ACL setting: the copy gives every object the bucket default (private).
    private = deploy(s3, bucket, *args, object_parameters=NEW)
    assert private.exit_code == 0, private.stderr
    assert_only_metadata_rewritten(s3, keys)
    for key in keys:
        assert headers(s3, bucket, key) == {**NEW, "ContentType": content_types[key]}, key
        assert not is_public(s3, bucket, key), key


def test_unchanged_rerun_costs_a_listing_and_two_gets(s3: S3Target, small_tree: StaticTree) -> None:
    bucket = s3.new_bucket()
    options = {"object_parameters": NEW, "default_acl": "public-read"}
    assert deploy(s3, bucket, **options).exit_code == 0
    for touch in (False, True):
        if touch:
            small_tree.touch_all()
        again = deploy(s3, bucket, **options)
        assert again.exit_code == 0, again.stderr
        # One listing page, the manifest (read at start-up) and the run state.
        assert dict(s3.proxy.counts) == {"ListObjectsV2": 1, "GetObject": 2}
        gets = [target for op, _, target, _ in s3.proxy.records if op == "GetObject"]
        assert sorted(target.rsplit("/", 1)[-1] for target in gets) == [
            STATE_NAME,
            "staticfiles.json",
        ]
        assert "9 unchanged" in again.stdout


class ImmutableHashedStorage(PreloadingS3ManifestStorage):
    """Hashed stylesheets never change: tell browsers so (per-name parameters)."""

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        params = dict(super().get_object_parameters(name))
        if re.search(r"\.[0-9a-f]{12}\.css$", name):
            params["CacheControl"] = "public, max-age=31536000, immutable"
        return params


def test_per_name_parameters_from_a_subclass(s3: S3Target, small_tree: StaticTree) -> None:
    bucket = s3.new_bucket()
    assert deploy(s3, bucket, object_parameters=OLD).exit_code == 0
    keys = collection(s3, bucket)
    hashed_css = [k for k in keys if re.search(r"\.[0-9a-f]{12}\.css$", k)]
    assert len(hashed_css) == 2

    s3.proxy.reset()
    backend = f"{__name__}.ImmutableHashedStorage"
    result = collect(backend, s3.options(bucket, LOCATION, object_parameters=OLD))
    assert result.exit_code == 0, result.stderr
    assert_only_metadata_rewritten(s3, hashed_css)
    for key in keys:
        expected = "public, max-age=31536000, immutable" if key in hashed_css else "max-age=100"
        assert headers(s3, bucket, key)["CacheControl"] == expected, key

    s3.proxy.reset()
    again = collect(backend, s3.options(bucket, LOCATION, object_parameters=OLD))
    assert again.exit_code == 0, again.stderr
    assert set(s3.proxy.counts) == {"ListObjectsV2", "GetObject"}


def test_unknown_metadata_is_applied_once_then_stable(s3: S3Target, small_tree: StaticTree) -> None:
    bucket = s3.new_bucket()
    assert deploy(s3, bucket, object_parameters=NEW).exit_code == 0
    keys = collection(s3, bucket)

    # No run state (an upgrade from an older version, or deleted by hand): unknown.
    s3.client.delete_object(Bucket=bucket, Key=STATE_KEY)
    once = deploy(s3, bucket, object_parameters=NEW)
    assert once.exit_code == 0, once.stderr
    assert_only_metadata_rewritten(s3, keys)
    stable = deploy(s3, bucket, object_parameters=NEW)
    assert stable.exit_code == 0, stable.stderr
    assert set(s3.proxy.counts) == {"ListObjectsV2", "GetObject"}


def test_objects_rewritten_by_another_tool_are_fixed_once(
    s3: S3Target, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preloadstorage import state

    # The state trusts writes up to a minute after it (clock skew); don't wait a minute.
    monkeypatch.setattr(state, "_SKEW", timedelta(0))
    bucket = s3.new_bucket()
    assert deploy(s3, bucket, object_parameters=NEW).exit_code == 0
    css = f"{LOCATION}/css/vars.css"
    time.sleep(1.1)  # LastModified has whole seconds on some servers
    data = s3.objects(bucket)[css]
    s3.client.put_object(
        Bucket=bucket, Key=css, Body=data, ContentType="text/css", CacheControl="no-cache"
    )
    once = deploy(s3, bucket, object_parameters=NEW)
    assert once.exit_code == 0, once.stderr
    assert_only_metadata_rewritten(s3, [css])
    assert headers(s3, bucket, css) == {**NEW, "ContentType": "text/css"}
    stable = deploy(s3, bucket, object_parameters=NEW)
    assert stable.exit_code == 0, stable.stderr
    assert set(s3.proxy.counts) == {"ListObjectsV2", "GetObject"}


def test_large_objects_are_copied_in_parts(moto: S3Target, monkeypatch: pytest.MonkeyPatch) -> None:
    from preloadstorage.backends import s3 as s3_module

    monkeypatch.setattr(s3_module, "_COPY_LIMIT", 1)  # as if it were above 5 GiB
    bucket = moto.new_bucket()
    before = adapter(PreloadingS3Storage(**moto.options(bucket, LOCATION, object_parameters=OLD)))
    stored = before.upload(before.prepare("big.bin", ContentFile(big_bytes(9 * MIB))))
    moto.proxy.reset()
    changed = PreloadingS3Storage(
        **moto.options(bucket, LOCATION, object_parameters=NEW, default_acl="public-read")
    ).preload_adapter
    new = changed.prepare("big.bin", ContentFile(big_bytes(9 * MIB)))
    result = changed.update_metadata(stored, new)
    assert moto.count(frozenset({"UploadPartCopy"})) == 2
    assert moto.count(frozenset({"CompleteMultipartUpload"})) == 1
    assert moto.count(frozenset({"PutObject", "UploadPart", "CopyObject"})) == 0
    key = f"{LOCATION}/big.bin"
    assert headers(moto, bucket, key) == {**NEW, "ContentType": "application/octet-stream"}
    assert is_public(moto, bucket, key)
    assert result.fingerprint and result.fingerprint.endswith("-2")
    assert changed.matches(result, new)
    assert moto.objects(bucket)[key] == big_bytes(9 * MIB)


# -- retries -----------------------------------------------------------------------------
@pytest.mark.parametrize("attempts", [1, 3])
def test_max_attempts_counts_attempts(s3: S3Target, attempts: int) -> None:
    bucket = s3.new_bucket()
    s3.proxy.rule = lambda op, method, target: 500 if op == "PutObject" else None
    storage = PreloadingS3Storage(**s3.options(bucket, LOCATION, max_attempts=attempts))
    adapter = storage.preload_adapter
    with pytest.raises(ClientError):
        adapter.upload(adapter.prepare("a.css", ContentFile(b"body {}")))
    assert s3.count(frozenset({"PutObject"})) == attempts


def test_own_retries_setting_wins() -> None:
    storage = PreloadingS3Storage(
        bucket_name="b", max_attempts=3, client_config=Config(retries={"max_attempts": 7})
    )
    assert storage.client_config.retries == {"max_attempts": 7}
    default = PreloadingS3Storage(bucket_name="b", max_attempts=3)
    assert default.client_config.retries == {"mode": "standard", "total_max_attempts": 3}


# -- adapter units -------------------------------------------------------------------------
def test_upload_metadata_is_what_the_settings_give() -> None:
    expires = datetime(2030, 1, 1, tzinfo=timezone.utc)
    storage = PreloadingS3Storage(
        bucket_name="b",
        location=LOCATION,
        gzip=True,
        default_acl="public-read",
        object_parameters={
            "CacheControl": "max-age=9",
            "ContentLanguage": "en",
            "Expires": expires,
            "Metadata": {"team": "web"},
            "StorageClass": "STANDARD_IA",
            "ServerSideEncryption": "AES256",
            "Tagging": "a=b",
            "ExpectedBucketOwner": "123",
        },
    )
    upload = storage.preload_adapter.prepare("css/a.css", ContentFile(b"body {}"))
    assert upload.metadata == {
        "ACL": "public-read",
        "CacheControl": "max-age=9",
        "ContentEncoding": "gzip",
        "ContentLanguage": "en",
        "ContentType": "text/css",
        "Expires": expires.isoformat(),
        "Metadata": {"team": "web"},
        "ServerSideEncryption": "AES256",
        "StorageClass": "STANDARD_IA",
        "Tagging": "a=b",
    }
    json.dumps(upload.metadata)
    assert upload.params["ExpectedBucketOwner"] == "123" and upload.trusted
    copy = copy_args(adapter(storage).client, upload.params)
    assert copy["MetadataDirective"] == copy["TaggingDirective"] == "REPLACE"
    assert copy["Expires"] == expires and copy["ACL"] == "public-read"


def test_cache_policy_sets_s3s_cache_control_parameter() -> None:
    storage = PreloadingS3Storage(
        bucket_name="b", object_parameters=OLD, unhashed_cache_control="no-cache"
    )
    upload = adapter(storage).prepare("a.css", ContentFile(b"body {}"))
    assert upload.params["CacheControl"] == upload.metadata["CacheControl"] == "no-cache"
    assert "cache_control" not in upload.params


def test_delete_batch_maps_outcomes_per_key() -> None:
    from botocore.stub import Stubber

    s3 = adapter(PreloadingS3Storage(bucket_name="b", access_key="k", secret_key="s"))
    keys = ["a", "b", "c"]
    with Stubber(s3.client) as stub:
        errors = [
            {"Key": "a", "Code": "AccessDenied", "Message": "no"},
            {"Key": "b", "Code": "InternalError", "Message": "try again"},
        ]
        stub.add_response("delete_objects", {"Errors": errors})
        stub.add_client_error("delete_objects", "NotImplemented", http_status_code=501)
        stub.add_client_error("delete_objects", "AccessDenied", http_status_code=403)
        outcome = s3.delete_batch(keys)
        assert outcome is not None
        assert isinstance(outcome["a"], RuntimeError) and "AccessDenied" in str(outcome["a"])
        assert outcome["b"] is RETRY_ALONE and outcome["c"] is None
        assert s3.delete_batch(keys) is None  # no batch API on this server
        with pytest.raises(ClientError):
            s3.delete_batch(keys)  # the engine deletes these one by one


def test_read_maps_missing_and_ambiguous(moto: S3Target) -> None:
    bucket = moto.new_bucket()
    adapter = PreloadingS3Storage(**moto.options(bucket, LOCATION, gzip=True)).preload_adapter
    assert adapter.read("nothing.json") is None
    adapter.upload(adapter.prepare("a.css", ContentFile(b"body {}")))
    assert adapter.read("a.css") == b"body {}"  # gzip decoded, as open() gives it
    moto.proxy.rule = lambda op, method, target: 403 if op == "GetObject" else None
    with pytest.raises(MaybeMissing) as caught:
        adapter.read("a.css")
    assert isinstance(caught.value.__cause__, ClientError)


def test_small_uploads_do_not_wait_for_100_continue(moto: S3Target) -> None:
    """Bodies up to 1 MiB go with the headers (no Expect: one round trip less per
    object); larger ones still ask first. Bytes and ETag are unchanged."""
    bucket = moto.new_bucket()
    adapter = PreloadingS3Storage(**moto.options(bucket, LOCATION)).preload_adapter
    sent: list[tuple[str, Any]] = []
    adapter.client.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **kwargs: sent.append((request.url, request.headers.get("Expect"))),
    )
    small, large = b"a" * (1024 * 1024), b"b" * (1024 * 1024 + 1)
    for name, data in (("small.txt", small), ("large.txt", large)):
        written = adapter.upload(adapter.prepare(name, ContentFile(data)))
        listed = adapter.stat(written.key)
        assert listed is not None and adapter.read(name) == data
        assert listed.fingerprint == written.fingerprint
    assert [expect for _, expect in sent] == [None, b"100-continue"]


def test_acl_requests_are_named() -> None:
    from tests.support.proxy import classify_s3

    assert classify_s3("PUT", "/b/k.css", "acl", {}) == "PutObjectAcl"
    assert classify_s3("GET", "/b/k.css", "acl", {}) == "GetObjectAcl"
    assert classify_s3("GET", "/b", "acl", {}) == "GetBucketAcl"
    assert classify_s3("PUT", "/b/k.css", "", {"x-amz-copy-source": "b/k.css"}) == "CopyObject"


# -- private SDK attributes (see the block in preloadstorage/backends/s3.py) ---------------
def test_private_sdk_attributes_are_where_we_use_them() -> None:
    from preloadstorage.backends import s3 as s3_module

    storage = PreloadingS3Storage(bucket_name="b", default_acl="private")
    params = s3_module._write_parameters(storage, "static/a.css", None)
    assert params == {"ContentType": "text/css", "ACL": "private"}
    gz = s3_module._compress(storage, io.BytesIO(b"body {}")).read()
    assert gzip.decompress(gz) == b"body {}"
    sse = {"SSECustomerKey": "k", "SSECustomerAlgorithm": "AES256", "CacheControl": "x"}
    assert s3_module._download_params(sse) == {
        "SSECustomerKey": "k",
        "SSECustomerAlgorithm": "AES256",
    }
    assert s3_module._adjust_chunksize(8 * MIB, 10 * MIB) == 8 * MIB
    assert s3_module._adjust_chunksize(5 * MIB, 100_000 * MIB) > 5 * MIB  # <= 10,000 parts
