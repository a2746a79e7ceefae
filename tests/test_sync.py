"""SyncRun against a tiny adapter: the pool, the barrier, failures, deletes, the state."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import pytest

from preloadstorage.contract import (
    RETRY_ALONE,
    ListingDenied,
    PreloadAdapter,
    RemoteObject,
    Upload,
)
from preloadstorage.errors import SyncFailed
from preloadstorage.fingerprints import Payload
from preloadstorage.state import STATE_NAME
from preloadstorage.sync import RunOptions, SyncRun


class FakeAdapter(PreloadAdapter):
    """A dict of objects. Uploads take ``delay`` seconds; names in ``fail`` fail."""

    def __init__(self, delay: float = 0.0, fail: tuple[str, ...] = ()) -> None:
        super().__init__(storage=None)
        self.delay, self.fail = delay, fail
        self.objects: dict[str, bytes] = {}
        self.calls: list[str] = []
        self.deny_list = False
        self.batch: Any = "ok"  # "ok", None (no batch API) or a per-key outcome
        self._lock = threading.Lock()

    def _call(self, what: str) -> None:
        with self._lock:
            self.calls.append(what)

    def where(self) -> str:
        return "fake://bucket/"

    def prefix(self) -> str:
        return "s/"

    def key(self, name: str) -> str:
        return "s/" + name

    def _remote(self, key: str) -> RemoteObject:
        data = self.objects[key]
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        return RemoteObject(key, len(data), datetime.now(timezone.utc), md5)

    def list(self) -> Iterator[RemoteObject]:
        self._call("list")
        if self.deny_list:
            raise ListingDenied("Grant ListBucket.")
        for key in sorted(self.objects):
            yield self._remote(key)

    def stat(self, key: str) -> RemoteObject | None:
        self._call(f"stat {key}")
        return self._remote(key) if key in self.objects else None

    def read(self, name: str) -> bytes | None:
        self._call(f"read {name}")
        return self.objects.get(self.key(name))

    def prepare(self, name: str, content: Any) -> Upload:
        return Upload(name, self.key(name), Payload.from_content(content))

    def matches(self, remote: RemoteObject, upload: Upload) -> bool:
        return remote.fingerprint == upload.payload.md5.hex()

    def upload(self, upload: Upload) -> RemoteObject:
        time.sleep(self.delay)
        if upload.name in self.fail:
            raise PermissionError("AccessDenied")
        self._call(f"put {upload.name}")
        with self._lock:
            self.objects[upload.key] = upload.payload.read()
        return self._remote(upload.key)

    def update_metadata(self, remote: RemoteObject, upload: Upload) -> RemoteObject:
        self._call(f"patch {upload.name}")
        return remote

    def delete_one(self, key: str) -> None:
        self._call(f"delete {key}")
        if key.endswith("stuck"):
            raise PermissionError("AccessDenied")
        self.objects.pop(key, None)

    def delete_batch(self, keys: Sequence[str]) -> Mapping[str, BaseException | None] | None:
        self._call(f"batch {len(keys)}")
        if self.batch is None:
            return None
        outcome: dict[str, BaseException | None] = {}
        for key in keys:
            if self.batch == "ok" or key not in self.batch:
                self.objects.pop(key, None)
                outcome[key] = None
            else:
                outcome[key] = self.batch[key]
        return outcome


class Command:
    """Stands in for collectstatic's command: its output streams and verbosity."""

    def __init__(self) -> None:
        self.stdout, self.stderr, self.verbosity = io.StringIO(), io.StringIO(), 1


def upload(name: str) -> Upload:
    return Upload(name, f"s/{name}", Payload(data=name.encode()))


def make(adapter: FakeAdapter, barrier: bool = True, **options: Any) -> tuple[SyncRun, Command]:
    cmd = Command()
    opts = {"max_workers": 4, "progress_interval": 0.0, **options}
    return SyncRun(adapter, cmd, barrier, RunOptions(**opts)), cmd


def test_barrier_waits_for_every_upload_and_summarises() -> None:
    adapter = FakeAdapter(delay=0.01)
    run, cmd = make(adapter)
    for i in range(20):
        run.submit(upload(f"f{i}"))
    assert run.wait() == []
    assert sorted(c for c in adapter.calls if c.startswith("put")) == sorted(
        f"put f{i}" for i in range(20)
    )
    assert run.cache.get("s/f3") is not None
    run.finish()
    run.finish()  # once
    output = cmd.stdout.getvalue()
    assert output.count("preloadstorage:") == 1
    assert "fake://bucket/: 20 uploaded (50 B)" in output


def test_failures_are_collected_not_raised() -> None:
    run, cmd = make(FakeAdapter(fail=("bad.css",)))
    run.submit(upload("good.css"))
    run.submit(upload("bad.css"))
    failures = run.wait()
    assert [name for name, _ in failures] == ["bad.css"]
    error = str(run.fail())
    assert "bad.css" in error and "PermissionError: AccessDenied" in error
    run.finish()
    assert "1 uploaded" in cmd.stderr.getvalue() and "1 FAILED" in cmd.stderr.getvalue()


def test_progress_is_printed_while_waiting() -> None:
    run, cmd = make(FakeAdapter(delay=0.02), max_workers=1, progress_interval=0.08)
    for i in range(30):
        run.submit(upload(f"f{i}"))
    run.wait()
    lines = [line for line in cmd.stdout.getvalue().splitlines() if "uploaded" in line]
    assert lines and all("/30 (" in line for line in lines)
    assert len(lines) < 15  # a line per interval, not per file


def test_without_a_barrier_uploads_happen_in_submit() -> None:
    adapter = FakeAdapter(fail=("bad.css",))
    run, cmd = make(adapter, barrier=False)
    run.submit(upload("a.css"))
    assert adapter.calls[0] == "put a.css"
    with pytest.raises(SyncFailed, match=r"bad\.css"):
        run.submit(upload("bad.css"))
    # The command stops at that error: the summary is out already, at WARNING.
    assert "1 uploaded" in cmd.stderr.getvalue() and "1 FAILED" in cmd.stderr.getvalue()


def test_dry_run_compares_but_never_writes() -> None:
    adapter = FakeAdapter()
    adapter.objects["s/a.css"] = b"old"
    run, _ = make(adapter, dry_run=True)
    run.submit(upload("a.css"))
    remote = run.cache.get("s/a.css")
    assert remote is not None
    assert run.check(remote, Upload("a.css", "s/a.css", Payload(data=b"old")))
    run.wait()
    assert adapter.calls == ["list"]
    assert adapter.objects == {"s/a.css": b"old"}


def test_complete_writes_then_deletes_then_state() -> None:
    adapter = FakeAdapter()
    adapter.objects.update({"s/keep.css": b"keep.css", "s/stale.css": b"x"})
    run, _ = make(adapter)
    for key in ("s/keep.css", "s/stale.css"):
        run.cache.mark_deleted(key)  # --clear
    keep = upload("keep.css")
    current = run.cache.current(keep.key)
    assert current is not None and run.check(current, keep)
    run.submit(upload("new.css"))
    assert run.complete(lambda: adapter.calls.append("manifest")) is None
    writes = [c for c in adapter.calls if c not in ("list", f"read {STATE_NAME}")]
    # No run state yet: keep.css's metadata is unknown, so it is applied once.
    assert sorted(writes[:2]) == ["patch keep.css", "put new.css"]
    assert writes[2:] == ["manifest", "batch 1", f"put {STATE_NAME}"]
    assert set(adapter.objects) == {"s/keep.css", "s/new.css", f"s/{STATE_NAME}"}
    assert (run.stats.uploaded, run.stats.updated, run.stats.deleted) == (1, 1, 1)


def test_nothing_is_deleted_after_a_failed_write() -> None:
    adapter = FakeAdapter(fail=("bad.css",))
    adapter.objects["s/stale.css"] = b"x"
    run, _ = make(adapter)
    run.cache.mark_deleted("s/stale.css")
    run.submit(upload("bad.css"))
    error = run.complete(lambda: adapter.calls.append("manifest"))
    assert error is not None and "bad.css" in str(error)
    assert "manifest" not in adapter.calls
    assert "s/stale.css" in adapter.objects


@pytest.mark.parametrize("batch", [None, "retry"])
def test_deletes_fall_back_to_one_by_one(batch: str | None) -> None:
    adapter = FakeAdapter()
    adapter.delete_batch_size = 2
    keys = [f"s/{i}.css" for i in range(5)] + ["s/stuck"]
    adapter.objects.update(dict.fromkeys(keys, b"x"))
    adapter.batch = None if batch is None else {"s/1.css": RETRY_ALONE, "s/stuck": RETRY_ALONE}
    run, _ = make(adapter)
    failures = run.delete_now(keys)
    assert [key for key, _ in failures] == ["s/stuck"]
    assert set(adapter.objects) == {"s/stuck"}
    singles = sorted(c for c in adapter.calls if c.startswith("delete"))
    if batch is None:
        # The server has no batch API: asked once, then one by one for the whole run.
        assert [c for c in adapter.calls if c.startswith("batch")] == ["batch 2"]
        assert singles == sorted(f"delete {key}" for key in keys)
    else:
        assert singles == ["delete s/1.css", "delete s/stuck"]
    assert run.stats.deleted == 5 and run.stats.failed == 1


def test_listing_denied_falls_back_to_stat_with_one_warning() -> None:
    adapter = FakeAdapter()
    adapter.deny_list = True
    adapter.objects["s/a.css"] = b"a.css"
    run, cmd = make(adapter)
    assert run.cache.get("s/a.css") is not None
    assert run.cache.get("s/b.css") is None
    assert not run.cache.complete
    assert adapter.calls == ["list", "stat s/a.css", "stat s/b.css"]
    assert cmd.stderr.getvalue().count("WARNING: Grant ListBucket.") == 1


def test_state_is_written_only_when_it_changed() -> None:
    adapter = FakeAdapter()
    run, _ = make(adapter)
    run.submit(upload("a.css"))
    assert run.complete(lambda: None) is None
    assert f"s/{STATE_NAME}" in adapter.objects

    adapter.calls.clear()
    run, _ = make(adapter)
    remote = run.cache.get("s/a.css")
    assert remote is not None and run.check(remote, upload("a.css"))
    assert run.complete(lambda: None) is None
    # The listing hid the state object, one GET read it, nothing was written.
    assert adapter.calls == ["list", f"read {STATE_NAME}"]
    assert run.cache.get(f"s/{STATE_NAME}") is None
