"""LocalURLMixin: URLs answered without the backend while post-processing runs locally.

On S3 with unsigned URLs, Django's URL rewriting must not presign a URL per reference,
and the rewritten files must stay byte for byte what Django writes; with signed URLs
(``querystring_auth``) the backend's own URLs are used, as stock does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from storages.backends.s3 import S3Storage

from tests.conftest import StaticTree, deploy, local_collect, prefixed
from tests.targets.s3 import S3Target


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
