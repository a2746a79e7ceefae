"""The conformance suite: the same scenarios on every backend and server.

Each test runs the stock ``collectstatic`` against a real server behind a recording
proxy and asserts on what reached the server (requests by operation), on the bucket's
bytes (compared with Django's own local ManifestStaticFilesStorage) and on the outcome.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import LOCATION, StaticTree, collect, deploy, local_collect, prefixed
from tests.targets.base import Target


def changed_keys(before: dict[str, bytes], after: dict[str, bytes]) -> set[str]:
    return {name for name, data in after.items() if before.get(name) != data}


def test_first_deploy_is_byte_exact_with_one_upload_per_object(
    target: Target, tree: StaticTree, tmp_path: Path
) -> None:
    expected = prefixed(local_collect(tmp_path))
    bucket = target.new_bucket()

    result = deploy(target, bucket)

    assert result.exit_code == 0, result.stderr
    assert target.objects(bucket) == expected
    assert target.count(target.object_upload_ops) == len(expected)
    assert target.count(target.metadata_ops) == 0
    assert target.count(target.delete_ops) == 0
    assert target.count(target.list_ops) >= 1
    assert "preloadstorage:" in result.stdout and f"{len(expected)} uploaded" in result.stdout


@pytest.mark.proxy
def test_manifest_is_uploaded_last(target: Target, small_tree: StaticTree) -> None:
    bucket = target.new_bucket()
    result = deploy(target, bucket)
    assert result.exit_code == 0, result.stderr
    uploads = [
        r
        for r in target.proxy.records
        if r[0] in target.object_upload_ops and "preloadstorage-state.json" not in r[2]
    ]
    # Names are in the path (S3, Azure) or, for GCS inserts, in the query (proxy).
    names = [unquote(urlsplit(r[2]).path + "?" + urlsplit(r[2]).query) for r in uploads]
    manifest = [
        n
        for n in names
        if n.split("?")[0].endswith("staticfiles.json")
        or n.endswith("name=static/staticfiles.json")
    ]
    assert len(manifest) == 1 and names[-1] == manifest[0]


def test_unchanged_rerun_only_lists(target: Target, tree: StaticTree) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    before = target.objects(bucket)

    result = deploy(target, bucket)

    assert result.exit_code == 0, result.stderr
    assert target.count(target.upload_ops) == 0
    assert target.count(target.metadata_ops) == 0
    assert target.count(target.delete_ops) == 0
    assert target.count(target.read_ops) <= 1  # the manifest
    assert target.state_count(target.read_ops) <= 1  # and the run state
    assert target.state_count(target.upload_ops) == 0  # unchanged: not rewritten
    assert target.count(target.list_ops) >= 1
    assert "0 static files copied" in result.stdout
    assert target.objects(bucket) == before


def test_retouched_files_are_not_uploaded(target: Target, tree: StaticTree) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    time.sleep(1.1)  # the bucket's copies are now older than the sources' mtimes
    tree.touch_all()

    result = deploy(target, bucket)

    assert result.exit_code == 0, result.stderr
    assert target.count(target.upload_ops) == 0
    assert target.count(target.metadata_ops) == 0
    assert "0 static files copied" in result.stdout


def _edit_and_check(
    target: Target, tree: StaticTree, tmp_path: Path, name: str, data: bytes
) -> None:
    bucket = target.new_bucket()
    before = local_collect(tmp_path)
    assert deploy(target, bucket).exit_code == 0
    tree.path(name).write_bytes(data)
    after = local_collect(tmp_path)
    changed = changed_keys(before, after)

    result = deploy(target, bucket)

    assert result.exit_code == 0, result.stderr
    assert target.count(target.object_upload_ops) == len(changed)
    assert target.count(target.metadata_ops) == 0
    assert target.count(target.delete_ops) == 0
    stored = target.objects(bucket)
    for key, data_after in prefixed(after).items():
        assert stored[key] == data_after, key
    # Blue/green: the previous deploy's hashed files are still there.
    for key in prefixed(before):
        assert key in stored


def test_leaf_edit_uploads_only_changed_objects(
    target: Target, tree: StaticTree, tmp_path: Path
) -> None:
    _edit_and_check(target, tree, tmp_path, "robots.txt", b"User-agent: *\nDisallow: /x\n")


def test_cascading_edit_uploads_only_changed_objects(
    target: Target, tree: StaticTree, tmp_path: Path
) -> None:
    path = tree.path("pages/css/variables.css")
    _edit_and_check(
        target,
        tree,
        tmp_path,
        "pages/css/variables.css",
        path.read_bytes() + b"\n:root { --edited: 1; }\n",
    )


def test_changed_file_older_than_bucket_copy_is_uploaded(
    target: Target, small_tree: StaticTree
) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    path = small_tree.write("js/app.js", "console.log('changed');\n")
    old = time.time() - 10 * 86400
    os.utime(path, (old, old))

    result = deploy(target, bucket)

    assert result.exit_code == 0, result.stderr
    assert target.objects(bucket)[f"{LOCATION}/js/app.js"] == b"console.log('changed');\n"


def test_clear_removes_stale_objects_and_keeps_unchanged_ones(
    target: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    target.put(bucket, f"{LOCATION}/old/stale.0123456789ab.css", b"stale")
    target.put(bucket, f"{LOCATION}/deep/er/stale.js", b"stale")
    target.put(bucket, "outside/keep.txt", b"not ours")

    result = deploy(target, bucket, "--clear")

    assert result.exit_code == 0, result.stderr
    stored = target.objects(bucket)
    assert {k: v for k, v in stored.items() if k.startswith(LOCATION + "/")} == prefixed(
        local_collect(tmp_path)
    )
    assert stored["outside/keep.txt"] == b"not ours"
    assert target.count(target.upload_ops) == 0
    assert 1 <= target.count(target.delete_ops) <= 2


def test_dry_run_writes_nothing(target: Target, small_tree: StaticTree) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    target.put(bucket, f"{LOCATION}/stale.txt", b"stale")
    small_tree.write("js/app.js", "console.log('changed');\n")
    before = target.objects(bucket)

    result = deploy(target, bucket, "--clear", "--dry-run")

    assert result.exit_code == 0, result.stderr
    assert target.count(target.upload_ops | target.delete_ops) == 0
    assert target.objects(bucket) == before


def test_no_post_process_still_uploads(target: Target, small_tree: StaticTree) -> None:
    bucket = target.new_bucket()
    result = collect(target.static_backend, target.options(bucket, LOCATION), "--no-post-process")
    assert result.exit_code == 0, result.stderr
    assert set(target.objects(bucket)) == {
        f"{LOCATION}/css/base.css",
        f"{LOCATION}/css/vars.css",
        f"{LOCATION}/img/a.png",
        f"{LOCATION}/js/app.js",
    }


def test_metadata_matches_the_stock_backend(target: Target, small_tree: StaticTree) -> None:
    extra = target.cache_control_options("max-age=31536000, public")
    ours, stock = target.new_bucket(), target.new_bucket()
    assert deploy(target, ours, **extra).exit_code == 0
    result = collect(target.stock_manifest_backend, target.options(stock, LOCATION, **extra))
    assert result.exit_code == 0, result.stderr

    stored = target.objects(ours)
    assert stored == target.objects(stock)
    for key in stored:
        assert target.metadata(ours, key) == target.metadata(stock, key), key
    assert target.metadata(ours, f"{LOCATION}/css/base.css")["cache_control"] == (
        "max-age=31536000, public"
    )


@pytest.mark.proxy
def test_failed_upload_keeps_previous_manifest_live(target: Target, small_tree: StaticTree) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    manifest_key = f"{LOCATION}/staticfiles.json"
    old_manifest = target.objects(bucket)[manifest_key]
    small_tree.write("css/vars.css", ":root { --c: blue; }\n")
    small_tree.write("js/app.js", "console.log('v2');\n")

    def refuse_js(operation: str, method: str, path: str) -> int | None:
        return 403 if operation in target.upload_ops and "/js/" in path else None

    target.proxy.rule = refuse_js
    result = deploy(target, bucket)
    target.proxy.rule = None

    assert result.exit_code == 1
    assert "js/app" in str(result.error)
    stored = target.objects(bucket)
    assert stored[manifest_key] == old_manifest
    for hashed in json.loads(old_manifest)["paths"].values():
        assert f"{LOCATION}/{hashed}" in stored

    # Once the fault is gone, a re-run converges.
    result = deploy(target, bucket)
    assert result.exit_code == 0, result.stderr
    paths = json.loads(target.objects(bucket)[manifest_key])["paths"]
    assert target.objects(bucket)[f"{LOCATION}/{paths['js/app.js']}"] == b"console.log('v2');\n"
