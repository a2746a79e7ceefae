"""Faults on every backend: flaky servers, refused writes, kills, races, bad input.

The fast tier runs on every backend; the SIGKILL tier (``-m slow``) runs real
``manage.py collectstatic`` subprocesses of the example project and kills them.
"""

from __future__ import annotations

import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import (
    EXAMPLE,
    LOCATION,
    REPO,
    StaticTree,
    deploy,
    local_collect,
    prefixed,
)
from tests.targets.base import Target


def assert_manifest_consistent(target: Target, bucket: str) -> dict[str, bytes]:
    """The live manifest names only objects that exist."""
    stored = target.objects(bucket)
    manifest = stored.get(f"{LOCATION}/staticfiles.json")
    if manifest is not None:
        for name, hashed in json.loads(manifest)["paths"].items():
            assert f"{LOCATION}/{hashed}" in stored, f"{name} -> {hashed} is missing"
    return stored


@pytest.mark.proxy
def test_transient_errors_do_not_fail_a_deploy(
    target: Target, small_tree: StaticTree, tmp_path: Path
) -> None:
    target.proxy.fault_kinds = ("503", "500", "reset")
    target.proxy.fault_rate = 0.1
    bucket = target.new_bucket()
    for step in range(3):
        if step == 2:
            small_tree.write("css/vars.css", ":root { --c: green; }\n")
        result = deploy(target, bucket)
        assert result.exit_code == 0, f"step {step}: {result.error}"
    target.proxy.fault_rate = 0.0
    stored = target.objects(bucket)
    for key, data in prefixed(local_collect(tmp_path)).items():
        assert stored[key] == data, key


@pytest.mark.proxy
def test_refused_writes_fail_once_clearly_and_delete_nothing(
    target: Target, small_tree: StaticTree
) -> None:
    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    target.put(bucket, f"{LOCATION}/stale.txt", b"stale")
    small_tree.write("js/app.js", "console.log('v2');\n")
    before = target.objects(bucket)

    def read_only(operation: str, method: str, path: str) -> int | None:
        return 403 if operation in target.upload_ops else None

    target.proxy.rule = read_only
    result = deploy(target, bucket, "--clear")
    target.proxy.rule = None

    assert result.exit_code == 1
    message = str(result.error)
    assert "could not be written to" in message and "js/app" in message
    assert target.count(target.delete_ops) == 0
    assert target.objects(bucket) == before


def test_staging_area_is_private_and_removed_on_failure(
    moto: Target, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tempfile.mkdtemp()
    monkeypatch.setattr(tempfile, "tempdir", tmp)
    seen: list[int] = []
    from preloadstorage import staging

    original = staging.StagingArea.__init__

    def spy(self: staging.StagingArea, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(os.stat(self.root).st_mode & 0o777)

    monkeypatch.setattr(staging.StagingArea, "__init__", spy)
    small_tree.write("css/base.css", 'body { background: url("missing.png"); }\n')
    bucket = moto.new_bucket()
    assert deploy(moto, bucket).exit_code == 1
    assert seen == [0o700]
    assert glob.glob(os.path.join(tmp, "preloadstorage-*")) == []
    shutil.rmtree(tmp)


def test_empty_static_tree(target: Target, tmp_path: Path) -> None:
    from django.test import override_settings

    empty = tmp_path / "empty"
    empty.mkdir()
    with override_settings(
        STATICFILES_DIRS=[str(empty)], INSTALLED_APPS=["django.contrib.staticfiles"]
    ):
        bucket = target.new_bucket()
        result = deploy(target, bucket)
    assert result.exit_code == 0, result.error
    assert json.loads(target.objects(bucket)[f"{LOCATION}/staticfiles.json"])["paths"] == {}


def test_unreadable_source_file_names_the_file(
    moto: Target, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.files.storage import FileSystemStorage

    small_tree.write("css/secret.css", "a {}")
    original = FileSystemStorage._open

    def refuse(self: FileSystemStorage, name: str, mode: str = "rb") -> object:
        if name.endswith("secret.css"):
            raise PermissionError(13, "Permission denied", self.path(name))
        return original(self, name, mode)

    # Tests run as root here, which reads any file: refuse it the way the OS would.
    monkeypatch.setattr(FileSystemStorage, "_open", refuse)
    bucket = moto.new_bucket()
    result = deploy(moto, bucket)
    assert isinstance(result.error, PermissionError)
    assert "secret.css" in str(result.error)
    assert f"{LOCATION}/staticfiles.json" not in moto.objects(bucket)


# -- the SIGKILL tier ----------------------------------------------------------------------
def _manage(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(EXAMPLE / "manage.py"), "collectstatic", "--noinput", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_never_breaks_the_live_manifest(
    moto: Target, tmp_path: Path
) -> None:
    project = tmp_path / "example_project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    variables = project / "pages" / "static" / "pages" / "css" / "variables.css"
    bucket = moto.new_bucket()
    moto.proxy.delay = 0.01  # a deploy takes a few seconds: room to be killed
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "EXAMPLE_STORAGE": "s3",
        "EXAMPLE_S3_ENDPOINT": moto.proxy.endpoint,
        "EXAMPLE_S3_BUCKET": bucket,
        "EXAMPLE_S3_LOCATION": LOCATION,
        "EXAMPLE_DB_PATH": str(tmp_path / "db.sqlite3"),
    }
    rng = random.Random(1234)
    manage = [sys.executable, str(project / "manage.py"), "collectstatic", "--noinput"]
    started = time.monotonic()
    full = subprocess.run(manage, env=env, capture_output=True, timeout=300)
    assert full.returncode == 0, full.stderr.decode()
    duration = time.monotonic() - started

    for trial in range(20):
        # A cascading edit: every stylesheet, and so many hashed names, change.
        variables.write_text(f":root {{ --trial: {trial}; }}\n" + variables.read_text())
        proc = subprocess.Popen(manage, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.3, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert_manifest_consistent(moto, bucket)

    moto.proxy.delay = 0.0
    final = subprocess.run(manage, env=env, capture_output=True, timeout=300)
    assert final.returncode == 0, final.stderr.decode()
    local_root = tmp_path / "local"
    expected = subprocess.run(
        manage,
        env={**env, "EXAMPLE_STORAGE": "local", "EXAMPLE_STATIC_ROOT": str(local_root)},
        capture_output=True,
        timeout=300,
    )
    assert expected.returncode == 0, expected.stderr.decode()
    stored = assert_manifest_consistent(moto, bucket)
    for path in local_root.rglob("*"):
        if path.is_file():
            key = f"{LOCATION}/{path.relative_to(local_root).as_posix()}"
            assert stored[key] == path.read_bytes(), key


@pytest.mark.slow
@pytest.mark.proxy
def test_racing_deploys_leave_one_complete_manifest(target: Target, tmp_path: Path) -> None:
    trees = []
    for label in ("a", "b"):
        project = tmp_path / label
        shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
        variables = project / "pages" / "static" / "pages" / "css" / "variables.css"
        variables.write_text(f":root {{ --tree: {label}; }}\n" + variables.read_text())
        trees.append(project)
    bucket = target.new_bucket()
    target.proxy.delay = 0.005
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "EXAMPLE_DB_PATH": str(tmp_path / "db.sqlite3"),
        **target.example_env(bucket, LOCATION),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(p / "manage.py"), "collectstatic", "--noinput"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for p in trees
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode() if proc.stderr else ""
    target.proxy.delay = 0.0

    stored = assert_manifest_consistent(target, bucket)
    live = json.loads(stored[f"{LOCATION}/staticfiles.json"])
    manifests = []
    for project in trees:
        root = tmp_path / f"{project.name}-local"
        subprocess.run(
            [sys.executable, str(project / "manage.py"), "collectstatic", "--noinput"],
            env={**env, "EXAMPLE_STORAGE": "local", "EXAMPLE_STATIC_ROOT": str(root)},
            check=True,
            capture_output=True,
            timeout=300,
        )
        manifests.append((root, json.loads((root / "staticfiles.json").read_text())))
    winner = [root for root, manifest in manifests if manifest["paths"] == live["paths"]]
    assert len(winner) == 1, "the live manifest is a mix of both deploys"
    for hashed in live["paths"].values():
        assert stored[f"{LOCATION}/{hashed}"] == (winner[0] / hashed).read_bytes()


@pytest.mark.slow
def test_a_200_mib_file_is_uploaded_in_parts_and_skipped_next_time(
    moto: Target, small_tree: StaticTree
) -> None:
    big = small_tree.write("media/big.bin", b"")
    with open(big, "wb") as fh:
        block = bytes(range(256)) * 4096
        for _ in range(200):
            fh.write(block)
    bucket = moto.new_bucket()
    result = deploy(moto, bucket)
    assert result.exit_code == 0, result.error
    head = moto.client.head_object(Bucket=bucket, Key=f"{LOCATION}/media/big.bin")
    assert head["ContentLength"] == 200 * 1024 * 1024
    assert head["ETag"].strip('"').endswith("-25")  # multipart, 8 MiB parts
    again = deploy(moto, bucket)
    assert again.exit_code == 0 and moto.count(moto.upload_ops) == 0
