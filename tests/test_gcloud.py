"""GCS-specific behaviour against a real fake-gcs-server: counts, bytes, metadata, gzip.

Requests are counted by the recording proxy in front of fake-gcs-server
(``tests.support.proxy``); objects are inspected on the server directly.

What fake-gcs-server does not do like GCS (each pinned below, so a fixed emulator
shows up as a failing assertion to update):

- objects.patch skips empty values: a field sent as ``null`` (how the JSON API clears
  one) keeps its old value, and a user-metadata key sent as ``null`` is kept with "".
- objects.patch ignores ``predefinedAcl`` (GCS applies it): only objects.insert applies
  one (``publicRead`` adds ``allUsers: READER``).
- It has no batch endpoint, and objects.patch leaves ``updated`` as it was.
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from google.cloud.storage import __version__ as storage_version

from preloadstorage.backends import _gcloud_sdk
from preloadstorage.backends._gcloud_messages import operation
from preloadstorage.backends.gcloud import (
    GoogleCloudAdapter,
    GoogleCloudPreloadMixin,
    PreloadingGoogleCloudManifestStorage,
    PreloadingGoogleCloudStorage,
)
from preloadstorage.contract import RemoteObject
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
from tests.targets.base import Target

STATE_KEY = f"{LOCATION}/{STATE_NAME}"
SDK_VERSION = tuple(int(part) for part in storage_version.split(".")[:2])
#: The small tree's collection: 4 sources, their 4 hashed copies, the manifest.
OBJECTS = 9


# -- helpers -----------------------------------------------------------------------------------
def requests_made(target: Target, result: Collected | None = None) -> Counter[str]:
    """Requests by operation, as the proxy counted them."""
    return Counter(dict(target.proxy.counts))


def collection(target: Target, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """The stored objects, without preloadstorage's run state."""
    return {k: v for k, v in target.objects(bucket, prefix).items() if k != STATE_KEY}


def uploaded(target: Target) -> list[str]:
    """The keys objects.insert wrote since the proxy's reset, the run state excluded."""
    keys = []
    for op, _method, request, _status in target.proxy.records:
        if op == "objects.insert":
            key = parse_qs(urlsplit(request).query)["name"][0]
            if key != STATE_KEY:
                keys.append(key)
    return keys


def client(target: Target) -> Any:
    return target.client  # type: ignore[attr-defined]


def stored(target: Target, bucket: str, key: str) -> dict[str, Any]:
    """One object's metadata, read from the server directly."""
    blob = client(target).bucket(bucket).get_blob(key)
    assert blob is not None, key
    return {
        "content_type": blob.content_type,
        "cache_control": blob.cache_control,
        "content_disposition": blob.content_disposition,
        "content_encoding": blob.content_encoding,
        "metadata": blob.metadata,
        "md5": blob.md5_hash,
    }


def acl(target: Target, bucket: str, key: str) -> set[tuple[str, str]]:
    blob = client(target).bucket(bucket).blob(key)
    blob.acl.reload()
    return {(entry["entity"], entry["role"]) for entry in blob.acl}


def patch_targets(target: Target) -> list[str]:
    """The request targets (path and query) of every objects.patch, in order."""
    return [t for op, _m, t, _s in target.proxy.records if op == "objects.patch"]


@pytest.fixture
def patch_bodies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The JSON bodies of the storages' objects.patch requests (the proxy keeps none)."""
    bodies: list[dict[str, Any]] = []
    configure = GoogleCloudPreloadMixin._preload_configure

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        if response.request.method == "PATCH":
            bodies.append(json.loads(response.request.body))

    def configure_and_record(self: Any, client: Any) -> None:
        configure(self, client)
        client._http.hooks["response"].append(record)

    monkeypatch.setattr(GoogleCloudPreloadMixin, "_preload_configure", configure_and_record)
    yield bodies


def storage_for(gcs: Target, bucket: str, **options: Any) -> PreloadingGoogleCloudStorage:
    return PreloadingGoogleCloudStorage(**gcs.options(bucket, LOCATION, **options))


# -- the basic scenarios ------------------------------------------------------------------------
def test_first_deploy_is_one_upload_per_object_and_byte_exact(
    gcs: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    expected = prefixed(local_collect(tmp_path))
    bucket = gcs.new_bucket()
    result = deploy(gcs, bucket)
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert collection(gcs, bucket) == expected
    assert sorted(uploaded(gcs)) == sorted(expected)
    assert made["objects.insert"] == len(expected) + 1  # and the run state
    assert made["objects.upload_chunk"] == made["objects.get"] == made["objects.delete"] == 0
    assert made["objects.download"] <= 1  # the manifest (the listing shows no state yet)
    assert made["buckets.get"] == 0  # no background bucket metadata GET
    assert f"{len(expected)} uploaded" in result.stdout and "objects.insert" in result.stdout


def test_unchanged_and_retouched_reruns_only_list(gcs: Target, small_tree: StaticTree) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    before = gcs.objects(bucket)

    again = deploy(gcs, bucket)
    assert again.exit_code == 0, again.stderr
    made = requests_made(gcs, again)
    # The budget: the listing's pages, the manifest, at most one read of the state.
    assert made["objects.list"] == 1
    assert made["objects.download"] <= 2
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
    assert sorted(uploaded(gcs)) == sorted(prefixed(dict.fromkeys(changed, b"")))
    assert made["objects.insert"] <= len(changed) + 1  # and the run state
    assert made["objects.get"] == made["objects.delete"] == made["objects.patch"] == 0
    now = collection(gcs, bucket)
    assert {k: now[k] for k in prefixed(after)} == prefixed(after)
    assert set(prefixed(before)) <= set(now)  # the previous hashed names stay


def test_gzip_is_byte_exact_with_stock_and_skipped(gcs: Target, small_tree: StaticTree) -> None:
    ours, stock = gcs.new_bucket(), gcs.new_bucket()
    extra = {"gzip": True, **gcs.cache_control_options("max-age=60")}
    first = deploy(gcs, ours, **extra)
    assert first.exit_code == 0, first.stderr
    # Gzipped files too are one request each (stock: a two-request resumable upload).
    assert requests_made(gcs, first)["objects.upload_chunk"] == 0
    result = collect(gcs.stock_manifest_backend, gcs.options(stock, LOCATION, **extra))
    assert result.exit_code == 0, result.stderr
    ours_stored = collection(gcs, ours)
    assert ours_stored == gcs.objects(stock)
    for key in ours_stored:
        assert gcs.metadata(ours, key) == gcs.metadata(stock, key), key
    css = f"{LOCATION}/css/vars.css"
    assert ours_stored[css][:2] == b"\x1f\x8b"
    assert gcs.metadata(ours, css)["content_encoding"] == "gzip"
    assert gcs.metadata(ours, f"{LOCATION}/img/a.png")["content_encoding"] is None

    small_tree.touch_all()
    again = deploy(gcs, ours, **extra)
    assert again.exit_code == 0, again.stderr
    made = requests_made(gcs, again)
    assert made["objects.insert"] == made["objects.get"] == made["objects.patch"] == 0
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
    ours_stored = collection(gcs, ours)
    assert ours_stored == gcs.objects(stock)
    for key in ours_stored:
        assert stored(gcs, ours, key) == stored(gcs, stock, key), key
    assert stored(gcs, ours, f"{LOCATION}/css/base.css") == {
        "content_type": "text/css",
        "cache_control": "public, max-age=31536000",
        "content_disposition": None,
        "content_encoding": None,
        "metadata": {"k": "v"},
        "md5": stored(gcs, stock, f"{LOCATION}/css/base.css")["md5"],
    }
    assert gcs.metadata(ours, f"{LOCATION}/data/archive.tar.gz")["content_encoding"] == "gzip"

    # The listing confirms all of it: a re-run sends nothing.
    again = deploy(gcs, ours, **extra)
    assert again.exit_code == 0, again.stderr
    assert set(requests_made(gcs, again)) <= {"objects.list", "objects.download"}


def test_crc32c_only_objects_are_compared_by_crc32c(
    gcs: Target, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.storage.blob import Blob

    bucket = gcs.new_bucket()
    png = small_tree.path("img/a.png").read_bytes()
    js = small_tree.path("js/app.js").read_bytes()
    for key, data in ((f"{LOCATION}/img/a.png", png), (f"{LOCATION}/js/app.js", js + b"//x")):
        parts = [client(gcs).bucket(bucket).blob(f"parts/{key}.{i}") for i in (0, 1)]
        middle = len(data) // 2
        parts[0].upload_from_string(data[:middle])
        parts[1].upload_from_string(data[middle:])
        client(gcs).bucket(bucket).blob(key).compose(parts)
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
    assert len(uploaded(gcs)) == 3  # base.css, vars.css, app.js (and the run state)
    assert gcs.objects(bucket, f"{LOCATION}/js/")[f"{LOCATION}/js/app.js"] == js


def test_fingerprints_md5_and_crc32c() -> None:
    storage = PreloadingGoogleCloudStorage(bucket_name="b", location=LOCATION)
    adapter = storage.preload_adapter
    upload = adapter.prepare("a.css", ContentFile(b"body{}"))
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
        assert adapter.matches(remote, upload) is expected, fingerprint


def test_upload_metadata_is_json_and_complete() -> None:
    storage = PreloadingGoogleCloudStorage(
        bucket_name="b",
        location=LOCATION,
        default_acl="publicRead",
        object_parameters={
            "cache_control": "max-age=5",
            "content_disposition": "inline",
            "content_language": "en",
            "metadata": {"n": 1},
            "custom_time": datetime(2026, 1, 1, tzinfo=timezone.utc),
        },
    )
    upload = storage.preload_adapter.prepare("a.tar.gz", ContentFile(b"x"))
    assert upload.metadata == {
        "content_type": "application/x-tar",
        "predefined_acl": "publicRead",
        "properties": {
            "cache_control": "max-age=5",
            "content_disposition": "inline",
            "content_encoding": "gzip",
            "content_language": "en",
            "custom_time": "2026-01-01 00:00:00+00:00",
            "metadata": {"n": 1},
        },
    }
    assert json.loads(json.dumps(upload.metadata)) == upload.metadata
    unknown = storage.preload_adapter.prepare("blob.unknownext", ContentFile(b"x"))
    assert unknown.metadata["content_type"] == "application/octet-stream"


def test_metadata_matches_judges_what_the_listing_shows() -> None:
    storage = PreloadingGoogleCloudStorage(
        bucket_name="b", location=LOCATION, object_parameters={"cache_control": "max-age=5"}
    )
    adapter = storage.preload_adapter
    upload = adapter.prepare("a.css", ContentFile(b"x"))
    now = datetime.now(timezone.utc)
    listed = {
        "contentType": "text/css",
        "cacheControl": "max-age=5",
        "contentDisposition": None,
        "contentEncoding": None,
        "contentLanguage": None,
        "metadata": None,
    }

    def remote(**changes: Any) -> RemoteObject:
        return RemoteObject(upload.key, 1, now, "md5:x", {**listed, **changes})

    assert adapter.metadata_matches(remote(), upload) is True
    assert adapter.metadata_matches(remote(cacheControl="max-age=6"), upload) is False
    assert adapter.metadata_matches(remote(contentType="text/plain"), upload) is False
    assert adapter.metadata_matches(remote(metadata={"k": "v"}), upload) is False
    assert adapter.metadata_matches(RemoteObject(upload.key, 1, now, "md5:x"), upload) is None
    upload.params["predefined_acl"] = "publicRead"  # a listing shows no ACL
    assert adapter.metadata_matches(remote(), upload) is None
    assert adapter.metadata_matches(remote(cacheControl=None), upload) is False


def test_files_above_8_mib_are_resumable_and_skipped_next_time(
    gcs: Target, small_tree: StaticTree
) -> None:
    data = bytes(range(256)) * 4096 * 9  # 9 MiB
    small_tree.write("media/big.bin", data)
    bucket = gcs.new_bucket()
    result = deploy(gcs, bucket)
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.upload_chunk"] >= 1  # the big file (and its hashed copy)
    assert gcs.objects(bucket, f"{LOCATION}/media/")[f"{LOCATION}/media/big.bin"] == data

    again = deploy(gcs, bucket, object_parameters={"cache_control": "max-age=1"})
    assert again.exit_code == 0, again.stderr
    made = requests_made(gcs, again)
    assert made["objects.upload_chunk"] == 0 and uploaded(gcs) == []
    assert made["objects.patch"] == OBJECTS + 2  # the big file's bytes are not sent again


# -- metadata changes: one objects.patch per object, never the bytes again -----------------------
def test_metadata_change_is_one_patch_per_object(
    gcs: Target, small_tree: StaticTree, patch_bodies: list[dict[str, Any]]
) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket, object_parameters={"cache_control": "max-age=60"}).exit_code == 0
    keys = sorted(collection(gcs, bucket))
    md5s = {key: stored(gcs, bucket, key)["md5"] for key in keys}

    params = {
        "cache_control": "public, max-age=31536000",
        "content_disposition": "inline",
        "metadata": {"release": "2"},
    }
    result = deploy(gcs, bucket, object_parameters=params)

    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.patch"] == len(keys) == OBJECTS  # the manifest included
    assert uploaded(gcs) == []  # no object's bytes again (the run state: one insert)
    assert made["objects.insert"] <= 1
    assert made["objects.upload_chunk"] == made["objects.get"] == 0
    assert made["objects.download"] <= 2  # the manifest, the state: once, for every worker
    assert sorted({t.split("?")[0] for t in patch_targets(gcs)}) == sorted(
        f"/storage/v1/b/{bucket}/o/{key.replace('/', '%2F')}" for key in keys
    )
    assert f"{OBJECTS} metadata updated" in result.stdout and "objects.patch" in result.stdout
    for key in keys:
        meta = stored(gcs, bucket, key)
        assert meta["cache_control"] == "public, max-age=31536000", key
        assert meta["content_disposition"] == "inline", key
        assert meta["metadata"] == {"release": "2"}, key
        assert meta["md5"] == md5s[key], key
    assert stored(gcs, bucket, f"{LOCATION}/staticfiles.json")["content_type"] == (
        "application/json"
    )
    body = patch_bodies[0]
    assert body["cacheControl"] == "public, max-age=31536000"
    assert body["contentLanguage"] is None  # every visible field is said
    assert "predefinedAcl" not in patch_targets(gcs)[0]

    again = deploy(gcs, bucket, object_parameters=params)
    assert again.exit_code == 0, again.stderr
    assert set(requests_made(gcs, again)) <= {"objects.list", "objects.download"}


def test_removed_settings_are_cleared_with_null(
    gcs: Target, small_tree: StaticTree, patch_bodies: list[dict[str, Any]]
) -> None:
    bucket = gcs.new_bucket()
    params = {"cache_control": "max-age=60", "metadata": {"a": "1", "b": "2"}}
    assert deploy(gcs, bucket, object_parameters=params).exit_code == 0

    result = deploy(gcs, bucket, object_parameters={"metadata": {"b": "3"}})
    assert result.exit_code == 0, result.stderr
    assert requests_made(gcs, result)["objects.patch"] == OBJECTS
    body = patch_bodies[0]
    # How the JSON API clears a field, and drops a user-metadata key.
    assert body["cacheControl"] is None
    assert body["metadata"] == {"a": None, "b": "3"}

    patch_bodies.clear()
    result = deploy(gcs, bucket)
    assert result.exit_code == 0, result.stderr
    assert patch_bodies[0]["metadata"] is None and patch_bodies[0]["cacheControl"] is None

    # fake-gcs-server skips null values in a patch (GCS clears them): the old values stay.
    meta = stored(gcs, bucket, f"{LOCATION}/css/base.css")
    assert meta["cache_control"] == "max-age=60"
    assert meta["metadata"] == {"a": "", "b": "3"}


def test_predefined_acl_change_is_a_parameter_of_the_same_patch(
    gcs: Target, small_tree: StaticTree
) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    css = f"{LOCATION}/css/base.css"
    assert ("allUsers", "READER") not in acl(gcs, bucket, css)

    # The listing shows no ACL: the run state says what the last run applied.
    result = deploy(gcs, bucket, default_acl="publicRead")
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.patch"] == OBJECTS and uploaded(gcs) == []
    for target in patch_targets(gcs):
        assert parse_qs(urlsplit(target).query)["predefinedAcl"] == ["publicRead"]
    # fake-gcs-server ignores predefinedAcl on objects.patch (GCS applies it).
    assert ("allUsers", "READER") not in acl(gcs, bucket, css)

    again = deploy(gcs, bucket, default_acl="publicRead")
    assert again.exit_code == 0, again.stderr
    assert set(requests_made(gcs, again)) <= {"objects.list", "objects.download"}

    # A per-object 'acl' parameter wins over default_acl, as in the stock _save().
    other = gcs.new_bucket()
    first = deploy(gcs, other, object_parameters={"acl": "publicRead"})
    assert first.exit_code == 0, first.stderr
    assert ("allUsers", "READER") in acl(gcs, other, css)  # objects.insert applies it


class PerNameStorage(PreloadingGoogleCloudManifestStorage):
    """Per-name parameters, from an overridden get_object_parameters(name)."""

    css_cache_control = "max-age=1"

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        params: dict[str, Any] = super().get_object_parameters(name)
        if name.endswith(".css"):
            params["cache_control"] = self.css_cache_control
        return params


class PerNameStorageV2(PerNameStorage):
    """The next release of the project's storage: new per-name values."""

    css_cache_control = "max-age=2"


def test_per_name_parameters_patch_only_the_objects_they_change(
    gcs: Target, small_tree: StaticTree
) -> None:
    bucket = gcs.new_bucket()
    options = gcs.options(bucket, LOCATION, object_parameters={"cache_control": "max-age=9"})
    assert collect(f"{__name__}.PerNameStorage", options).exit_code == 0
    css = [key for key in collection(gcs, bucket) if key.endswith(".css")]
    assert len(css) == 4
    for key in collection(gcs, bucket):
        expected = "max-age=1" if key in css else "max-age=9"
        assert stored(gcs, bucket, key)["cache_control"] == expected, key

    gcs.proxy.reset()
    result = collect(f"{__name__}.PerNameStorageV2", options)
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.patch"] == len(css) and uploaded(gcs) == []
    for key in css:
        assert stored(gcs, bucket, key)["cache_control"] == "max-age=2", key
    assert stored(gcs, bucket, f"{LOCATION}/js/app.js")["cache_control"] == "max-age=9"


def test_clear_ends_with_every_objects_metadata_as_configured(
    gcs: Target, small_tree: StaticTree
) -> None:
    bucket = gcs.new_bucket()
    params = {"cache_control": "max-age=60", "content_disposition": "inline"}
    assert deploy(gcs, bucket, object_parameters=params).exit_code == 0
    blobs = client(gcs).bucket(bucket)
    tampered = [f"{LOCATION}/css/base.css", f"{LOCATION}/staticfiles.json"]
    changes: list[tuple[str, Any]] = [("cache_control", "no-store"), ("metadata", {"x": "y"})]
    for key, (prop, value) in zip(tampered, changes, strict=True):
        blob = blobs.blob(key)
        setattr(blob, prop, value)
        blob.patch()

    # Without an ACL the listing shows everything: only what differs is patched.
    result = deploy(gcs, bucket, "--clear", object_parameters=params)
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.patch"] == len(tampered) and uploaded(gcs) == []
    assert made["objects.delete"] == 0
    for key in collection(gcs, bucket):
        meta = stored(gcs, bucket, key)
        assert (meta["cache_control"], meta["content_disposition"]) == ("max-age=60", "inline")
    assert stored(gcs, bucket, tampered[0])["metadata"] is None
    # user metadata added by hand: cleared with null on GCS, kept by fake-gcs-server.
    assert stored(gcs, bucket, tampered[1])["metadata"] == {"x": "y"}

    # With an ACL, what the listing cannot show is applied again to every object.
    assert deploy(gcs, bucket, default_acl="publicRead", object_parameters=params).exit_code == 0
    result = deploy(gcs, bucket, "--clear", default_acl="publicRead", object_parameters=params)
    assert result.exit_code == 0, result.stderr
    assert requests_made(gcs, result)["objects.patch"] == OBJECTS


def test_unknown_state_is_applied_once_then_stable(gcs: Target, small_tree: StaticTree) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket, default_acl="publicRead").exit_code == 0
    # No record (another tool wrote the objects, or the state is lost): apply once.
    client(gcs).bucket(bucket).blob(STATE_KEY).delete()

    result = deploy(gcs, bucket, default_acl="publicRead")
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.patch"] == OBJECTS and uploaded(gcs) == []
    assert STATE_KEY in gcs.objects(bucket, state=True)

    again = deploy(gcs, bucket, default_acl="publicRead")
    assert again.exit_code == 0, again.stderr
    made = requests_made(gcs, again)
    assert set(made) <= {"objects.list", "objects.download"}
    assert made["objects.download"] == 2  # the manifest and the state

    # Without an ACL the listing confirms everything: no state needed, no patch.
    client(gcs).bucket(bucket).blob(STATE_KEY).delete()
    plain = deploy(gcs, bucket)
    assert plain.exit_code == 0, plain.stderr
    # the ACL setting went away: recorded as applied, nothing sent (see the report)
    assert requests_made(gcs, plain)["objects.patch"] == 0


def test_update_metadata_returns_the_stored_object(gcs: Target) -> None:
    bucket = gcs.new_bucket()
    storage = storage_for(gcs, bucket, object_parameters={"cache_control": "max-age=1"})
    adapter = storage.preload_adapter
    first = adapter.upload(adapter.prepare("a.css", ContentFile(b"body{}")))
    assert first.metadata is not None and first.metadata["cacheControl"] == "max-age=1"

    storage.object_parameters = {"cache_control": "max-age=2", "metadata": {"k": "v"}}
    upload = adapter.prepare("a.css", ContentFile(b"body{}"))
    assert adapter.metadata_matches(first, upload) is False
    after = adapter.update_metadata(first, upload)
    assert (after.key, after.size, after.fingerprint) == (first.key, 6, first.fingerprint)
    assert after.metadata is not None
    assert after.metadata["cacheControl"] == "max-age=2"
    assert after.metadata["metadata"] == {"k": "v"}
    assert adapter.matches(after, upload) and adapter.metadata_matches(after, upload)
    listed = {obj.key: obj for obj in adapter.list()}
    assert adapter.metadata_matches(listed[f"{LOCATION}/a.css"], upload) is True


# -- deletes ------------------------------------------------------------------------------------
def test_clear_removes_stale_objects_across_listing_pages(
    gcs: Target, small_tree: StaticTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    # 9 live + the state + 25 stale objects, 10 per page: 4 listing pages (fake-gcs-server
    # stores ~200 objects/s, so real 1000-object pages would make this test slow).
    monkeypatch.setattr(GoogleCloudAdapter, "page_size", 10)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: gcs.put(bucket, f"{LOCATION}/old/{i}.css", b"x"), range(25)))
    gcs.put(bucket, "outside/keep.txt", b"not ours")

    result = deploy(gcs, bucket, "--clear")

    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["objects.list"] == 4
    assert made["objects.delete"] == 25 and made["batch"] == 0  # no batch API here
    assert made["objects.patch"] == 0 and uploaded(gcs) == []
    now = collection(gcs, bucket)
    assert {k: v for k, v in now.items() if k.startswith(LOCATION + "/")} == prefixed(
        local_collect(tmp_path)
    )
    assert now["outside/keep.txt"] == b"not ours"
    assert STATE_KEY in gcs.objects(bucket, state=True)  # never part of the collection
    assert "25 deleted" in result.stdout


def test_batch_delete_falls_back_to_single_deletes(
    gcs: Target, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    keys = [f"{LOCATION}/old/{i}.css" for i in range(3)]
    for key in keys:
        gcs.put(bucket, key, b"x")
    # As on real GCS: try the batch endpoint, which fake-gcs-server does not have.
    monkeypatch.setattr(
        GoogleCloudAdapter, "endpoint", lambda self: "https://storage.googleapis.com"
    )
    adapter = storage_for(gcs, bucket).preload_adapter
    gcs.proxy.reset()
    assert adapter.delete_batch([*keys, f"{LOCATION}/missing.css"]) is None
    assert requests_made(gcs)["batch"] == 1
    assert set(collection(gcs, bucket, f"{LOCATION}/old/")) == set(keys)

    # Through the engine: one batch request, then one delete per object for the run.
    result = deploy(gcs, bucket, "--clear")
    assert result.exit_code == 0, result.stderr
    made = requests_made(gcs, result)
    assert made["batch"] == 1 and made["objects.delete"] == 3
    assert collection(gcs, bucket, f"{LOCATION}/old/") == {}


def test_delete_one_ignores_missing_objects(gcs: Target) -> None:
    bucket = gcs.new_bucket()
    gcs.put(bucket, f"{LOCATION}/a.css", b"x")
    adapter = storage_for(gcs, bucket).preload_adapter
    adapter.delete_one(f"{LOCATION}/a.css")
    adapter.delete_one(f"{LOCATION}/a.css")
    assert gcs.objects(bucket) == {}
    assert adapter.delete_batch([f"{LOCATION}/a.css"]) is None  # an emulator: no request
    assert requests_made(gcs)["batch"] == 0


# -- reading ------------------------------------------------------------------------------------
def test_read_missing_forbidden_and_gzip(gcs: Target) -> None:
    from preloadstorage.contract import MaybeMissing

    bucket = gcs.new_bucket()
    storage = storage_for(gcs, bucket, gzip=True)
    adapter = storage.preload_adapter
    assert adapter.read("missing.css") is None
    adapter.upload(adapter.prepare("a.css", ContentFile(b"body{}" * 50)))
    assert adapter.read("a.css") == b"body{}" * 50  # gzip undone
    gcs.proxy.rule = lambda op, method, target: 403 if op == "objects.download" else None  # type: ignore[attr-defined]
    with pytest.raises(MaybeMissing) as raised:
        adapter.read("a.css")
    assert type(raised.value.__cause__).__name__ == "Forbidden"


# -- failures -----------------------------------------------------------------------------------
def test_dry_run_writes_nothing(gcs: Target, small_tree: StaticTree) -> None:
    bucket = gcs.new_bucket()
    assert deploy(gcs, bucket).exit_code == 0
    gcs.put(bucket, f"{LOCATION}/stale.txt", b"stale")
    small_tree.write("js/app.js", "console.log('changed');\n")
    before = gcs.objects(bucket)

    result = deploy(gcs, bucket, "--clear", "--dry-run", object_parameters={"cache_control": "x"})

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
    # app.js, its hashed copy, the manifest (the state: one more, when it changed)
    assert len(uploaded(gcs)) == 3
    now = gcs.objects(bucket)
    paths = json.loads(now[f"{LOCATION}/staticfiles.json"])["paths"]
    assert now[f"{LOCATION}/{paths['js/app.js']}"] == b"console.log('v2');\n"


def test_transient_errors_are_retried(gcs: Target, small_tree: StaticTree) -> None:
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
    assert len(collection(gcs, bucket)) == OBJECTS

    other = gcs.new_bucket()
    gcs.proxy.rule = lambda op, method, target: 503 if op == "objects.insert" else None  # type: ignore[attr-defined]
    result = deploy(gcs, other, max_attempts=1)
    assert result.exit_code == 1
    # Once per file, no retry; the manifest is never sent after a failed upload.
    assert requests_made(gcs, result)["objects.insert"] == 8
    assert "503" in str(result.error)


@pytest.mark.parametrize("op", ["objects.insert", "objects.list", "objects.patch"])
def test_max_attempts_counts_attempts(gcs: Target, op: str) -> None:
    bucket = gcs.new_bucket()
    adapter = storage_for(gcs, bucket, max_attempts=3).preload_adapter
    upload = adapter.prepare("a.css", ContentFile(b"body{}"))
    remote = adapter.upload(upload) if op == "objects.patch" else None
    gcs.proxy.reset()
    gcs.proxy.rule = lambda operation, method, target: 500 if operation == op else None  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="500"):
        if op == "objects.insert":
            adapter.upload(upload)
        elif op == "objects.list":
            list(adapter.list())
        else:
            assert remote is not None
            adapter.update_metadata(remote, upload)
    assert requests_made(gcs)[op] == 3  # attempts, not retries


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
    assert getattr(storage.client, "_bucket_metadata_cache", None) is None


@pytest.mark.parametrize(
    ("method", "url", "operation_name"),
    [
        ("GET", "http://h/storage/v1/b/bk/o?prefix=static%2F", "objects.list"),
        ("GET", "http://h/storage/v1/b/bk/o/static%2Fa.css", "objects.get"),
        ("DELETE", "http://h/storage/v1/b/bk/o/static%2Fa.css", "objects.delete"),
        ("PATCH", "http://h/storage/v1/b/bk/o/a?predefinedAcl=publicRead", "objects.patch"),
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
def test_request_operations(method: str, url: str, operation_name: str) -> None:
    assert operation(method, url) == operation_name


# -- the private SDK attributes the GCS modules rely on (_gcloud_sdk's commented block) ------
def test_private_sdk_retry_predicate() -> None:
    from google.api_core import exceptions
    from google.cloud.storage import retry

    assert _gcloud_sdk.should_retry is retry._should_retry
    assert _gcloud_sdk.should_retry(exceptions.ServiceUnavailable("x"))  # type: ignore[no-untyped-call]
    assert not _gcloud_sdk.should_retry(exceptions.NotFound("x"))  # type: ignore[no-untyped-call]


def test_private_sdk_compress() -> None:
    import gzip
    import io

    storage = PreloadingGoogleCloudStorage(bucket_name="b", location=LOCATION)
    gz = _gcloud_sdk.compress(storage, io.BytesIO(b"body {}")).read()
    assert gzip.decompress(gz) == b"body {}"
    assert gz == _gcloud_sdk.compress(storage, io.BytesIO(b"body {}")).read()  # mtime=0


def test_private_sdk_client_attributes(gcs: Target) -> None:
    import requests

    storage = storage_for(gcs, gcs.new_bucket())
    the_client = storage.client
    assert isinstance(_gcloud_sdk.session(the_client), requests.Session)
    assert _gcloud_sdk.session(the_client) is the_client._http
    # The private fallback, for releases without the public property.
    assert gcs.proxy.endpoint == the_client._connection.API_BASE_URL
    assert _gcloud_sdk.api_endpoint(the_client) == gcs.proxy.endpoint
    if hasattr(type(the_client), "api_endpoint"):  # public in newer releases
        assert the_client.api_endpoint == gcs.proxy.endpoint
    if SDK_VERSION >= (3, 17):  # the background bucket GET, switched off
        assert "_bucket_metadata_cache" in vars(the_client)
        assert the_client._bucket_metadata_cache is None
    if SDK_VERSION >= (2, 18):  # tracing: what decides whether the bucket GET is useful
        from google.cloud.storage._opentelemetry_tracing import enable_otel_traces

        assert bool(enable_otel_traces) is _gcloud_sdk.TRACING


def test_private_sdk_batch_responses(gcs: Target) -> None:
    from google.cloud.storage.batch import Batch

    batch = Batch(client(gcs), raise_exception=False)
    assert _gcloud_sdk.batch_responses(batch) == []


def test_private_sdk_patch_query_params(gcs: Target) -> None:
    bucket = gcs.new_bucket()
    gcs.put(bucket, "a.css", b"x")
    blob = _gcloud_sdk.PatchBlob("a.css", client(gcs).bucket(bucket))
    blob.predefined_acl = "publicRead"
    blob.cache_control = "max-age=3"
    gcs_client = client(gcs)
    records: list[str] = []
    gcs_client._http.hooks.setdefault("response", []).append(
        lambda response, *a, **k: records.append(response.request.url)
    )
    try:
        blob.patch()
    finally:
        gcs_client._http.hooks["response"].pop()
    assert parse_qs(urlsplit(records[-1]).query)["predefinedAcl"] == ["publicRead"]
    assert blob.cache_control == "max-age=3"
