"""Options: known names, typed values, global fallbacks, clear errors."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from preloadstorage.backends.s3 import PreloadingS3Storage

BASE = {"bucket_name": "b", "access_key": "test", "secret_key": "test", "region_name": "us-east-1"}


def make(**options: object) -> PreloadingS3Storage:
    return PreloadingS3Storage(**{**BASE, **options})


def test_defaults_and_global_fallback() -> None:
    assert make().max_workers == 16
    with override_settings(PRELOADSTORAGE_MAX_WORKERS=4):
        assert make().max_workers == 4
        assert make(max_workers=8).max_workers == 8


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_workers", 0),
        ("max_workers", "8"),
        ("max_workers", True),
        ("summary", "yes"),
        ("progress_interval", -1),
        ("max_attempts", 0),
    ],
)
def test_ill_typed_options_name_the_option(option: str, value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"'{option}'.*PRELOADSTORAGE_{option.upper()}"):
        make(**{option: value})


def test_unknown_option_suggests_the_closest() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"'max_worker'.*Did you mean 'max_workers'"):
        make(max_worker=3)


def test_file_overwrite_false_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"file_overwrite=True.*AWS_S3_FILE_OVERWRITE"):
        make(file_overwrite=False)
    with override_settings(AWS_S3_FILE_OVERWRITE=False), pytest.raises(ImproperlyConfigured):
        make()


def test_django_storages_options_still_work() -> None:
    storage = make(location="static", custom_domain="cdn.example.com", default_acl="public-read")
    assert storage.url("a b.css") == "https://cdn.example.com/static/a%20b.css"
    assert storage.default_acl == "public-read"
    assert storage.client_config.max_pool_connections >= storage.max_workers


def test_storage_is_picklable() -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(make(location="static")))
    assert copy._preload_run is None and copy.location == "static"


def test_keys_are_normalised_like_django_storages() -> None:
    from django.core.exceptions import SuspiciousOperation

    storage = make(location="static")
    assert storage.preload_adapter.key("css/../img/a b.png") == "static/img/a b.png"
    with pytest.raises(SuspiciousOperation):
        storage.preload_adapter.key("../../etc/passwd")
