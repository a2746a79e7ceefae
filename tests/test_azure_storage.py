"""Azure-specific behaviour against a real Azurite: counts, bytes, metadata, Content-MD5.

Requests are counted by the recording proxy in front of Azurite (``tests.support.proxy``); the
storage's own counters (its summary line) are checked against it once.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import re
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import ContentSettings, ExponentialRetry
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import override_settings
from storages.backends.azure_storage import AzureStorage

from preloadstorage.backends import _azure
from preloadstorage.backends._azure import ShortRetry, operation
from preloadstorage.backends.azure_storage import (
    AzureAdapter,
    PreloadingAzureManifestStorage,
    PreloadingAzureStorage,
)
from preloadstorage.contract import MaybeMissing, RemoteObject
from preloadstorage.state import STATE_NAME
from tests.conftest import (
    LOCATION,
    Collected,
    StaticTree,
    collect,
    deploy,
    local_collect,
    prefixed,
)
from tests.support.proxy import classify
from tests.support.servers import AZURE_KEY, azure_connection_string
from tests.targets.azure import AzureTarget

KIB = 1024
MIB = 1024 * KIB
STATE_KEY = f"{LOCATION}/{STATE_NAME}"
OBJECTS = 9  # small_tree's collection: 4 originals, 4 hashed copies, the manifest
#: What an unchanged re-run may send: the listing, the manifest, the run state.
RERUN_OPS = {"ListBlobs", "GetBlob"}


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


def collection(target: AzureTarget, container: str, prefix: str = "") -> dict[str, bytes]:
    """The stored blobs, without preloadstorage's run state."""
    return {k: v for k, v in target.objects(container, prefix).items() if k != STATE_KEY}


def stored(target: AzureTarget, container: str, key: str) -> dict[str, Any]:
    """One blob's content settings and user metadata, read from Azurite directly."""
    blob = target.client.get_blob_client(container, key).get_blob_properties()
    settings = blob.content_settings
    md5 = settings.content_md5
    return {
        "content_type": settings.content_type,
        "content_encoding": settings.content_encoding,
        "content_language": settings.content_language,
        "content_disposition": settings.content_disposition,
        "cache_control": settings.cache_control,
        "metadata": dict(blob.metadata or {}),
        "md5": base64.b64encode(bytes(md5)).decode() if md5 else None,
    }


def tamper(target: AzureTarget, container: str, key: str, **changes: Any) -> None:
    """Change a blob's content settings as another tool would (``content_md5=None``
    drops the MD5, as Set Blob Properties without it does)."""
    blob = target.client.get_blob_client(container, key)
    settings = blob.get_blob_properties().content_settings
    fields = {f: getattr(settings, f) for f in (*AZURE_FIELDS, "content_md5")}
    blob.set_http_headers(ContentSettings(**{**fields, **changes}))


AZURE_FIELDS = (
    "content_type",
    "content_encoding",
    "content_language",
    "content_disposition",
    "cache_control",
)


def uploads(target: AzureTarget) -> list[str]:
    """The blob paths written with bytes (Put Blob, Put Block List), the run state aside."""
    ops = target.object_upload_ops
    paths = [r[2].split("?")[0] for r in target.proxy.records if r[0] in ops]
    return [path for path in paths if not path.endswith("/" + STATE_KEY)]


def storage_for(target: AzureTarget, container: str, **options: Any) -> PreloadingAzureStorage:
    return PreloadingAzureStorage(**target.options(container, LOCATION, **options))


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
    assert collection(azure, container) == expected
    assert json.loads(azure.objects(container, state=True)[STATE_KEY])  # the run state, beside it
    counts = made(azure)
    assert counts["PutBlob"] == len(expected) + 1 == OBJECTS + 1  # and the run state
    assert counts["ListBlobs"] == 1 and counts["GetBlob"] == 1  # the missing manifest
    assert sum(counts.values()) == len(expected) + 3, counts
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
    # The budget: one listing page, the manifest, at most one read of the run state.
    counts = made(azure)
    assert counts["ListBlobs"] == 1 and counts["GetBlob"] <= 2, counts
    assert set(counts) <= RERUN_OPS, counts
    assert "0 static files copied" in again.stdout

    time.sleep(1.1)  # the container's copies are now older than the sources
    small_tree.touch_all()
    touched = deploy(azure, container)
    assert touched.exit_code == 0, touched.stderr
    assert set(made(azure)) <= RERUN_OPS and made(azure)["ListBlobs"] == 1, made(azure)
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
    # app.js, its hashed copy, the manifest; and the run state, which records a new key
    assert counts["PutBlob"] == len(changed) + 1 == 4
    assert counts["GetBlobProperties"] == counts["DeleteBlob"] == counts["BlobBatch"] == 0
    assert counts["SetBlobProperties"] == 0
    now = collection(azure, container)
    assert {k: now[k] for k in prefixed(after)} == prefixed(after)
    assert set(prefixed(before)) <= set(now)  # the previous hashed names stay
    uploads = [r[2] for r in azure.proxy.records if r[0] == "PutBlob"]
    assert "staticfiles.json" in uploads[-2]  # the manifest goes last, then the state
    assert STATE_NAME in uploads[-1]


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
    assert collection(azure, container)[f"{LOCATION}/media/big.bin"] == data
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

    ours_stored = collection(azure, ours)
    assert ours_stored == azure.objects(stock)
    for key in ours_stored:
        # type, encoding, language, cache, disposition, MD5, user metadata (none)
        assert stored(azure, ours, key) == stored(azure, stock, key), key
    assert azure.metadata(ours, f"{LOCATION}/css/base.css") == {
        "content_type": "text/css",
        "cache_control": "public, max-age=31536000",
        "content_encoding": None,
    }
    assert azure.metadata(ours, f"{LOCATION}/data/archive.tar.gz")["content_encoding"] == "gzip"
    unknown = azure.metadata(ours, f"{LOCATION}/data/blob.unknownext")
    assert unknown["content_type"] == "application/octet-stream"

    # The listing confirms all of it: a re-run sends nothing.
    again = deploy(azure, ours, **extra)
    assert again.exit_code == 0, again.stderr
    assert set(made(azure)) <= RERUN_OPS, made(azure)


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
    assert uploads(azure) == [], counts  # (--clear may rewrite the run state)
    now = collection(azure, container)
    assert {k: v for k, v in now.items() if k.startswith(LOCATION + "/")} == prefixed(
        local_collect(tmp_path)
    )
    assert now["outside/keep.txt"] == b"not ours"
    assert STATE_KEY in azure.objects(container, state=True)  # never part of the collection
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

    result = deploy(azure, container, "--clear", "--dry-run", cache_control="no-store")

    assert result.exit_code == 0, result.stderr
    assert set(made(azure)) <= RERUN_OPS, made(azure)
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
    # app.js, its hashed copy, the manifest (the run state: one more, when it changed)
    assert counts["PutBlob"] in (3, 4)


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
    policy = client._config.retry_policy
    assert isinstance(policy, ShortRetry) and policy.total_retries == 3  # 4 attempts
    # Pins _azure._session_option: the session keyword reaches the SDK's transport.
    client._pipeline._transport.open()  # the session is mounted on first use
    session = client._pipeline._transport.session
    assert session.adapters["http://"]._pool_maxsize == 24 * storage.upload_max_conn


def test_private_sdk_attributes_are_where_the_module_expects_them() -> None:
    """One check per entry of the private-SDK block of ``preloadstorage.backends._azure``:
    if an azure-storage-blob release moves one, this fails, naming it."""
    # _retry_count: StorageRetryPolicy's per-request state has a "count" of retries,
    # and its sleep() asks get_backoff_time() with that state.
    policy = ShortRetry(3)

    request = SimpleNamespace(
        http_request=SimpleNamespace(body=None), context=SimpleNamespace(options={})
    )
    settings = policy.configure_retries(request)  # type: ignore[arg-type]
    assert _azure._retry_count(settings) == 0
    base: Any = ExponentialRetry.__mro__[1]  # StorageRetryPolicy, not exported
    assert base.__name__ == "StorageRetryPolicy"
    assert "get_backoff_time(settings)" in inspect.getsource(base.sleep)
    assert re.search(r"settings\[[\"']count[\"']\] \+= 1", inspect.getsource(base.increment))
    assert 0.125 <= policy.get_backoff_time({"count": 0}) <= 0.25
    assert policy.get_backoff_time({"count": 10}) <= 8.0
    # _session_option: the client builder hands its keywords to RequestsTransport.
    from azure.storage.blob._shared import base_client

    assert "RequestsTransport(**kwargs)" in inspect.getsource(base_client)


# -- metadata: Set Blob Properties, never the bytes again ------------------------------------
def test_upload_metadata_is_json_and_complete() -> None:
    storage = PreloadingAzureStorage(
        connection_string=azure_connection_string("http://127.0.0.1:9"),
        azure_container="c",
        location=LOCATION,
        cache_control="max-age=5",
        object_parameters={"content_disposition": "inline", "content_language": "en"},
    )
    upload = storage.preload_adapter.prepare("a.tar.gz", ContentFile(b"x"))
    assert upload.key == f"{LOCATION}/a.tar.gz" and upload.trusted
    assert upload.metadata == {
        "content_type": "application/x-tar",
        "content_encoding": "gzip",
        "content_language": "en",
        "content_disposition": "inline",
        "cache_control": "max-age=5",
        "metadata": {},  # the stock Put Blob sends no user metadata
    }
    assert json.loads(json.dumps(upload.metadata)) == upload.metadata
    unknown = storage.preload_adapter.prepare("blob.unknownext", ContentFile(b"x"))
    assert unknown.metadata["content_type"] == "application/octet-stream"
    # Client-side encryption: the stored bytes are not these, never compare them.
    storage.client.key_encryption_key = object()
    assert not storage.preload_adapter.prepare("a.css", ContentFile(b"x")).trusted


def test_keys_are_stripped_like_get_valid_path() -> None:
    storage = PreloadingAzureStorage(
        connection_string=azure_connection_string("http://127.0.0.1:9"),
        azure_container="c",
        location=LOCATION,
    )
    adapter = storage.preload_adapter
    for name in ("a.css", "./a.css", "a.css.", "css//a.css", "dir/../a.css"):
        assert adapter.key(name) == storage._get_valid_path(name), name
    assert adapter.key("css/") == f"{LOCATION}/css/"  # a folder (listdir) keeps its slash
    assert adapter.key("") == adapter.prefix() == f"{LOCATION}/"
    assert adapter.where() == f"azure://devstoreaccount1/c/{LOCATION}/"


def test_metadata_matches_judges_what_the_listing_shows() -> None:
    storage = PreloadingAzureStorage(
        connection_string=azure_connection_string("http://127.0.0.1:9"),
        azure_container="c",
        cache_control="max-age=5",
    )
    adapter = storage.preload_adapter
    upload = adapter.prepare("a.css", ContentFile(b"x"))
    now = datetime.now(timezone.utc)
    listed: dict[str, Any] = {
        "content_type": "text/css",
        "content_encoding": None,
        "content_language": "",  # Azure: an unset header, as None
        "content_disposition": None,
        "cache_control": "max-age=5",
        "metadata": {},
    }

    def remote(**changes: Any) -> RemoteObject:
        return RemoteObject(upload.key, 1, now, "md5:x", {**listed, **changes})

    assert adapter.metadata_matches(remote(), upload) is True
    assert adapter.metadata_matches(remote(cache_control="max-age=6"), upload) is False
    assert adapter.metadata_matches(remote(content_type="text/plain"), upload) is False
    assert adapter.metadata_matches(remote(content_disposition="inline"), upload) is False
    assert adapter.metadata_matches(remote(metadata={"k": "v"}), upload) is False
    assert adapter.metadata_matches(RemoteObject(upload.key, 1, now, "md5:x"), upload) is None


def test_fingerprints_are_content_md5() -> None:
    storage = PreloadingAzureStorage(
        connection_string=azure_connection_string("http://127.0.0.1:9"), azure_container="c"
    )
    adapter = storage.preload_adapter
    upload = adapter.prepare("a.css", ContentFile(b"body{}"))
    md5 = "md5:" + base64.b64encode(hashlib.md5(b"body{}").digest()).decode()
    now = datetime.now(timezone.utc)
    for fingerprint, size, expected in (
        (md5, 6, True),
        (md5, 7, False),
        ("md5:AAAAAAAAAAAAAAAAAAAAAA==", 6, False),
        (None, 6, False),
    ):
        assert adapter.matches(RemoteObject(upload.key, size, now, fingerprint), upload) is (
            expected
        ), fingerprint


def test_metadata_change_is_one_set_blob_properties_per_object(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    container = azure.new_bucket()
    assert deploy(azure, container, cache_control="max-age=60").exit_code == 0
    keys = sorted(collection(azure, container))
    assert len(keys) == OBJECTS
    md5s = {key: stored(azure, container, key)["md5"] for key in keys}
    assert all(md5s.values())

    extra = {
        "cache_control": "public, max-age=31536000",
        "object_parameters": {"content_disposition": "inline"},
    }
    result = deploy(azure, container, **extra)

    assert result.exit_code == 0, result.stderr
    counts = made(azure)
    assert counts["SetBlobProperties"] == OBJECTS  # the manifest included
    assert counts["SetBlobMetadata"] == 0  # user metadata unchanged (none)
    assert counts["PutBlob"] == 1 and uploads(azure) == []  # the run state only
    assert counts["PutBlock"] == counts["PutBlockList"] == counts["GetBlobProperties"] == 0
    targets = sorted(r[2].split("?")[0] for r in azure.proxy.records if r[0] == "SetBlobProperties")
    assert targets == sorted(f"/devstoreaccount1/{container}/{key}" for key in keys)
    assert f"{OBJECTS} metadata updated" in result.stdout
    assert summary_counts(result)["SetBlobProperties"] == OBJECTS
    for key in keys:
        meta = stored(azure, container, key)
        assert meta["cache_control"] == "public, max-age=31536000", key
        assert meta["content_disposition"] == "inline", key
        assert meta["md5"] == md5s[key], key  # kept: Set Blob Properties replaces it all
    manifest = stored(azure, container, f"{LOCATION}/staticfiles.json")
    assert manifest["content_type"] == "application/json"
    assert stored(azure, container, f"{LOCATION}/css/base.css")["content_type"] == "text/css"

    again = deploy(azure, container, **extra)
    assert again.exit_code == 0, again.stderr
    assert set(made(azure)) <= RERUN_OPS, made(azure)
    assert "0 static files copied" in again.stdout


class PerNameStorage(PreloadingAzureManifestStorage):
    """Per-name parameters, from an overridden get_object_parameters(name)."""

    css_cache_control = "max-age=1"

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = super().get_object_parameters(name)
        if name.endswith(".css"):
            params["cache_control"] = self.css_cache_control
        return params


class PerNameStorageV2(PerNameStorage):
    """The same project after a code change."""

    css_cache_control = "max-age=2"


def test_per_name_parameters_update_only_the_objects_they_change(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    container = azure.new_bucket()
    options = azure.options(container, LOCATION, cache_control="max-age=9")
    assert collect(f"{__name__}.PerNameStorage", options).exit_code == 0
    css = [key for key in collection(azure, container) if key.endswith(".css")]
    assert len(css) == 4
    for key in collection(azure, container):
        expected = "max-age=1" if key in css else "max-age=9"
        assert stored(azure, container, key)["cache_control"] == expected, key

    azure.proxy.reset()
    result = collect(f"{__name__}.PerNameStorageV2", options)
    assert result.exit_code == 0, result.stderr
    counts = made(azure)
    assert counts["SetBlobProperties"] == len(css) and uploads(azure) == [], counts
    for key in css:
        assert stored(azure, container, key)["cache_control"] == "max-age=2", key
    assert stored(azure, container, f"{LOCATION}/js/app.js")["cache_control"] == "max-age=9"


def test_objects_changed_by_another_tool_are_repaired(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    container = azure.new_bucket()
    extra = {"cache_control": "max-age=60", "object_parameters": {"content_language": "en"}}
    assert deploy(azure, container, **extra).exit_code == 0
    css, js, manifest = (
        f"{LOCATION}/{n}" for n in ("css/base.css", "js/app.js", "staticfiles.json")
    )
    before = {key: stored(azure, container, key) for key in (css, js, manifest)}
    tamper(azure, container, css, cache_control="no-store")
    azure.client.get_blob_client(container, manifest).set_blob_metadata({"x": "y"})
    # Set Blob Properties without the MD5 drops it: nothing left to compare, re-upload.
    tamper(azure, container, js, content_md5=None)
    assert stored(azure, container, js)["md5"] is None

    result = deploy(azure, container, **extra)

    assert result.exit_code == 0, result.stderr
    counts = made(azure)
    assert counts["SetBlobProperties"] == 2  # base.css, the manifest
    assert counts["SetBlobMetadata"] == 1  # the manifest's user metadata, removed
    assert uploads(azure) == [f"/devstoreaccount1/{container}/{js}"]  # no MD5 any more
    for key in (css, js, manifest):
        assert stored(azure, container, key) == before[key], key

    again = deploy(azure, container, **extra)
    assert again.exit_code == 0, again.stderr
    assert set(made(azure)) <= RERUN_OPS, made(azure)


def test_clear_ends_with_every_objects_metadata_as_configured(
    azure: AzureTarget, small_tree: StaticTree
) -> None:
    container = azure.new_bucket()
    extra = {"cache_control": "max-age=60", "object_parameters": {"content_disposition": "inline"}}
    assert deploy(azure, container, **extra).exit_code == 0
    tampered = [f"{LOCATION}/css/base.css", f"{LOCATION}/img/a.png"]
    tamper(azure, container, tampered[0], cache_control="no-store")
    tamper(azure, container, tampered[1], content_disposition=None, content_type="text/plain")
    azure.client.get_blob_client(container, f"{LOCATION}/js/app.js").set_blob_metadata({"a": "b"})

    result = deploy(azure, container, "--clear", **extra)

    assert result.exit_code == 0, result.stderr
    counts = made(azure)
    # The listing shows all of an Azure blob's metadata: only what differs is rewritten.
    assert counts["SetBlobProperties"] == len(tampered) + 1 and counts["SetBlobMetadata"] == 1
    assert uploads(azure) == [], counts
    assert counts["DeleteBlob"] == counts["BlobBatch"] == 0
    for key in collection(azure, container):
        meta = stored(azure, container, key)
        assert (meta["cache_control"], meta["content_disposition"]) == ("max-age=60", "inline")
        assert meta["metadata"] == {} and meta["md5"], key
    assert stored(azure, container, tampered[1])["content_type"] == "image/png"

    again = deploy(azure, container, "--clear", **extra)
    assert again.exit_code == 0, again.stderr
    assert set(made(azure)) <= RERUN_OPS, made(azure)


def test_update_metadata_returns_the_stored_object(azure: AzureTarget) -> None:
    container = azure.new_bucket()
    storage = storage_for(azure, container, cache_control="max-age=1")
    adapter = storage.preload_adapter
    first = adapter.upload(adapter.prepare("a.css", ContentFile(b"body{}")))
    assert first.metadata is not None and first.metadata["cache_control"] == "max-age=1"
    listed: RemoteObject = {obj.key: obj for obj in adapter.list()}[first.key]
    assert (listed.size, listed.fingerprint, listed.metadata) == (
        6,
        first.fingerprint,
        first.metadata,
    )

    storage.cache_control = "max-age=2"
    upload = adapter.prepare("a.css", ContentFile(b"body{}"))
    assert adapter.matches(listed, upload) and adapter.metadata_matches(listed, upload) is False
    azure.proxy.reset()
    after = adapter.update_metadata(listed, upload)
    assert made(azure) == Counter({"SetBlobProperties": 1})
    assert (after.key, after.size, after.fingerprint) == (first.key, 6, first.fingerprint)
    assert after.metadata is not None and after.metadata["cache_control"] == "max-age=2"
    assert after.modified >= listed.modified
    assert adapter.matches(after, upload) and adapter.metadata_matches(after, upload)
    relisted = {obj.key: obj for obj in adapter.list()}[first.key]
    assert relisted.fingerprint == first.fingerprint  # Content-MD5 kept
    assert adapter.metadata_matches(relisted, upload) is True
    assert adapter.stat(first.key) == relisted


def test_the_raw_listing_equals_the_sdks_blob_for_blob_across_pages(azure: AzureTarget) -> None:
    """The listing parses List Blobs pages itself (the SDK's per-blob models cost ~0.4 ms
    each): every field it gives equals what the SDK's own listing gives."""
    from preloadstorage.backends import _azure_listing as azure_listing
    from preloadstorage.backends import azure_storage

    container = azure.new_bucket()
    blobs = azure.client.get_container_client(container)
    settings = [
        ContentSettings(content_type="text/css", cache_control="max-age=60"),
        ContentSettings(content_type="image/png", content_encoding="gzip"),
        ContentSettings(content_language="de", content_disposition='inline; filename="x y"'),
        ContentSettings(),
    ]
    names = ["a.css", "b c/ü.png", "d%20e/&<>.js", "f/g/h.txt", "i.js"]
    for number, name in enumerate(names):
        blobs.upload_blob(
            f"{LOCATION}/{name}",
            f"body {number}".encode(),
            content_settings=settings[number % len(settings)],
            metadata={"k": "v", "empty": ""} if number % 2 else None,
        )
    blobs.upload_blob("outside.txt", b"not listed")  # another prefix
    seen: list[int] = []
    hook = {"raw_response_hook": lambda answer: seen.append(answer.http_response.status_code)}
    adapter = storage_for(azure, container, client_options=hook).preload_adapter
    adapter.page_size = 2
    azure.proxy.reset()
    with pytest.MonkeyPatch.context() as patch:  # the SDK's models are never built
        patch.setattr(azure_listing, "from_sdk", lambda blob: pytest.fail("SDK models built"))
        raw = list(adapter.list())
    assert made(azure) == Counter({"ListBlobs": 3})  # 5 blobs, 2 per page: the markers work
    assert seen == [200, 200, 200]  # the user's own hook still sees every page
    listed = blobs.list_blobs(name_starts_with=f"{LOCATION}/", include=["metadata"])
    sdk = [azure_storage._remote(blob) for blob in listed]
    assert [obj.key for obj in raw] == [f"{LOCATION}/{name}" for name in sorted(names)]
    assert raw == sdk
    assert all(obj.fingerprint for obj in raw)


# -- reads, deletes, attempts ----------------------------------------------------------------
def test_read_missing_and_forbidden(azure: AzureTarget) -> None:
    container = azure.new_bucket()
    adapter = storage_for(azure, container).preload_adapter
    assert adapter.read("missing.css") is None  # django-storages#630: not an exception
    adapter.upload(adapter.prepare("a.css", ContentFile(b"body{}")))
    assert adapter.read("a.css") == b"body{}"
    azure.proxy.rule = lambda op, method, target: 403 if op == "GetBlob" else None
    with pytest.raises(MaybeMissing) as raised:
        adapter.read("a.css")
    assert isinstance(raised.value.__cause__, HttpResponseError)
    assert adapter.stat(f"{LOCATION}/missing.css") is None


def test_delete_one_and_delete_batch(azure: AzureTarget) -> None:
    container = azure.new_bucket()
    adapter = storage_for(azure, container).preload_adapter
    assert isinstance(adapter, AzureAdapter) and adapter.delete_batch_size == 256
    keys = [f"{LOCATION}/{i}.css" for i in range(3)]
    for key in keys:
        azure.put(container, key, b"x")
    adapter.delete_one(keys[0])
    adapter.delete_one(keys[0])  # already gone: not an error
    outcome = adapter.delete_batch([*keys[1:], f"{LOCATION}/missing.css"])
    assert outcome == dict.fromkeys([*keys[1:], f"{LOCATION}/missing.css"])
    assert azure.objects(container) == {}
    # A server without Blob Batch: None, and the engine deletes one by one.
    azure.proxy.rule = lambda op, method, target: 400 if op == "BlobBatch" else None
    assert adapter.delete_batch([keys[0]]) is None


def test_max_attempts_counts_attempts(azure: AzureTarget) -> None:
    container = azure.new_bucket()
    azure.proxy.rule = lambda op, method, target: 500 if op == "PutBlob" else None
    for attempts in (3, 1):
        adapter = storage_for(azure, container, max_attempts=attempts).preload_adapter
        azure.proxy.reset()
        with pytest.raises(HttpResponseError):
            adapter.upload(adapter.prepare("a.css", ContentFile(b"body{}")))
        assert made(azure) == Counter({"PutBlob": attempts})


_OPERATIONS = [
    ("GET", "/a/c?restype=container&comp=list&prefix=s%2F", {}, "ListBlobs"),
    ("PUT", "/a/c/s/x.css?timeout=20", {}, "PutBlob"),
    ("PUT", "/a/c/s/x.css?comp=block&blockid=QQ%3D%3D", {}, "PutBlock"),
    ("PUT", "/a/c/s/x.css?comp=blocklist", {}, "PutBlockList"),
    ("PUT", "/a/c/s/x.css?comp=properties", {}, "SetBlobProperties"),
    ("PUT", "/a/c/s/x.css?comp=metadata", {}, "SetBlobMetadata"),
    ("GET", "/a/c/s/x.css?comp=metadata", {}, "GetBlobMetadata"),
    ("HEAD", "/a/c/s/x.css?comp=metadata", {}, "GetBlobMetadata"),
    ("PUT", "/a/c/s/x.css", {"x-ms-copy-source": "u"}, "CopyBlob"),
    ("HEAD", "/a/c/s/x.css", {}, "GetBlobProperties"),
    ("GET", "/a/c/s/x.css", {}, "GetBlob"),
    ("DELETE", "/a/c/s/x.css", {}, "DeleteBlob"),
    ("POST", "/a/c?restype=container&comp=batch", {}, "BlobBatch"),
    ("PUT", "/a/c?restype=container", {}, "CreateContainer"),
    ("GET", "/a/c?restype=container", {}, "GetContainerProperties"),
]


@pytest.mark.parametrize(("method", "target", "headers", "name"), _OPERATIONS)
def test_request_operations(method: str, target: str, headers: dict[str, str], name: str) -> None:
    # The storage's summary and the test proxy name every request alike.
    assert operation(method, "http://h" + target, headers) == name
    assert classify("azure", method, target, headers) == name
