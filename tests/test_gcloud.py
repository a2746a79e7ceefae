"""GCS-specific behaviour against a real fake-gcs-server: counts, bytes, metadata, gzip.

Requests are counted by the recording proxy in front of fake-gcs-server
(``tests.support.proxy``).
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile

from preloadstorage.backends.gcloud import (
    GoogleCloudPreloadMixin,
    PreloadingGoogleCloudStorage,
    _operation,
)
from preloadstorage.cache import RemoteObject
from tests.conftest import (
    LOCATION,
    Collected,
    StaticTree,
    collect,
    deploy,
    local_collect,
    prefixed,
)
from tests.targets.base import Target


# -- helpers -----------------------------------------------------------------------------------
def requests_made(target: Target, result: Collected) -> Counter[str]:
    """Requests by operation, as the proxy counted them."""
    return Counter(dict(target.proxy.counts))


# -- scenarios ---------------------------------------------------------------------------------
def test_first_deploy_is_one_upload_per_object_and_byte_exact(
    gcs: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    expected = prefixed(local_collect(tmp_path))
    bucket = gcs.new_bucket()
    result = deploy(gcs, bucket)
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert gcs.objects(bucket) == expected
    assert made["objects.insert"] == len(expected)
    assert made["objects.upload_chunk"] == made["objects.get"] == made["objects.delete"] == 0
    assert made["buckets.get"] == 0  # no background bucket metadata GET
    assert f"{len(expected)} uploaded" in result.stdout and "objects.insert" in result.stdout


def test_unchanged_and_retouched_reruns_only_list(gcs: Target, small_tree: StaticTree) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    before = gcs.objects(bucket)

    again = deploy(gcs, bucket)
    assert again.exit_code == 0, again.stderr
    made = requests_made(gcs, again)
    assert made["objects.list"] == 1
    assert made["objects.download"] <= 1  # the manifest
    assert set(made) <= {"objects.list", "objects.download"}, made
    assert "0 static files copied" in again.stdout

    time.sleep(1.1)  # the bucket's copies are now older than the sources
    small_tree.touch_all()
    touched = deploy(gcs, bucket)
    assert touched.exit_code == 0, touched.stderr
    made = requests_made(gcs, touched)
    assert set(made) <= {"objects.list", "objects.download"}, made
    assert gcs.objects(bucket) == before


def test_leaf_edit_uploads_only_changed_objects(
    gcs: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    bucket = gcs.new_bucket()
    before = local_collect(tmp_path)
    assert deploy(gcs, bucket).exit_code == 0
    small_tree.write("js/app.js", "console.log('v2');\n")
    after = local_collect(tmp_path)
    changed = {name for name, data in after.items() if before.get(name) != data}
    assert changed == {"js/app.js", "staticfiles.json"} | {
        name for name in after if name.startswith("js/app.") and name not in before
    }

    result = deploy(gcs, bucket)
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.insert"] == len(changed) == 3
    assert made["objects.get"] == made["objects.delete"] == 0
    stored = gcs.objects(bucket)
    assert {k: stored[k] for k in prefixed(after)} == prefixed(after)
    assert set(prefixed(before)) <= set(stored)  # the previous hashed names stay


def test_gzip_is_byte_exact_with_stock_and_skipped(gcs: Target, small_tree: StaticTree) -> None:
    ours, stock = gcs.new_bucket(), gcs.new_bucket()
    extra = {"gzip": True, **gcs.cache_control_options("max-age=60")}
    first = deploy(gcs, ours, **extra)
    assert first.exit_code == 0, first.stderr
    # Gzipped files too are one request each (stock: a two-request resumable upload).
    assert requests_made(gcs, first)["objects.upload_chunk"] == 0
    result = collect(gcs.stock_manifest_backend, gcs.options(stock, LOCATION, **extra))
    assert result.exit_code == 0, result.stderr
    stored = gcs.objects(ours)
    assert stored == gcs.objects(stock)
    for key in stored:
        assert gcs.metadata(ours, key) == gcs.metadata(stock, key), key
    css = f"{LOCATION}/css/vars.css"
    assert stored[css][:2] == b"\x1f\x8b"
    assert gcs.metadata(ours, css)["content_encoding"] == "gzip"
    assert gcs.metadata(ours, f"{LOCATION}/img/a.png")["content_encoding"] is None

    small_tree.touch_all()
    again = deploy(gcs, ours, **extra)
    assert again.exit_code == 0, again.stderr
    made = requests_made(gcs, again)
    assert made["objects.insert"] == made["objects.get"] == 0
    assert "0 static files copied" in again.stdout


def test_metadata_matches_the_stock_backend(gcs: Target, small_tree: StaticTree) -> None:
    small_tree.write("data/archive.tar.gz", b"\x1f\x8b\x08\x00" + bytes(64))  # mime encoding
    small_tree.write("data/blob.unknownext", b"?")
    extra = {
        "object_parameters": {"cache_control": "public, max-age=31536000", "metadata": {"k": "v"}}
    }
    ours, stock = gcs.new_bucket(), gcs.new_bucket()
    assert deploy(gcs, ours, **extra).exit_code == 0
    result = collect(gcs.stock_manifest_backend, gcs.options(stock, LOCATION, **extra))
    assert result.exit_code == 0, result.stderr
    stored = gcs.objects(ours)
    assert stored == gcs.objects(stock)
    for key in stored:
        assert gcs.metadata(ours, key) == gcs.metadata(stock, key), key
    css = gcs.metadata(ours, f"{LOCATION}/css/base.css")
    assert css == {
        "content_type": "text/css",
        "cache_control": "public, max-age=31536000",
        "content_encoding": None,
    }
    assert gcs.metadata(ours, f"{LOCATION}/data/archive.tar.gz")["content_encoding"] == "gzip"


def test_crc32c_only_objects_are_compared_by_crc32c(
    gcs: Target, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.storage.blob import Blob

    bucket = gcs.new_bucket()
    client: Any = gcs.client  # type: ignore[attr-defined]
    png = small_tree.path("img/a.png").read_bytes()
    js = small_tree.path("js/app.js").read_bytes()
    for key, data in ((f"{LOCATION}/img/a.png", png), (f"{LOCATION}/js/app.js", js + b"//x")):
        parts = [client.bucket(bucket).blob(f"parts/{key}.{i}") for i in (0, 1)]
        middle = len(data) // 2
        parts[0].upload_from_string(data[:middle])
        parts[1].upload_from_string(data[middle:])
        client.bucket(bucket).blob(key).compose(parts)
    # Real GCS gives composite objects no md5Hash; fake-gcs-server computes one anyway,
    # so hide it, as GCS would, from the listing the storage reads.
    real_md5 = Blob.md5_hash
    monkeypatch.setattr(
        Blob,
        "md5_hash",
        property(lambda blob: None if blob.name.startswith(LOCATION) else real_md5.fget(blob)),
    )
    result = collect(gcs.static_backend, gcs.options(bucket, LOCATION))
    assert result.exit_code == 0, result.stderr
    assert "1 unmodified" in result.stdout  # a.png, by crc32c; app.js differs: uploaded
    made = requests_made(gcs, result)
    assert made["objects.insert"] == 3  # base.css, vars.css, app.js
    assert gcs.objects(bucket, f"{LOCATION}/js/")[f"{LOCATION}/js/app.js"] == js


def test_fingerprints_md5_and_crc32c() -> None:
    storage = PreloadingGoogleCloudStorage(bucket_name="b", location=LOCATION)
    upload = storage._preload_prepare("a.css", ContentFile(b"body{}"))
    assert upload.key == f"{LOCATION}/a.css"
    assert upload.params["content_type"] == "text/css"
    md5 = "md5:" + base64.b64encode(upload.payload.md5).decode()
    crc = "crc32c:" + base64.b64encode(upload.payload.crc32c).decode()
    now = datetime.now(timezone.utc)
    for fingerprint, size, expected in (
        (md5, 6, True),
        (crc, 6, True),
        (md5, 7, False),
        ("md5:AAAAAAAAAAAAAAAAAAAAAA==", 6, False),
        ("crc32c:AAAAAA==", 6, False),
        ("etag:x", 6, False),
        (None, 6, False),
    ):
        remote = RemoteObject(upload.key, size, now, fingerprint)
        assert storage._preload_matches(remote, upload) is expected, fingerprint


def test_clear_removes_stale_objects_across_listing_pages(
    gcs: Target, small_tree: StaticTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    # 9 live + 25 stale objects, 10 per page: 4 listing pages (fake-gcs-server stores
    # ~200 objects/s, so real 1000-object pages would make this test slow).
    monkeypatch.setattr(GoogleCloudPreloadMixin, "preload_page_size", 10)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: gcs.put(bucket, f"{LOCATION}/old/{i}.css", b"x"), range(25)))
    gcs.put(bucket, "outside/keep.txt", b"not ours")

    result = deploy(gcs, bucket, "--clear")

    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.list"] == 4
    assert made["objects.delete"] == 25 and made["batch"] == 0  # no batch API here
    assert made["objects.insert"] == 0
    stored = gcs.objects(bucket)
    assert {k: v for k, v in stored.items() if k.startswith(LOCATION + "/")} == prefixed(
        local_collect(tmp_path)
    )
    assert stored["outside/keep.txt"] == b"not ours"
    assert "25 deleted" in result.stdout


def test_batch_delete_falls_back_to_single_deletes(
    gcs: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = gcs.new_bucket()
    keys = [f"{LOCATION}/old/{i}.css" for i in range(3)]
    for key in keys:
        gcs.put(bucket, key, b"x")
    storage = PreloadingGoogleCloudStorage(bucket_name=bucket, location=LOCATION)
    # As on real GCS: try the batch endpoint, which fake-gcs-server does not have.
    monkeypatch.setattr(GoogleCloudPreloadMixin, "_preload_batch_supported", lambda self: True)
    assert storage._preload_delete([*keys, f"{LOCATION}/missing.css"]) == []
    assert gcs.objects(bucket) == {}
    assert storage.__dict__.get("_preload_no_batch") is True


def test_dry_run_writes_nothing(gcs: Target, small_tree: StaticTree) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    gcs.put(bucket, f"{LOCATION}/stale.txt", b"stale")
    small_tree.write("js/app.js", "console.log('changed');\n")
    before = gcs.objects(bucket)

    result = deploy(gcs, bucket, "--clear", "--dry-run")

    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert not {op for op in made if op not in ("objects.list", "objects.download")}, made
    assert gcs.objects(bucket) == before


def test_listing_denied_falls_back_with_one_warning(
    gcs: Target, small_tree: StaticTree, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    small_tree.write("js/app.js", "console.log('v2');\n")
    gcs.proxy.deny_list = True  # type: ignore[attr-defined]
    result = deploy(gcs, bucket)
    gcs.proxy.deny_list = False  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.stderr
    # On stderr, or on the "preloadstorage" logger when it has a handler (pytest's).
    output = result.stdout + result.stderr + caplog.text
    assert output.count("Grant storage.objects.list") == 1
    made = requests_made(gcs, result)
    assert made["objects.get"] > 0  # the slower, per-file path
    assert made["objects.insert"] == 3  # app.js, its hashed copy, the manifest
    stored = gcs.objects(bucket)
    paths = json.loads(stored[f"{LOCATION}/staticfiles.json"])["paths"]
    assert stored[f"{LOCATION}/{paths['js/app.js']}"] == b"console.log('v2');\n"


def test_transient_errors_are_retried_up_to_max_attempts(
    gcs: Target, small_tree: StaticTree
) -> None:
    failed: set[str] = set()

    def fail_first_attempt(operation: str, method: str, target: str) -> int | None:
        # Each operation's first request answers 503 (uploads: the first one only).
        if operation in failed:
            return None
        failed.add(operation)
        return 503

    bucket = gcs.new_bucket()
    gcs.proxy.rule = fail_first_attempt  # type: ignore[attr-defined]
    result = deploy(gcs, bucket)
    assert result.exit_code == 0, result.stderr
    assert {"objects.list", "objects.insert"} <= failed
    assert len(gcs.objects(bucket)) == 9

    other = gcs.new_bucket()
    gcs.proxy.rule = lambda op, method, target: 503 if op == "objects.insert" else None  # type: ignore[attr-defined]
    result = deploy(gcs, other, max_attempts=1)
    assert result.exit_code == 1
    # Once per file, no retry; the manifest is never sent after a failed upload.
    assert requests_made(gcs, result)["objects.insert"] == 8
    assert "503" in str(result.error)


def test_missing_bucket_is_one_clear_error(gcs: Target, small_tree: StaticTree) -> None:
    result = deploy(gcs, "no-such-bucket-here")
    assert result.exit_code == 1
    message = str(result.error)
    assert "no-such-bucket-here" in message and "GS_BUCKET_NAME" in message
    assert "\n" not in message


def test_unreachable_endpoint_is_one_clear_error(
    small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    monkeypatch.setenv("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "true")
    options = {"bucket_name": "b", "location": LOCATION, "project_id": "test", "max_attempts": 1}
    started = time.monotonic()
    result = collect("preloadstorage.backends.gcloud.PreloadingGoogleCloudManifestStorage", options)
    assert result.exit_code == 1
    assert "STORAGE_EMULATOR_HOST" in str(result.error)
    assert time.monotonic() - started < 10  # max_attempts=1: no backoff


def test_pool_holds_max_workers_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    storage = PreloadingGoogleCloudStorage(bucket_name="b", project_id="test", max_workers=32)
    session = storage.client._http
    assert session.adapters["http://"]._pool_maxsize == 32
    assert session.adapters["https://"]._pool_maxsize == 32
    assert storage.client._bucket_metadata_cache is None


@pytest.mark.parametrize(
    ("method", "url", "operation"),
    [
        ("GET", "http://h/storage/v1/b/bk/o?prefix=static%2F", "objects.list"),
        ("GET", "http://h/storage/v1/b/bk/o/static%2Fa.css", "objects.get"),
        ("DELETE", "http://h/storage/v1/b/bk/o/static%2Fa.css", "objects.delete"),
        ("PATCH", "http://h/storage/v1/b/bk/o/a", "objects.patch"),
        ("POST", "http://h/storage/v1/b/bk/o/a/compose", "objects.compose"),
        ("POST", "http://h/upload/storage/v1/b/bk/o?uploadType=multipart", "objects.insert"),
        ("PUT", "http://h/upload/storage/v1/b/bk/o?upload_id=1", "objects.upload_chunk"),
        ("GET", "http://h/download/storage/v1/b/bk/o/a?alt=media", "objects.download"),
        ("GET", "http://h/storage/v1/b/bk/o/a?alt=media", "objects.download"),
        ("POST", "http://h/batch/storage/v1", "batch"),
        ("GET", "http://h/storage/v1/b/bk", "buckets.get"),
        ("POST", "http://h/storage/v1/b?project=test", "buckets.insert"),
    ],
)  # fmt: skip
def test_request_operations(method: str, url: str, operation: str) -> None:
    assert _operation(method, url) == operation
