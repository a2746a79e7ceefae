"""preloadstorage.hooks: the cache policy (CachePolicyMixin) and URLs answered without
the backend during local post-processing (LocalURLMixin).

The cache policy is shown on the in-memory reference adapter (the same options on every
backend are proven on the real servers in tests/test_cdn.py). On S3 with unsigned URLs,
Django's URL rewriting must not presign a URL per reference, and the rewritten files
must stay byte for byte what Django writes; with signed URLs (``querystring_auth``) the
backend's own URLs are used, as stock does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from storages.backends.s3 import S3Storage

from preloadstorage.state import STATE_NAME
from tests.conftest import Memory, StaticTree, deploy, local_collect, prefixed
from tests.targets.s3 import S3Target

HASHED = "public, max-age=31536000, immutable"
UNHASHED = "no-cache"


def test_hashed_and_unhashed_names_get_their_own_cache_control(
    memory: Memory, small_tree: StaticTree
) -> None:
    result = memory.run(
        object_parameters={"cache_control": "max-age=60"},
        hashed_cache_control=HASHED,
        unhashed_cache_control=UNHASHED,
    )
    assert result.exit_code == 0, result.stderr
    controls = {name: meta.get("cache_control") for name, meta in memory.metadata().items()}
    hashed = {name for name in controls if name.count(".") >= 2}  # css/base.1a2b3c.css
    assert hashed and all(controls[name] == HASHED for name in hashed)
    unhashed = set(controls) - hashed
    assert "staticfiles.json" in unhashed and "css/base.css" in unhashed
    assert all(controls[name] == UNHASHED for name in unhashed)


def test_without_a_policy_the_backend_parameters_are_untouched(
    memory: Memory, small_tree: StaticTree
) -> None:
    assert memory.run(object_parameters={"cache_control": "max-age=60"}).exit_code == 0
    assert {meta.get("cache_control") for meta in memory.metadata().values()} == {"max-age=60"}


def test_changing_the_policy_rewrites_metadata_only(memory: Memory, small_tree: StaticTree) -> None:
    assert memory.run(hashed_cache_control=HASHED).exit_code == 0
    contents = memory.objects()
    assert memory.run(hashed_cache_control="max-age=600").exit_code == 0
    assert memory.objects() == contents
    puts = [key for op, key in memory.writes if op == "put"]
    patched = {key for op, key in memory.writes if op == "patch"}
    assert puts == [STATE_NAME]  # no file sent again, only the run's records
    assert patched and all(key.count(".") >= 2 for key in patched)  # the hashed ones


# -- URLs -------------------------------------------------------------------------------
@pytest.fixture
def presigns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call of django-storages' ``S3Storage.url()`` (a presigned or unsigned URL
    made by a boto3 client) in this test."""
    calls: list[str] = []
    url = S3Storage.url

    def counting(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return url(self, name, *args, **kwargs)

    monkeypatch.setattr(S3Storage, "url", counting)
    return calls


def test_unsigned_urls_need_no_client_and_keep_djangos_bytes(
    moto: S3Target, tree: StaticTree, tmp_path: Path, presigns: list[str]
) -> None:
    bucket = moto.new_bucket()
    result = deploy(moto, bucket)
    assert result.exit_code == 0, result.stderr
    assert presigns == []  # not one URL presigned for the rewriting
    assert moto.objects(bucket) == prefixed(local_collect(tmp_path))


def test_signed_urls_are_the_backends_own(
    moto: S3Target, small_tree: StaticTree, presigns: list[str]
) -> None:
    bucket = moto.new_bucket()
    result = deploy(moto, bucket, querystring_auth=True)
    assert result.exit_code == 0, result.stderr
    assert presigns  # stock's URLs (with their query strings) shaped the rewritten files


def test_outside_post_processing_url_is_the_backends(moto: S3Target) -> None:
    from preloadstorage.backends.s3 import PreloadingS3ManifestStorage

    storage = PreloadingS3ManifestStorage(**moto.options(moto.new_bucket()))
    storage.hashed_files = {"css/site.css": "css/site.0123456789ab.css"}
    assert storage.url("css/site.css").endswith("/static/css/site.0123456789ab.css")
    assert storage.url("css/site.css").startswith("http")
