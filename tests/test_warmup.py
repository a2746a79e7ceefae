"""Work done ahead while the listing is coming: used only when still valid, on the
command's thread only, and with the same results as without it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage, InMemoryStorage
from django.test import override_settings

from preloadstorage import warmup
from preloadstorage.contract import RemoteObject, Upload
from preloadstorage.fingerprints import Payload
from preloadstorage.mixins import PreloadMixin
from preloadstorage.warmup import PreparedAhead, collected_sources, local_file
from tests.conftest import Memory, StaticTree, Target, deploy, local_collect, prefixed
from tests.test_sync import FakeAdapter


class CountingAdapter(FakeAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.prepared: list[str] = []

    def prepare(self, name: str, content: Any) -> Upload:
        self.prepared.append(name)
        return super().prepare(name, content)


def _age(path: Path) -> None:
    """Written a minute ago, as sources are when a deploy starts."""
    old = time.time() - 60
    os.utime(path, (old, old))


@pytest.fixture
def local(tmp_path: Path) -> FileSystemStorage:
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "a.css").write_bytes(b"body{}")
    _age(tmp_path / "css" / "a.css")
    return FileSystemStorage(location=str(tmp_path))


def test_an_upload_prepared_ahead_is_taken_once_for_the_same_name_and_file(
    local: FileSystemStorage,
) -> None:
    adapter = CountingAdapter()
    ahead = PreparedAhead(adapter)
    ahead.prepare("css/a.css", local, "css/a.css")
    upload = ahead.take("css/a.css", local.path("css/a.css"))
    assert upload is not None and upload.payload.read() == b"body{}"
    assert upload.payload.known_md5 is not None  # hashed ahead, not during the check
    assert ahead.take("css/a.css", local.path("css/a.css")) is None  # taken once
    assert adapter.prepared == ["css/a.css"]


def test_a_file_changed_within_the_current_second_is_not_prepared_ahead(
    local: FileSystemStorage,
) -> None:
    ahead = PreparedAhead(CountingAdapter())
    os.utime(local.path("css/a.css"))  # just now: a second write could keep its stat
    ahead.prepare("css/a.css", local, "css/a.css")
    assert len(ahead) == 0


def test_a_file_changed_after_it_was_prepared_is_prepared_again(
    local: FileSystemStorage,
) -> None:
    ahead = PreparedAhead(CountingAdapter())
    path = local.path("css/a.css")
    ahead.prepare("css/a.css", local, "css/a.css")
    stat = os.stat(path)
    Path(path).write_bytes(b"body{x}")  # same second, other bytes and size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old mtime
    assert ahead.take("css/a.css", path) is None


def test_another_name_or_file_never_gets_the_prepared_upload(
    local: FileSystemStorage, tmp_path: Path
) -> None:
    ahead = PreparedAhead(CountingAdapter())
    ahead.prepare("css/a.css", local, "css/a.css")
    assert ahead.take("css/a.css", str(tmp_path / "elsewhere.css")) is None
    ahead.prepare("css/a.css", local, "css/a.css")
    assert ahead.take("css/b.css", local.path("css/a.css")) is None
    assert ahead.take("css/a.css", None) is None


def test_a_source_is_taken_only_from_the_local_file_it_was_prepared_from(
    local: FileSystemStorage, tmp_path: Path
) -> None:
    other = tmp_path / "other"  # another finder's storage holding the same name
    (other / "css").mkdir(parents=True)
    (other / "css" / "a.css").write_bytes(b"body{}")
    ahead = PreparedAhead(CountingAdapter())
    ahead.prepare("css/a.css", local, "css/a.css")
    assert (
        ahead.take_source("css/a.css", FileSystemStorage(location=str(other)), "css/a.css") is None
    )
    ahead.prepare("css/a.css", local, "css/a.css")
    upload = ahead.take_source("css/a.css", local, "css/a.css")
    assert upload is not None and upload.payload.read() == b"body{}"


def test_a_file_replaced_by_another_with_the_same_size_and_times_is_prepared_again(
    local: FileSystemStorage, tmp_path: Path
) -> None:
    ahead = PreparedAhead(CountingAdapter())
    path = local.path("css/a.css")
    ahead.prepare("css/a.css", local, "css/a.css")
    stat = os.stat(path)
    other = tmp_path / "other.css"
    other.write_bytes(b"body{X")  # same size, other bytes
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, path)  # a new inode under the same name (git checkout, rsync)
    assert ahead.take_source("css/a.css", local, "css/a.css") is None


def test_non_local_sources_and_failures_are_left_to_the_check(
    local: FileSystemStorage,
) -> None:
    class Failing(CountingAdapter):
        def prepare(self, name: str, content: Any) -> Upload:
            raise PermissionError("left for the content check, which names the file")

    remote = InMemoryStorage()
    remote.save("css/a.css", __import__("io").BytesIO(b"x"))
    ahead = PreparedAhead(CountingAdapter())
    ahead.prepare("css/a.css", remote, "css/a.css")  # no local file to check against
    failing = PreparedAhead(Failing())
    failing.prepare("css/a.css", local, "css/a.css")  # does not raise
    assert len(ahead) == 0 and len(failing) == 0
    # A path the storage refuses to map (Django raises SuspiciousFileOperation) is no
    # local file: nothing prepared, nothing raised, nothing taken.
    ahead.prepare("../outside.css", local, "../outside.css")
    assert len(ahead) == 0 and local_file(local, "../outside.css") is None


def test_in_memory_payloads_kept_ahead_stay_within_the_budget(
    local: FileSystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Gzipping(CountingAdapter):  # in-memory bytes, as a gzipping backend makes
        def prepare(self, name: str, content: Any) -> Upload:
            return Upload(name, self.key(name), Payload(data=content.read() * 2))

    (Path(local.location) / "css" / "b.css").write_bytes(b"body{}")
    _age(Path(local.location) / "css" / "b.css")
    monkeypatch.setattr(warmup, "MEMORY_BUDGET", 12)
    ahead = PreparedAhead(Gzipping())
    ahead.prepare("css/a.css", local, "css/a.css")  # 12 bytes: kept
    ahead.prepare("css/b.css", local, "css/b.css")  # 12 more: over the budget, not kept
    assert len(ahead) == 1
    assert ahead.take("css/a.css", local.path("css/a.css")) is not None
    ahead.prepare("css/b.css", local, "css/b.css")  # taken: room again
    assert len(ahead) == 1


def test_the_work_ahead_stops_at_max_ahead_uploads(
    memory: Memory, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preloadstorage.backends.memory import MemoryAdapter

    assert memory.run().exit_code == 0
    small_tree.age()
    monkeypatch.setattr(warmup, "MAX_AHEAD", 2)
    held = HeldListing(monkeypatch, MemoryAdapter)
    result = memory.run()
    assert result.exit_code == 0, result.stderr
    assert len(held.ahead) == 2 and memory.writes == []


def test_sources_are_walked_like_collectstatic_first_one_winning(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for folder in (first, second):
        (folder / "js").mkdir(parents=True)
        (folder / "js" / "app.js").write_text(folder.name)
        (folder / "js" / "skip.tmp").write_text("ignored")
    (second / "only.css").write_text("x")
    command = type("Command", (), {"ignore_patterns": ["*.tmp"]})()
    dirs = [("vendor", str(first)), str(second)]
    with override_settings(STATICFILES_DIRS=dirs, INSTALLED_APPS=["django.contrib.staticfiles"]):
        from django.contrib.staticfiles.finders import get_finder

        get_finder.cache_clear()
        try:
            found = {name: storage.location for name, storage, _ in collected_sources(command)}
        finally:
            get_finder.cache_clear()
    assert found == {
        "vendor/js/app.js": str(first),
        "js/app.js": str(second),
        "only.css": str(second),
    }
    assert list(collected_sources(object())) == []  # no ignore_patterns: not a set-up command


# -- the whole run ----------------------------------------------------------------------------
class HeldListing:
    """Holds every listing until the storage's work ahead is done (then ``between()``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, adapter_class: type[Any]) -> None:
        self.done = threading.Event()
        self.between: Any = None
        self.prepared: list[tuple[str, str]] = []
        #: What was prepared during the work ahead.
        self.ahead: list[str] = []
        work, listing = PreloadMixin.preload_work_ahead, adapter_class.list
        prepare = adapter_class.prepare

        def work_ahead(storage: Any, run: Any) -> Iterator[None]:
            yield from work(storage, run)
            self.ahead = [name for name, _ in self.prepared]
            if self.between is not None:
                self.between()
            self.done.set()

        def held(adapter: Any) -> Iterator[RemoteObject]:
            assert self.done.wait(30), "the work ahead never finished"
            yield from listing(adapter)

        def counted(adapter: Any, name: str, content: Any) -> Upload:
            self.prepared.append((name, threading.current_thread().name))
            return prepare(adapter, name, content)

        monkeypatch.setattr(PreloadMixin, "preload_work_ahead", work_ahead)
        monkeypatch.setattr(adapter_class, "list", held)
        monkeypatch.setattr(adapter_class, "prepare", counted)


def test_an_unchanged_rerun_prepares_each_source_once_on_the_command_thread(
    memory: Memory, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preloadstorage.backends.memory import MemoryAdapter

    assert memory.run().exit_code == 0
    before = memory.objects(state=True)
    small_tree.age()
    held = HeldListing(monkeypatch, MemoryAdapter)
    result = memory.run()
    assert result.exit_code == 0, result.stderr
    assert memory.writes == []
    sources = ["css/base.css", "css/vars.css", "img/a.png", "js/app.js"]
    assert sorted(n for n in held.ahead if n in sources) == sources  # all during the wait
    names = [name for name, _ in held.prepared]
    assert sorted(n for n in names if n in sources) == sources  # once each: taken, not redone
    assert {thread for _, thread in held.prepared} == {threading.main_thread().name}
    assert memory.objects(state=True) == before


def test_a_source_edited_during_the_listing_wait_is_uploaded_with_its_new_bytes(
    memory: Memory, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from preloadstorage.backends.memory import MemoryAdapter

    assert memory.run().exit_code == 0
    small_tree.age()
    held = HeldListing(monkeypatch, MemoryAdapter)
    held.between = lambda: small_tree.write("js/app.js", "console.log('edited');\n")
    result = memory.run()
    assert result.exit_code == 0, result.stderr
    assert "js/app.js" in held.ahead  # prepared with the old bytes, then edited
    stored = memory.objects()
    for name, data in local_collect(tmp_path).items():  # (the old hashed copy stays too)
        assert stored[name] == data, name


def test_on_every_server_an_edit_during_the_wait_reaches_the_bucket(
    target: Target, tree: StaticTree, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from django.utils.module_loading import import_string

    bucket = target.new_bucket()
    assert deploy(target, bucket).exit_code == 0
    held = HeldListing(monkeypatch, import_string(target.manifest_backend).preload_adapter_class)
    edited = "pages/css/variables.css"
    held.between = lambda: tree.path(edited).write_text(":root { --accent: #123456; }\n")
    tree.age()
    result = deploy(target, bucket)
    assert result.exit_code == 0, result.stderr
    stored = target.objects(bucket)
    for key, data in prefixed(local_collect(tmp_path)).items():
        assert stored[key] == data, key
    assert {thread for _, thread in held.prepared} == {threading.main_thread().name}
    names = [name for name, _ in held.prepared]
    assert edited in held.ahead and "pages/css/site.css" in held.ahead
    assert names.count(edited) == 2  # ahead, then again: the file changed after
    assert names.count("pages/css/site.css") == 1  # prepared ahead and taken


def test_a_finder_failing_during_the_work_ahead_is_left_to_the_command(
    memory: Memory, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preloadstorage.backends.memory import MemoryAdapter

    assert memory.run().exit_code == 0
    raised: list[str] = []

    def failing(command: Any) -> Iterator[tuple[str, Any, str]]:
        yield "css/vars.css", FileSystemStorage(location=small_tree.dirs[0]), "css/vars.css"
        raised.append("PermissionError")
        raise PermissionError("a folder the finder could not read")

    monkeypatch.setattr(warmup, "collected_sources", failing)
    HeldListing(monkeypatch, MemoryAdapter)
    result = memory.run()
    assert result.exit_code == 0, result.stderr
    assert raised == ["PermissionError"]
    assert memory.writes == []
