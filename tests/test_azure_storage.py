"""Azure-specific behaviour against a real Azurite: counts, bytes, metadata, Content-MD5.

Requests are counted by the recording proxy in front of Azurite (``tests.support.proxy``); the
storage's own counters (its summary line) are checked against it once.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from storages.backends.azure_storage import AzureStorage

from preloadstorage.backends.azure_storage import PreloadingAzureStorage, _operation
from tests.conftest import (
    LOCATION,
    Collected,
    StaticTree,
    collect,
    deploy,
    local_collect,
    prefixed,
)
from tests.support.servers import AZURE_KEY, azure_connection_string
from tests.targets.azure import AzureTarget

KIB = 1024
MIB = 1024 * KIB


# -- helpers -----------------------------------------------------------------------------------
def made(target: AzureTarget) -> Counter[str]:
    return Counter(dict(target.proxy.counts))


def summary_counts(result: Collected) -> Counter[str]:
    """Requests by operation, as the storage's own summary line reports them."""
    found: Counter[str] = Counter()
    for line in re.findall(r"requests: (.*)", result.stdout):
        for count, op in re.findall(r"(\d+) ([\w:]+)", line):
            found[op] += int(count)
    return found


def content_md5(target: AzureTarget, container: str, key: str) -> str | None:
    blob = target.client.get_blob_client(container, key).get_blob_properties()
    md5 = blob.content_settings.content_md5
    return base64.b64encode(bytes(md5)).decode() if md5 else None


def big_bytes(size: int) -> bytes:
    return (bytes(range(256)) * (size // 256 + 1))[:size]


# -- scenarios ---------------------------------------------------------------------------------
def test_first_deploy_is_one_put_per_object_and_byte_exact(
    azure: AzureTarget, small_tree: StaticTree, tmp_path: Path
) -> None:
    expected = prefixed(local_collect(tmp_path))
    container = azure.new_bucket()

    result = deploy(azure, container)  # stock ManifestFilesMixin crashes here (#630)

    assert result.exit_code == 0, result.stderr
    assert azure.objects(container) == expected
    counts = made(azure)
    assert counts["PutBlob"] == len(expected) == 9
    assert counts["ListBlobs"] == 1 and counts["GetBlob"] == 1  # the missing manifest
    assert sum(counts.values()) == len(expected) + 2, counts
    # The storage's own counters saw the same, the start-up manifest read included.
    assert summary_counts(result) == counts  # the start-up manifest read included
    assert f"{len(expected)} uploaded" in result.stdout


class PlainStockAzureManifestStorage(ManifestFilesMixin, AzureStorage):
    """ManifestFilesMixin over AzureStorage, without the work-around for #630."""


def test_stock_manifest_storage_crashes_on_a_first_deploy(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    # Why PreloadingAzureManifestStorage reads the manifest itself (django-storages#630).
    backend = f"{__name__}.PlainStockAzureManifestStorage"
    with pytest.raises(ResourceNotFoundError):
        collect(backend, azure.options(azure.new_bucket(), LOCATION))


def test_unchanged_and_retouched_reruns_only_list(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    container = azure.new_bucket()
    assert deploy(azure, container).exit_code == 0
    before = azure.objects(container)

    again = deploy(azure, container)
    assert again.exit_code == 0, again.stderr
    assert made(azure) == Counter({"ListBlobs": 1, "GetBlob": 1}), made(azure)
    assert "0 static files copied" in again.stdout

    time.sleep(1.1)  # the container's copies are now older than the sources
    small_tree.touch_all()
    touched = deploy(azure, container)
    assert touched.exit_code == 0, touched.stderr
    assert made(azure) == Counter({"ListBlobs": 1, "GetBlob": 1}), made(azure)
    assert azure.objects(container) == before


def test_leaf_edit_uploads_only_changed_objects(
    azure: AzureTarget, small_tree: StaticTree, tmp_path: Path
) -> None:
    container = azure.new_bucket()
    before = local_collect(tmp_path)
    assert deploy(azure, container).exit_code == 0
    small_tree.write("js/app.js", "console.log('v2');\n")
    after = local_collect(tmp_path)
    changed = {name for name, data in after.items() if before.get(name) != data}

    result = deploy(azure, container)

    assert result.exit_code == 0, result.stderr
    counts = made(azure)
    assert counts["PutBlob"] == len(changed) == 3  # app.js, its hashed copy, the manifest
    assert counts["GetBlobProperties"] == counts["DeleteBlob"] == counts["BlobBatch"] == 0
    stored = azure.objects(container)
    assert {k: stored[k] for k in prefixed(after)} == prefixed(after)
    assert set(prefixed(before)) <= set(stored)  # the previous hashed names stay
    uploads = [r[2] for r in azure.proxy.records if r[0] == "PutBlob"]
    assert "staticfiles.json" in uploads[-1]  # the manifest goes last


def test_block_uploads_carry_content_md5_and_are_skipped(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    data = big_bytes(2 * MIB + 5)
    small_tree.write("media/big.bin", data)
    container = azure.new_bucket()
    # Lower the SDK's single-put limit (64 MiB) so that this file goes as blocks.
    sizes = {"client_options": {"max_single_put_size": MIB, "max_block_size": 512 * KIB}}

    first = deploy(azure, container, **sizes)

    assert first.exit_code == 0, first.stderr
    counts = made(azure)
    assert counts["PutBlockList"] == 2  # the original and its hashed copy
    assert counts["PutBlock"] == 2 * 5
    assert azure.objects(container)[f"{LOCATION}/media/big.bin"] == data
    local = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert content_md5(azure, container, f"{LOCATION}/media/big.bin") == local

    small_tree.touch_all()
    again = deploy(azure, container, **sizes)
    assert again.exit_code == 0, again.stderr
    assert not set(made(azure)) & azure.upload_ops, made(azure)


def test_metadata_and_bytes_match_the_stock_backend(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    small_tree.write("data/archive.tar.gz", b"\x1f\x8b\x08\x00" + bytes(64))  # an encoding
    small_tree.write("data/blob.unknownext", b"?")
    extra = {
        "cache_control": "public, max-age=31536000",
        "object_parameters": {"content_disposition": "inline", "content_language": "en"},
    }
    ours, stock = azure.new_bucket(), azure.new_bucket()
    assert deploy(azure, ours, **extra).exit_code == 0
    result = collect(azure.stock_manifest_backend, azure.options(stock, LOCATION, **extra))
    assert result.exit_code == 0, result.stderr

    stored = azure.objects(ours)
    assert stored == azure.objects(stock)
    for key in stored:
        theirs = azure.client.get_blob_client(stock, key).get_blob_properties().content_settings
        mine = azure.client.get_blob_client(ours, key).get_blob_properties().content_settings
        assert dict(mine) == dict(theirs), key  # type, encoding, cache, disposition, MD5...
    assert azure.metadata(ours, f"{LOCATION}/css/base.css") == {
        "content_type": "text/css",
        "cache_control": "public, max-age=31536000",
        "content_encoding": None,
    }
    assert azure.metadata(ours, f"{LOCATION}/data/archive.tar.gz")["content_encoding"] == "gzip"
    unknown = azure.metadata(ours, f"{LOCATION}/data/blob.unknownext")
    assert unknown["content_type"] == "application/octet-stream"


def test_clear_removes_stale_blobs_with_blob_batches(
    azure: AzureTarget, small_tree: StaticTree, tmp_path: Path
) -> None:
    container = azure.new_bucket()
    assert deploy(azure, container).exit_code == 0
    for i in range(300):  # more than one batch (256)
        azure.put(container, f"{LOCATION}/old/{i}.css", b"x")
    azure.put(container, "outside/keep.txt", b"not ours")

    result = deploy(azure, container, "--clear")

    assert result.exit_code == 0, result.stderr
    counts = made(azure)
    assert counts["BlobBatch"] == 2 and counts["DeleteBlob"] == 0
    assert not set(counts) & azure.upload_ops, counts
    stored = azure.objects(container)
    assert {k: v for k, v in stored.items() if k.startswith(LOCATION + "/")} == prefixed(
        local_collect(tmp_path)
    )
    assert stored["outside/keep.txt"] == b"not ours"
    assert "300 deleted" in result.stdout


def test_clear_without_blob_batch_deletes_one_by_one(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    container = azure.new_bucket()
    assert deploy(azure, container).exit_code == 0
    for i in range(5):
        azure.put(container, f"{LOCATION}/old/{i}.css", b"x")
    azure.proxy.rule = lambda op, method, target: 400 if op == "BlobBatch" else None

    result = deploy(azure, container, "--clear")

    assert result.exit_code == 0, result.stderr
    assert made(azure)["BlobBatch"] == 1 and made(azure)["DeleteBlob"] == 5
    assert not any("/old/" in key for key in azure.objects(container))


def test_dry_run_writes_nothing(azure: AzureTarget, small_tree: StaticTree) -> None:
    container = azure.new_bucket()
    assert deploy(azure, container).exit_code == 0
    azure.put(container, f"{LOCATION}/stale.txt", b"stale")
    small_tree.write("js/app.js", "console.log('changed');\n")
    before = azure.objects(container)

    result = deploy(azure, container, "--clear", "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert set(made(azure)) <= {"ListBlobs", "GetBlob"}, made(azure)
    assert azure.objects(container) == before


def test_overwrite_files_defaults_to_true_and_false_is_refused() -> None:
    options = {"connection_string": azure_connection_string("http://127.0.0.1:9")}
    assert PreloadingAzureStorage(azure_container="c", **options).overwrite_files is True
    with pytest.raises(ImproperlyConfigured, match="overwrite_files"):
        PreloadingAzureStorage(azure_container="c", overwrite_files=False, **options)
    with (
        override_settings(AZURE_OVERWRITE_FILES=False),
        pytest.raises(ImproperlyConfigured, match="AZURE_OVERWRITE_FILES"),
    ):
        PreloadingAzureStorage(azure_container="c", **options)


def test_listing_denied_falls_back_with_one_warning(
    azure: AzureTarget, small_tree: StaticTree, caplog: pytest.LogCaptureFixture
) -> None:
    container = azure.new_bucket()
    assert deploy(azure, container).exit_code == 0
    small_tree.write("js/app.js", "console.log('v2');\n")
    azure.proxy.deny_list = True
    result = deploy(azure, container)
    azure.proxy.deny_list = False

    assert result.exit_code == 0, result.stderr
    assert (result.stdout + result.stderr + caplog.text).count("Allow listing") == 1
    counts = made(azure)
    assert counts["GetBlobProperties"] > 0  # the slower, per-file path
    assert counts["PutBlob"] == 3


def test_transient_errors_are_retried_up_to_max_attempts(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    failed: set[str] = set()

    def fail_first(operation: str, method: str, target: str) -> int | None:
        if operation in failed:
            return None
        failed.add(operation)
        return 503

    azure.proxy.rule = fail_first
    started = time.monotonic()
    result = deploy(azure, azure.new_bucket())
    assert result.exit_code == 0, result.stderr
    assert {"GetBlob", "ListBlobs", "PutBlob"} <= failed
    assert time.monotonic() - started < 10  # short backoff, not the SDK's 15 s

    azure.proxy.rule = lambda op, method, target: 503 if op == "PutBlob" else None
    result = deploy(azure, azure.new_bucket(), max_attempts=1)
    assert result.exit_code == 1
    assert made(azure)["PutBlob"] == 8  # once each, no retry; the manifest never
    assert "unable to receive requests" in str(result.error)  # ServerBusy's message


def test_missing_container_is_one_clear_error(azure: AzureTarget, small_tree: StaticTree) -> None:
    result = deploy(azure, "no-such-container")
    assert result.exit_code == 1
    message = str(result.error)
    assert "no-such-container" in message and "AZURE_CONTAINER" in message
    assert "\n" not in message


def test_bad_credentials_and_unreachable_endpoint_never_show_secrets(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    wrong_key = base64.b64encode(b"k" * 64).decode()
    options = azure.options(azure.new_bucket(), LOCATION, max_attempts=1)
    options["connection_string"] = options["connection_string"].replace(AZURE_KEY, wrong_key)
    result = collect(azure.manifest_backend, options)
    assert result.exit_code == 1
    assert "refused the credentials" in str(result.error) and wrong_key not in str(result.error)

    options["connection_string"] = azure_connection_string("http://127.0.0.1:9")
    started = time.monotonic()
    result = collect(azure.manifest_backend, options)
    assert result.exit_code == 1
    message = str(result.error)
    assert "AZURE_CONNECTION_STRING" in message and "Could not reach" in message
    assert AZURE_KEY not in message and wrong_key not in message
    assert time.monotonic() - started < 10  # max_attempts=1: no backoff


def test_client_options_apply_with_a_connection_string() -> None:
    storage = PreloadingAzureStorage(
        connection_string=azure_connection_string("http://127.0.0.1:9"),
        azure_container="c",
        max_workers=24,
        max_attempts=4,
        client_options={"max_single_put_size": 3 * MIB},
    )
    client = storage.service_client
    assert client._config.max_single_put_size == 3 * MIB
    assert client._config.retry_policy.total_retries == 3
    client._pipeline._transport.open()  # the session is mounted on first use
    session = client._pipeline._transport.session
    assert session.adapters["http://"]._pool_maxsize == 24 * storage.upload_max_conn


@pytest.mark.parametrize(
    ("method", "url", "headers", "operation"),
    [
        ("GET", "http://h/a/c?restype=container&comp=list&prefix=s%2F", {}, "ListBlobs"),
        ("PUT", "http://h/a/c/s/x.css?timeout=20", {}, "PutBlob"),
        ("PUT", "http://h/a/c/s/x.css?comp=block&blockid=QQ%3D%3D", {}, "PutBlock"),
        ("PUT", "http://h/a/c/s/x.css?comp=blocklist", {}, "PutBlockList"),
        ("PUT", "http://h/a/c/s/x.css", {"x-ms-copy-source": "u"}, "CopyBlob"),
        ("HEAD", "http://h/a/c/s/x.css", {}, "GetBlobProperties"),
        ("GET", "http://h/a/c/s/x.css", {}, "GetBlob"),
        ("DELETE", "http://h/a/c/s/x.css", {}, "DeleteBlob"),
        ("POST", "http://h/a/c?restype=container&comp=batch", {}, "BlobBatch"),
        ("PUT", "http://h/a/c?restype=container", {}, "CreateContainer"),
        ("GET", "http://h/a/c?restype=container", {}, "GetContainerProperties"),
    ],
)  # fmt: skip
def test_request_operations(method: str, url: str, headers: dict[str, str], operation: str) -> None:
    assert _operation(method, url, headers) == operation
