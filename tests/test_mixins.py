"""PreloadMixin through the in-memory reference adapter: no server, real collectstatic runs.

Every assertion is on what reached the bucket (bytes, metadata) and what a server would
have been asked (``MemoryAdapter.requests``), per run.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import django
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage

from preloadstorage.backends.memory import (
    _BUCKETS,
    MemoryAdapter,
    PreloadingInMemoryManifestStorage,
    PreloadingInMemoryStorage,
)
from preloadstorage.contract import RemoteObject, Upload
from preloadstorage.state import STATE_NAME
from tests.conftest import MEMORY, Memory, StaticTree

SMALL = ["css/base.css", "css/vars.css", "img/a.png", "js/app.js"]
CC = {"cache_control": "max-age=60"}


def sources(tree: StaticTree, names: list[str] = SMALL) -> dict[str, bytes]:
    return {name: tree.path(name).read_bytes() for name in names}


def old(path: Path) -> None:
    """Make ``path`` look older than anything in the bucket."""
    os.utime(path, (946684800, 946684800))  # 2000-01-01


# -- preload and content skip ---------------------------------------------------------------
def test_first_deploy_lists_once_and_puts_each_file_once(
    memory: Memory, small_tree: StaticTree
) -> None:
    result = memory.run(backend=MEMORY)

    assert result.exit_code == 0, result.stderr
    assert memory.objects() == sources(small_tree)
    # One listing, one PUT per file, one PUT of the run state; no HEAD, no GET.
    assert memory.requests == {"list": 1, "put": len(SMALL) + 1}
    assert sorted(memory.writes)[-1] == ("put", STATE_NAME)
    assert "4 static files copied" in result.stdout
    assert "memory://: 4 uploaded" in result.stdout
    assert "requests: 1 list, 5 put" in result.stdout


def test_one_listing_per_run_on_a_real_tree(memory: Memory, tree: StaticTree) -> None:
    assert memory.run(backend=MEMORY).exit_code == 0
    files = len(memory.objects())
    assert files > 50
    assert memory.requests == {"list": 1, "put": files + 1}

    assert memory.run(backend=MEMORY).exit_code == 0
    assert memory.requests == {"list": 1, "get": 1}  # the listing, the run state


def test_rerun_and_retouched_sources_send_nothing(memory: Memory, small_tree: StaticTree) -> None:
    assert memory.run(backend=MEMORY, object_parameters=CC).exit_code == 0
    before = memory.objects(state=True)

    for touch in (False, True):
        if touch:
            small_tree.touch_all()  # a fresh CI checkout: every mtime is "now"
        result = memory.run(backend=MEMORY, object_parameters=CC)
        assert result.exit_code == 0, result.stderr
        assert memory.requests == {"list": 1, "get": 1}
        assert memory.writes == []
        assert "0 static files copied, 4 unmodified" in result.stdout
        assert "0 uploaded (0 B), 4 unchanged, 0 deleted" in result.stdout
        assert memory.objects(state=True) == before


def test_changed_file_is_uploaded_even_if_the_bucket_copy_is_newer(
    memory: Memory, small_tree: StaticTree
) -> None:
    assert memory.run(backend=MEMORY).exit_code == 0
    old(small_tree.write("css/vars.css", ":root { --c: blue; }\n"))

    result = memory.run(backend=MEMORY)

    assert result.exit_code == 0, result.stderr
    assert memory.objects()["css/vars.css"] == b":root { --c: blue; }\n"
    # The command deleted the old copy before saving the new one: one PUT, no DELETE
    # (and the run state, rewritten because this run wrote an object).
    assert memory.writes == [("put", "css/vars.css"), ("put", STATE_NAME)]
    assert memory.requests == {"list": 1, "get": 1, "put": 2}
    assert "1 static file copied, 3 unmodified" in result.stdout


# -- deletes ------------------------------------------------------------------------------------
def test_clear_deletes_only_stale_objects_after_the_manifest(
    memory: Memory, small_tree: StaticTree
) -> None:
    small_tree.write("css/gone.css", "a { color: red; }\n")
    assert memory.run().exit_code == 0
    before = memory.objects(state=True)
    assert STATE_NAME in before and "css/gone.css" in before
    small_tree.path("css/gone.css").unlink()

    result = memory.run("--clear")

    assert result.exit_code == 0, result.stderr
    stale = sorted(k for k in before if k.startswith("css/gone."))
    assert len(stale) == 2  # the original and its hashed copy
    after = memory.objects(state=True)
    assert sorted(set(before) - set(after)) == stale
    kept = set(after) - {STATE_NAME, "staticfiles.json"}
    assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
    assert b"gone.css" not in after["staticfiles.json"]
    # Unchanged files were "deleted" by the command and saved again: nothing sent for
    # them. The manifest (it changed: gone.css left it) goes first, then the deletes,
    # then the run state, which is never deleted.
    assert memory.writes == [
        ("put", "staticfiles.json"),
        *[("delete", key) for key in stale],
        ("put", STATE_NAME),
    ]
    if django.VERSION >= (6, 0):  # collectstatic counts deletions since Django 6.0
        assert f"{len(before) - 1} static files deleted" in result.stdout
    assert "1 uploaded" in result.stdout and "2 deleted" in result.stdout


def test_clear_of_an_unchanged_collection_sends_nothing(
    memory: Memory, small_tree: StaticTree
) -> None:
    assert memory.run(backend=MEMORY).exit_code == 0
    before = memory.objects(state=True)

    result = memory.run("--clear", backend=MEMORY)

    assert result.exit_code == 0, result.stderr
    assert memory.writes == []
    assert memory.objects(state=True) == before


def test_dry_run_writes_nothing(memory: Memory, small_tree: StaticTree) -> None:
    assert memory.run().exit_code == 0
    before = memory.objects(state=True)
    small_tree.write("css/vars.css", ":root { --c: blue; }\n")
    small_tree.write("css/new.css", "b { color: red; }\n")
    small_tree.path("js/app.js").unlink()

    for args in (("--dry-run",), ("--dry-run", "--clear")):
        result = memory.run(*args, object_parameters=CC)
        assert result.exit_code == 0, result.stderr
        assert memory.writes == []
        assert set(memory.requests) <= {"list", "get"}
        assert memory.objects(state=True) == before


def test_dry_run_on_an_empty_bucket_writes_nothing(memory: Memory, small_tree: StaticTree) -> None:
    result = memory.run("--dry-run")
    assert result.exit_code == 0, result.stderr
    assert memory.writes == []
    assert memory.objects(state=True) == {}


# -- --no-post-process: no barrier, so writes are synchronous ------------------------------
class ThreadRecordingAdapter(MemoryAdapter):
    threads: list[str] = []

    def upload(self, upload: Upload) -> RemoteObject:
        self.threads.append(threading.current_thread().name)
        if upload.key == "css/vars.css":
            raise PermissionError("AccessDenied: writes under css/vars.css refused")
        return super().upload(upload)


class ThreadRecordingStorage(PreloadingInMemoryStorage):
    preload_adapter_class = ThreadRecordingAdapter


def test_no_post_process_uploads_synchronously_and_fails_on_error(
    memory: Memory, small_tree: StaticTree
) -> None:
    ThreadRecordingAdapter.threads = []

    result = memory.run("--no-post-process", backend=f"{__name__}.ThreadRecordingStorage")

    assert result.exit_code != 0
    assert "css/vars.css" in str(result.error)
    assert "AccessDenied" in str(result.error)
    # Every write ran on the command's own thread, one at a time, up to the failure.
    assert set(ThreadRecordingAdapter.threads) == {threading.main_thread().name}
    assert "css/vars.css" not in memory.objects()
    # The summary counts the failure, at WARNING (stderr).
    assert "1 FAILED" in result.stderr, (result.stdout, result.stderr)


def test_no_post_process_success_uploads_everything(memory: Memory, small_tree: StaticTree) -> None:
    result = memory.run("--no-post-process", backend=MEMORY)
    assert result.exit_code == 0, result.stderr
    assert memory.objects() == sources(small_tree)
    assert memory.requests == {"list": 1, "put": len(SMALL) + 0}  # no barrier, no state
    assert "4 uploaded" in result.stdout


# -- bad input ----------------------------------------------------------------------------------
def test_unreadable_source_file_fails_naming_it(memory: Memory, small_tree: StaticTree) -> None:
    assert memory.run().exit_code == 0
    manifest = memory.objects()["staticfiles.json"]
    # A dangling symlink: unreadable even for root (chmod 000 is not).
    os.symlink(small_tree.root / "nowhere.css", small_tree.root / "css" / "broken.css")

    result = memory.run()

    assert result.exit_code != 0
    assert "css/broken.css" in str(result.error)
    assert "Cannot read the static file" in str(result.error)
    assert memory.objects()["staticfiles.json"] == manifest
    assert not any(op == "delete" for op, _ in memory.writes)


# -- metadata -----------------------------------------------------------------------------------
class BlindAdapter(MemoryAdapter):
    """A listing that shows no metadata, as on S3: the run state decides."""

    def metadata_matches(self, remote: RemoteObject, upload: Upload) -> bool | None:
        return None


class BlindStorage(PreloadingInMemoryStorage):
    preload_adapter_class = BlindAdapter


class BlindManifestStorage(PreloadingInMemoryManifestStorage):
    preload_adapter_class = BlindAdapter


BACKENDS = {
    "listing-shows-metadata": MEMORY,
    "listing-blind": f"{__name__}.BlindStorage",
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return BACKENDS[request.param]


def test_new_object_parameters_patch_every_object_and_put_no_file(
    memory: Memory, small_tree: StaticTree, backend: str
) -> None:
    assert memory.run(backend=backend, object_parameters=CC).exit_code == 0
    contents = memory.objects()
    changed = {"cache_control": "max-age=3600", "content_disposition": "inline"}

    result = memory.run(backend=backend, object_parameters=changed)

    assert result.exit_code == 0, result.stderr
    assert sorted(memory.writes) == [
        *[("patch", name) for name in SMALL],
        ("put", STATE_NAME),
    ]
    assert memory.objects() == contents
    metadata = memory.metadata()
    assert metadata["css/base.css"] == {"content_type": "text/css", **changed}
    assert metadata["img/a.png"] == {"content_type": "image/png", **changed}
    assert "4 metadata updated" in result.stdout

    assert memory.run(backend=backend, object_parameters=changed).exit_code == 0
    assert memory.writes == []


class PerNameStorage(PreloadingInMemoryStorage):
    def get_object_parameters(self, name: str) -> dict[str, Any]:
        if name.endswith(".css"):
            return {"cache_control": "no-cache"}
        return super().get_object_parameters(name)


class PerNameBlindStorage(PerNameStorage):
    preload_adapter_class = BlindAdapter


@pytest.mark.parametrize("storage", [PerNameStorage, PerNameBlindStorage])
def test_per_name_object_parameters(
    memory: Memory, small_tree: StaticTree, storage: type[Any]
) -> None:
    backend = f"{__name__}.{storage.__name__}"
    assert memory.run(backend=backend, object_parameters=CC).exit_code == 0
    metadata = memory.metadata()
    assert metadata["css/vars.css"] == {"content_type": "text/css", "cache_control": "no-cache"}
    assert metadata["js/app.js"]["cache_control"] == "max-age=60"

    # Only the objects whose parameters changed are rewritten.
    result = memory.run(backend=backend, object_parameters={"cache_control": "max-age=1"})
    assert result.exit_code == 0, result.stderr
    assert sorted(memory.writes) == [
        ("patch", "img/a.png"),
        ("patch", "js/app.js"),
        ("put", STATE_NAME),
    ]
    assert memory.metadata()["css/base.css"]["cache_control"] == "no-cache"
    assert memory.metadata()["img/a.png"]["cache_control"] == "max-age=1"


def test_clear_reapplies_metadata_the_listing_cannot_show(
    memory: Memory, small_tree: StaticTree
) -> None:
    backend = BACKENDS["listing-blind"]
    assert memory.run(backend=backend, object_parameters=CC).exit_code == 0
    # Another tool changed an object's metadata, without touching its bytes.
    memory.metadata()["js/app.js"]["cache_control"] = "private"
    assert memory.run(backend=backend, object_parameters=CC).exit_code == 0
    assert memory.writes == []  # the listing cannot tell; the run state says current

    result = memory.run("--clear", backend=backend, object_parameters=CC)

    assert result.exit_code == 0, result.stderr
    assert sorted(op for op in memory.writes if op[1] != STATE_NAME) == [
        ("patch", name) for name in SMALL
    ]
    assert not any(op == "put" for op, key in memory.writes if key != STATE_NAME)
    assert memory.metadata()["js/app.js"]["cache_control"] == "max-age=60"


def test_clear_trusts_metadata_the_listing_shows(memory: Memory, small_tree: StaticTree) -> None:
    assert memory.run(backend=MEMORY, object_parameters=CC).exit_code == 0
    memory.metadata()["js/app.js"]["cache_control"] = "private"

    result = memory.run("--clear", backend=MEMORY, object_parameters=CC)

    assert result.exit_code == 0, result.stderr
    assert memory.writes == [("patch", "js/app.js"), ("put", STATE_NAME)]
    assert memory.metadata()["js/app.js"]["cache_control"] == "max-age=60"


def test_lost_run_state_means_apply_once_then_stable(
    memory: Memory, small_tree: StaticTree
) -> None:
    backend = BACKENDS["listing-blind"]
    assert memory.run(backend=backend, object_parameters=CC).exit_code == 0
    bucket: Any = InMemoryStorage()
    bucket._root = _BUCKETS["default"][0]
    bucket.delete(STATE_NAME)

    result = memory.run(backend=backend, object_parameters=CC)
    assert result.exit_code == 0, result.stderr
    assert sorted(memory.writes) == [*[("patch", n) for n in SMALL], ("put", STATE_NAME)]
    assert STATE_NAME in memory.objects(state=True)

    assert memory.run(backend=backend, object_parameters=CC).exit_code == 0
    assert memory.writes == []
    assert memory.requests == {"list": 1, "get": 1}


# -- outside collectstatic ---------------------------------------------------------------------
def test_outside_collectstatic_every_method_is_the_backends_own(memory: Memory) -> None:
    storage = PreloadingInMemoryStorage(object_parameters=CC)
    assert storage.save("css/a.css", ContentFile(b"a {}")) == "css/a.css"
    assert storage.exists("css/a.css") and not storage.exists("css/b.css")
    assert storage.size("css/a.css") == 4
    assert storage.listdir("css") == ([], ["a.css"])
    assert storage.get_modified_time("css/a.css") is not None
    with storage.open("css/a.css") as fh:
        assert fh.read() == b"a {}"
    # InMemoryStorage's own save: a second save of the name gets a new one, as stock.
    assert storage.save("css/a.css", ContentFile(b"b {}")) != "css/a.css"
    storage.delete("css/a.css")
    assert not storage.exists("css/a.css")
    adapter: Any = storage.preload_adapter
    assert adapter.requests == {}
    assert storage._preload_run is None
    assert memory.metadata() == {}
