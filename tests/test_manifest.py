"""LocalManifestMixin: Django's manifest semantics, hooks and errors, run locally."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.test import override_settings

from preloadstorage.backends.s3 import PreloadingS3ManifestStorage
from tests.conftest import LOCATION, StaticTree, collect, local_collect, prefixed
from tests.targets.base import Target


class CustomHooks:
    """Every hook and option a subclass may change."""

    manifest_name = "custom-manifest.json"
    keep_intermediate_files = True
    max_post_process_passes = 7
    support_js_module_import_aggregation = True

    def file_hash(self, name: str, content: Any = None) -> str | None:
        if content is None:
            return None
        digest = hashlib.sha256()
        for chunk in content.chunks():
            digest.update(chunk)
        return digest.hexdigest()[:8]


class CustomPreloading(CustomHooks, PreloadingS3ManifestStorage):
    pass


class CustomLocal(CustomHooks, ManifestStaticFilesStorage):
    pass


class LooseLocal(ManifestStaticFilesStorage):
    manifest_strict = False


def test_subclass_hooks_and_options_are_honoured(
    moto: Target, tree: StaticTree, tmp_path: Path
) -> None:
    root = tmp_path / "custom-local"
    local = collect(f"{__name__}.CustomLocal", {"location": str(root)})
    assert local.error is None, local.stderr
    expected = {
        f"{LOCATION}/{p.relative_to(root).as_posix()}": p.read_bytes()
        for p in root.rglob("*")
        if p.is_file()
    }
    assert f"{LOCATION}/custom-manifest.json" in expected

    bucket = moto.new_bucket()
    result = collect(f"{__name__}.CustomPreloading", moto.options(bucket, LOCATION))

    assert result.exit_code == 0, result.stderr
    assert moto.objects(bucket) == expected
    assert moto.count(moto.read_ops) <= 1


def test_missing_reference_fails_without_writing_a_manifest(
    moto: Target, small_tree: StaticTree
) -> None:
    bucket = moto.new_bucket()
    assert collect(moto.manifest_backend, moto.options(bucket, LOCATION)).exit_code == 0
    manifest = moto.objects(bucket)[f"{LOCATION}/staticfiles.json"]
    small_tree.write("css/base.css", 'body { background: url("../img/missing.png"); }\n')

    result = collect(moto.manifest_backend, moto.options(bucket, LOCATION))

    assert result.exit_code == 1
    assert "missing.png" in str(result.error)
    assert moto.objects(bucket)[f"{LOCATION}/staticfiles.json"] == manifest


def test_non_utf8_css_fails_cleanly(moto: Target, small_tree: StaticTree) -> None:
    small_tree.write("css/latin1.css", "body { content: 'caf\xe9'; }".encode("latin-1"))
    bucket = moto.new_bucket()
    result = collect(moto.manifest_backend, moto.options(bucket, LOCATION))
    assert result.exit_code == 1
    assert "latin1.css" in result.stderr or "latin1.css" in str(result.error)
    assert f"{LOCATION}/staticfiles.json" not in moto.objects(bucket)


def test_too_many_passes_fails_and_keeps_no_manifest(moto: Target, small_tree: StaticTree) -> None:
    small_tree.write("css/a.css", '@import url("b.css");\n')
    small_tree.write("css/b.css", '@import url("a.css");\n')
    bucket = moto.new_bucket()
    result = collect(moto.manifest_backend, moto.options(bucket, LOCATION))
    assert result.exit_code == 1
    assert "Max post-process passes exceeded" in str(result.error)
    assert f"{LOCATION}/staticfiles.json" not in moto.objects(bucket)


def test_manifest_storage_elsewhere_is_written_after_uploads(
    moto: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    from django.core.files.storage import FileSystemStorage

    elsewhere = FileSystemStorage(location=str(tmp_path / "manifests"))
    bucket = moto.new_bucket()
    options = moto.options(bucket, LOCATION, manifest_storage=elsewhere)
    result = collect(moto.manifest_backend, options)
    assert result.exit_code == 0, result.stderr
    stored = json.loads((tmp_path / "manifests" / "staticfiles.json").read_text())
    for hashed in stored["paths"].values():
        assert f"{LOCATION}/{hashed}" in moto.objects(bucket)
    assert f"{LOCATION}/staticfiles.json" not in moto.objects(bucket)


def test_web_process_reads_the_manifest_once_and_never_lists(
    moto: Target, small_tree: StaticTree
) -> None:
    from django.templatetags.static import static

    bucket = moto.new_bucket()
    options = moto.options(bucket, LOCATION)
    assert collect(moto.manifest_backend, options).exit_code == 0
    moto.proxy.reset()
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": moto.manifest_backend, "OPTIONS": options},
    }
    with override_settings(STORAGES=storages):
        url = static("css/base.css")
        static("img/a.png")
    assert "/static/css/base." in url and url.endswith(".css")
    assert dict(moto.proxy.counts) == {"GetObject": 1}


def test_first_deploy_on_empty_bucket_matches_local(
    moto: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    bucket = moto.new_bucket()
    result = collect(moto.manifest_backend, moto.options(bucket, LOCATION))
    assert result.exit_code == 0, result.stderr
    assert moto.objects(bucket) == prefixed(local_collect(tmp_path))


def test_references_cannot_escape_the_location(moto: Target, small_tree: StaticTree) -> None:
    small_tree.write("css/escape.css", 'a { background: url("../../../../outside.png"); }\n')
    bucket = moto.new_bucket()
    moto.put(bucket, "outside.png", b"not a static file")
    result = collect(moto.manifest_backend, moto.options(bucket, LOCATION))
    assert result.exit_code == 1
    assert "outside.png" in str(result.error)
    assert all(
        key.startswith(f"{LOCATION}/") for key in moto.objects(bucket) if key != "outside.png"
    )
