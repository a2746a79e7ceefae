"""CDN-facing results on real servers: the signal and the report on every backend, the
cache policy by kind of file, and CloudFront invalidation against moto's CloudFront."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from preloadstorage.signals import SyncResult, sync_finished
from tests.conftest import LOCATION, StaticTree, deploy, local_collect, prefixed
from tests.support import servers
from tests.targets.base import Target

HASHED = "public, max-age=31536000, immutable"
UNHASHED = "no-cache"
#: Requests that rewrite an object's metadata server-side, by proxy flavor.
METADATA_WRITES = {
    "s3": frozenset({"CopyObject"}),
    "gcs": frozenset({"objects.patch"}),
    "azure": frozenset({"SetBlobProperties", "SetBlobMetadata"}),
}


class Received:
    """Every ``sync_finished`` sent while connected, and what was live at that moment."""

    def __init__(self, target: Target | None = None, bucket: str = "") -> None:
        self.target, self.bucket = target, bucket
        self.calls: list[tuple[Any, SyncResult, bytes | None]] = []

    def __call__(self, sender: Any, storage: Any, result: SyncResult, **kwargs: Any) -> None:
        manifest = None
        if self.target is not None:
            key = f"{LOCATION}/staticfiles.json"
            manifest = self.target.stored_objects(self.bucket, key).get(key)
        self.calls.append((storage, result, manifest))

    def one(self) -> SyncResult:
        assert len(self.calls) == 1, f"{len(self.calls)} signals"
        result = self.calls[0][1]
        self.calls.clear()
        return result


@pytest.fixture
def received() -> Iterator[Received]:
    receiver = Received()
    sync_finished.connect(receiver, weak=False)
    yield receiver
    sync_finished.disconnect(receiver)


def hashed_names(manifest: bytes) -> set[str]:
    return {v for k, v in json.loads(manifest)["paths"].items() if v != k}


# -- the signal and the report, on every backend --------------------------------------------
def test_signal_and_report_tell_what_changed(
    target: Target, small_tree: StaticTree, tmp_path: Path, received: Received
) -> None:
    bucket = target.new_bucket()
    received.target, received.bucket = target, bucket
    report = tmp_path / "out" / "report.json"
    first = local_collect(tmp_path)

    result = deploy(target, bucket, report_path=str(report))
    assert result.exit_code == 0, result.stderr
    storage, sent, live = received.calls[0]
    sent = received.one()
    assert sent.ok and sorted(sent.uploaded) == sorted(first)
    assert sent.updated == [] and sent.deleted == [] and sent.unchanged == 0
    assert live == first["staticfiles.json"]  # sent once the manifest is live
    assert storage.preload_is_hashed(next(iter(hashed_names(live))))
    data = json.loads(report.read_text())
    assert {"uploaded", "updated", "deleted", "unchanged", "failed"} <= set(data)
    assert data["uploaded"] == sorted(first) and data["unchanged"] == 0
    assert data["failed"] == [] and data["ok"] is True

    # An edit: the file, its hashed copy, the manifest.
    small_tree.write("js/app.js", "console.log('v2');\n")
    second = local_collect(tmp_path)
    assert deploy(target, bucket, report_path=str(report)).exit_code == 0
    sent = received.one()
    changed = {n for n, data in second.items() if first.get(n) != data}
    assert set(sent.uploaded) == changed and len(changed) == 3
    assert sent.unchanged == len(second) - 3 and sent.deleted == []
    assert json.loads(report.read_text())["uploaded"] == sorted(changed)

    # --clear after a file was removed: the stale objects are deleted, and named.
    (small_tree.root / "js" / "app.js").unlink()
    third = local_collect(tmp_path)
    assert deploy(target, bucket, "--clear", report_path=str(report)).exit_code == 0
    sent = received.one()
    gone = set(first) | set(second)
    gone -= set(third)
    assert set(sent.deleted) == gone and sent.uploaded == ["staticfiles.json"]
    assert json.loads(report.read_text())["deleted"] == sorted(gone)
    assert target.objects(bucket) == prefixed(third)


@pytest.mark.proxy
def test_signal_and_report_of_a_failed_run(
    target: Target, small_tree: StaticTree, tmp_path: Path, received: Received
) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    received.calls.clear()
    small_tree.write("js/app.js", "console.log('v2');\n")
    target.proxy.rule = lambda op, method, path: 403 if op in target.upload_ops else None
    report = tmp_path / "report.json"
    result = deploy(target, bucket, report_path=str(report))
    target.proxy.rule = None

    assert result.exit_code == 1
    sent = received.one()
    assert not sent.ok and "js/app.js" in sent.failed and sent.deleted == []
    data = json.loads(report.read_text())
    assert data["ok"] is False and "js/app.js" in data["failed"]


# -- the cache policy, on every backend -----------------------------------------------------
def assert_policy(target: Target, bucket: str, hashed: str | None, unhashed: str | None) -> None:
    stored = target.objects(bucket)
    names = hashed_names(stored[f"{LOCATION}/staticfiles.json"])
    for key in stored:
        want = hashed if key[len(LOCATION) + 1 :] in names else unhashed
        assert target.metadata(bucket, key)["cache_control"] == want, key


def test_cache_policy_by_kind_of_file(target: Target, small_tree: StaticTree) -> None:
    bucket = target.new_bucket()
    policy = {"hashed_cache_control": HASHED, "unhashed_cache_control": UNHASHED}
    assert deploy(target, bucket, **policy).exit_code == 0
    assert_policy(target, bucket, HASHED, UNHASHED)


@pytest.mark.proxy
def test_turning_the_policy_on_rewrites_metadata_without_reuploads(
    target: Target, small_tree: StaticTree
) -> None:
    bucket = target.new_bucket()
    base = target.cache_control_options("max-age=60")
    assert deploy(target, bucket, **base).exit_code == 0
    objects = len(target.objects(bucket))
    assert_policy(target, bucket, "max-age=60", "max-age=60")

    policy = {"hashed_cache_control": HASHED, "unhashed_cache_control": UNHASHED}
    result = deploy(target, bucket, **base, **policy)
    assert result.exit_code == 0, result.stderr
    # No bytes re-sent (but the run state object's); every object is patched.
    assert target.count(target.object_upload_ops) == 0
    assert target.state_count(target.object_upload_ops) == 1
    assert target.count(METADATA_WRITES[target.flavor]) == objects
    assert_policy(target, bucket, HASHED, UNHASHED)

    # Changing one side touches only that side; an unchanged policy touches nothing.
    # (Not back to unset: fake-gcs-server's objects.patch ignores null values.)
    result = deploy(target, bucket, **base, **{**policy, "unhashed_cache_control": "max-age=0"})
    assert result.exit_code == 0, result.stderr
    unhashed = objects - len(hashed_names(target.objects(bucket)[f"{LOCATION}/staticfiles.json"]))
    assert target.count(METADATA_WRITES[target.flavor]) == unhashed
    assert target.count(target.object_upload_ops) == 0
    assert_policy(target, bucket, HASHED, "max-age=0")
    result = deploy(target, bucket, **base, **{**policy, "unhashed_cache_control": "max-age=0"})
    assert result.exit_code == 0, result.stderr
    assert target.count(METADATA_WRITES[target.flavor] | target.upload_ops, state=True) == 0


# -- CloudFront (moto) ----------------------------------------------------------------------
class CloudFront:
    """A distribution on moto's CloudFront, and what was invalidated on it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client = servers.cloudfront_client(endpoint)
        self.id = servers.create_distribution(self.client, "static", uuid.uuid4().hex)

    def options(self) -> dict[str, Any]:
        return {"cloudfront_distribution_id": self.id, "cloudfront_endpoint_url": self.endpoint}

    def invalidations(self) -> list[list[str]]:
        """The paths of each invalidation, in the order moto lists them (oldest first)."""
        listed = self.client.list_invalidations(DistributionId=self.id)
        found = []
        for item in listed["InvalidationList"].get("Items", []):
            got = self.client.get_invalidation(DistributionId=self.id, Id=item["Id"])
            found.append(sorted(got["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]))
        return found


@pytest.fixture
def cloudfront(moto: Target) -> CloudFront:
    return CloudFront(moto.server.endpoint)


def test_cloudfront_invalidates_changed_unhashed_paths_only(
    moto: Target, cloudfront: CloudFront, small_tree: StaticTree, tmp_path: Path
) -> None:
    bucket = moto.new_bucket()
    report = tmp_path / "report.json"
    first = local_collect(tmp_path)
    names = hashed_names(first["staticfiles.json"])

    result = deploy(moto, bucket, report_path=str(report), **cloudfront.options())
    assert result.exit_code == 0, result.stderr
    unhashed = sorted(f"/{LOCATION}/{n}" for n in first if n not in names)
    assert cloudfront.invalidations() == [unhashed]  # new paths too: CDNs cache 404s
    assert json.loads(report.read_text())["requests"]["CreateInvalidation"] == 1
    assert f"CloudFront {cloudfront.id}: invalidation" in result.stdout
    assert "1 CreateInvalidation" in result.stdout

    # Unchanged: no call. An edit: the original and the manifest, never the hashed copy.
    assert deploy(moto, bucket, **cloudfront.options()).exit_code == 0
    assert len(cloudfront.invalidations()) == 1
    small_tree.write("js/app.js", "console.log('v2');\n")
    assert deploy(moto, bucket, **cloudfront.options()).exit_code == 0
    assert cloudfront.invalidations()[-1] == [
        f"/{LOCATION}/js/app.js",
        f"/{LOCATION}/staticfiles.json",
    ]

    # A removed file: its deleted original is invalidated, its deleted hashed copies not
    # (--clear also re-applies every object's metadata: those paths are invalidated too).
    before = moto.objects(bucket)
    (small_tree.root / "js" / "app.js").unlink()
    assert deploy(moto, bucket, "--clear", **cloudfront.options()).exit_code == 0
    deleted = {f"/{k}" for k in set(before) - set(moto.objects(bucket))}
    assert len(deleted) == 3 and f"/{LOCATION}/js/app.js" in deleted
    last = cloudfront.invalidations()[-1]
    assert set(last) & deleted == {f"/{LOCATION}/js/app.js"}
    assert f"/{LOCATION}/staticfiles.json" in last
    assert not set(last) & {f"/{LOCATION}/{n}" for n in names}


def test_cloudfront_paths_are_percent_encoded(
    moto: Target, cloudfront: CloudFront, small_tree: StaticTree
) -> None:
    small_tree.write("img/a b+ü~#?.txt", "x")
    small_tree.write("img/100%*.txt", "y")
    bucket = moto.new_bucket()
    assert deploy(moto, bucket, **cloudfront.options()).exit_code == 0
    paths = cloudfront.invalidations()[0]
    # Exactly the path of the URL the site serves (url() with custom_domain), except
    # "*", which would be a wildcard.
    from preloadstorage.backends.s3 import PreloadingS3StaticStorage

    storage = PreloadingS3StaticStorage(
        bucket_name=bucket, location=LOCATION, custom_domain="cdn.example.com"
    )
    url = storage.url("img/a b+ü~#?.txt")
    assert url.split("cdn.example.com", 1)[1] in paths
    assert f"/{LOCATION}/img/a%20b%2B%C3%BC~%23%3F.txt" in paths
    assert f"/{LOCATION}/img/100%25%2A.txt" in paths


def test_cloudfront_many_paths_become_one_wildcard(
    moto: Target, cloudfront: CloudFront, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preloadstorage.backends.cloudfront import CloudFrontInvalidationMixin

    monkeypatch.setattr(CloudFrontInvalidationMixin, "cloudfront_max_paths", 3)
    bucket = moto.new_bucket()
    result = deploy(moto, bucket, **cloudfront.options())
    assert result.exit_code == 0, result.stderr
    assert cloudfront.invalidations() == [[f"/{LOCATION}/*"]]
    assert f"/{LOCATION}/* (5 paths)" in result.stdout


def test_cloudfront_failure_warns_and_fails_only_when_asked(
    moto: Target, cloudfront: CloudFront, small_tree: StaticTree, tmp_path: Path
) -> None:
    bucket = moto.new_bucket()
    wrong = {**cloudfront.options(), "cloudfront_distribution_id": "ENOSUCHDIST"}
    report = tmp_path / "report.json"
    result = deploy(moto, bucket, report_path=str(report), **wrong)
    assert result.exit_code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warning) == 1 and "ENOSUCHDIST" in warning[0]
    assert "NoSuchDistribution" in warning[0]
    assert json.loads(report.read_text())["ok"] is True  # the deploy itself is fine

    small_tree.write("js/app.js", "console.log('v2');\n")
    result = deploy(moto, bucket, cloudfront_fail_on_error=True, **wrong)
    assert result.exit_code == 1 and "ENOSUCHDIST" in str(result.error)
    # The bucket is complete all the same: the new manifest is live.
    manifest = f"{LOCATION}/staticfiles.json"
    assert moto.objects(bucket)[manifest] == prefixed(local_collect(tmp_path))[manifest]


def test_cloudfront_nothing_after_a_failed_run(
    moto: Target, cloudfront: CloudFront, small_tree: StaticTree
) -> None:
    bucket = moto.new_bucket()
    assert deploy(moto, bucket, **cloudfront.options()).exit_code == 0
    small_tree.write("js/app.js", "console.log('v2');\n")
    moto.proxy.rule = lambda op, method, path: 403 if op in moto.upload_ops else None
    result = deploy(moto, bucket, **cloudfront.options())
    moto.proxy.rule = None
    assert result.exit_code == 1
    assert len(cloudfront.invalidations()) == 1


def test_cloudfront_options_are_checked_and_s3_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from preloadstorage.backends.s3 import PreloadingS3ManifestStorage, PreloadingS3Storage

    with pytest.raises(ImproperlyConfigured, match="cloudfront_endpoint_url"):
        PreloadingS3Storage(bucket_name="b", cloudfront_endpoint_url="localhost:5000")
    with pytest.raises(ImproperlyConfigured, match="cloudfront_fail_on_error"):
        PreloadingS3ManifestStorage(bucket_name="b", cloudfront_fail_on_error="yes")
    with pytest.raises(ImproperlyConfigured, match="Did you mean 'cloudfront_distribution_id'"):
        PreloadingS3Storage(bucket_name="b", cloudfront_distribution="E1")
    with override_settings(PRELOADSTORAGE_CLOUDFRONT_DISTRIBUTION_ID="EGLOBAL"):
        assert PreloadingS3Storage(bucket_name="b").cloudfront_distribution_id == "EGLOBAL"
    assert PreloadingS3Storage(bucket_name="b").cloudfront_distribution_id is None
    from preloadstorage.backends.memory import PreloadingInMemoryStorage

    with pytest.raises(ImproperlyConfigured, match="Unknown option 'cloudfront_distribution_id'"):
        PreloadingInMemoryStorage(cloudfront_distribution_id="E1")


def test_cloudfront_private_sdk_attributes() -> None:
    """The private django-storages method the CloudFront client's credentials come from."""
    import boto3

    from preloadstorage.backends import cloudfront
    from preloadstorage.backends.s3 import PreloadingS3Storage

    storage = PreloadingS3Storage(bucket_name="b", access_key="AK", secret_key="SK")
    session = cloudfront._create_session(storage)
    assert isinstance(session, boto3.Session)
    assert session.get_credentials().access_key == "AK"
