"""Blue/green-safe pruning (``keep_releases``) and ``keep_only_hashed_files`` on every
backend, against real servers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.template import Context, Template
from django.test import override_settings

from tests.conftest import LOCATION, StaticTree, deploy, local_collect, prefixed
from tests.targets.base import Target

MANIFEST = f"{LOCATION}/staticfiles.json"


def manifest_names(stored: dict[str, bytes]) -> set[str]:
    """The keys of every hashed name the live manifest maps to."""
    paths = json.loads(stored[MANIFEST])["paths"]
    return {f"{LOCATION}/{hashed}" for name, hashed in paths.items() if hashed != name}


def release(target: Target, bucket: str, tree: StaticTree, number: int, *args: str) -> Any:
    """Release ``number``: two files changed (one that others import)."""
    tree.write("js/app.js", f"console.log({number});\n")
    tree.write("css/vars.css", f":root {{ --release: {number}; }}\n")
    return deploy(target, bucket, *args, keep_releases=1)


@pytest.mark.proxy
def test_keep_releases_keeps_the_previous_release_and_prunes_older_ones(
    target: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    bucket = target.new_bucket()
    others = {f"{LOCATION}/other/tool.txt": b"other tool", "elsewhere/x.txt": b"outside"}
    for key, data in others.items():
        target.put(bucket, key, data)

    assert release(target, bucket, small_tree, 1).exit_code == 0
    first = manifest_names(target.objects(bucket))
    target.put(bucket, f"{LOCATION}/other/later.txt", b"written between deploys")
    others[f"{LOCATION}/other/later.txt"] = b"written between deploys"

    assert release(target, bucket, small_tree, 2).exit_code == 0
    stored = target.objects(bucket)
    second = manifest_names(stored)
    assert first <= set(stored), "N=1: release 1 is still servable"
    assert target.count(target.delete_ops) == 0

    result = release(target, bucket, small_tree, 3)
    assert result.exit_code == 0, result.stderr
    stored = target.objects(bucket)
    third = manifest_names(stored)
    assert second <= set(stored) and third <= set(stored)
    gone = first - second - third
    assert len(gone) == 3  # app.js, vars.css and base.css (it imports vars.css)
    assert not gone & set(stored)
    assert {k: stored.get(k) for k in others} == others  # never named by a release
    # What is left is exactly the current collection plus release 2's hashed files.
    current = prefixed(local_collect(tmp_path))
    assert set(stored) == set(current) | second | set(others)
    assert {k: stored[k] for k in current} == current
    if target.flavor == "s3":
        assert target.proxy.counts["DeleteObjects"] == 1  # batched

    # A failed run deletes nothing (release 4's writes are refused).
    target.proxy.rule = lambda op, method, path: 403 if op in target.upload_ops else None
    result = release(target, bucket, small_tree, 4)
    target.proxy.rule = None
    assert result.exit_code == 1
    assert target.count(target.delete_ops) == 0
    assert target.objects(bucket) == stored

    # Retried with --clear: the kept release survives it; release 2 goes.
    result = release(target, bucket, small_tree, 4, "--clear")
    assert result.exit_code == 0, result.stderr
    stored = target.objects(bucket)
    fourth = manifest_names(stored)
    assert third <= set(stored) and fourth <= set(stored)
    assert not (second - third - fourth) & set(stored)
    assert stored["elsewhere/x.txt"] == b"outside"  # never outside the location


def test_keep_releases_needs_a_manifest_class(target: Target) -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.utils.module_loading import import_string

    cls = import_string(target.static_backend)
    with pytest.raises(ImproperlyConfigured, match="keep_releases"):
        cls(**target.options("b", keep_releases=1))


@pytest.mark.proxy
def test_keep_only_hashed_files_uploads_only_what_the_site_serves(
    target: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    local = prefixed(local_collect(tmp_path))
    served = manifest_names(local) | {MANIFEST}
    bucket = target.new_bucket()

    result = deploy(target, bucket, keep_only_hashed_files=True)
    assert result.exit_code == 0, result.stderr
    stored = target.objects(bucket)
    assert stored == {key: local[key] for key in served}
    # One upload per hashed file and the manifest (and one of the run state object).
    assert target.count(target.object_upload_ops) == len(served)
    assert target.state_count(target.object_upload_ops) == 1
    assert len(served) == (len(local) + 1) // 2  # originals left out: about half

    # {% static %} and storage.url() give hashed URLs, and those objects exist.
    options = target.options(bucket, LOCATION, keep_only_hashed_files=True)
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": target.manifest_backend, "OPTIONS": options},
    }
    templates = [{"BACKEND": "django.template.backends.django.DjangoTemplates"}]
    with override_settings(STORAGES=storages, TEMPLATES=templates):
        from django.contrib.staticfiles.storage import staticfiles_storage

        html = Template("{% load static %}{% static 'css/base.css' %}").render(Context())
        url = staticfiles_storage.url("js/app.js")
    base = next(k for k in served if k.startswith(f"{LOCATION}/css/base."))
    app = next(k for k in served if k.startswith(f"{LOCATION}/js/app."))
    assert base.rpartition("/")[2] in html and app.rpartition("/")[2] in url

    # An edit: the new hashed copy and the manifest.
    small_tree.write("js/app.js", "console.log('v2');\n")
    assert deploy(target, bucket, keep_only_hashed_files=True).exit_code == 0
    assert target.count(target.object_upload_ops) == 2
