"""SyncRun: the pool, the barrier, failures, progress and the summary line."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone
from typing import Any

from preloadstorage.cache import RemoteObject
from preloadstorage.fingerprints import Payload
from preloadstorage.sync import SyncRun, Upload


class FakeStorage:
    """Just what SyncRun needs; uploads take ``delay`` seconds, names in ``fail`` fail."""

    max_workers = 4
    summary = True

    def __init__(self, delay: float = 0.0, fail: tuple[str, ...] = (), progress: float = 0) -> None:
        self.delay = delay
        self.fail = fail
        self.progress_interval = progress
        self.uploaded: list[str] = []

    def _preload_load(self) -> list[RemoteObject]:
        return []

    def _preload_stat(self, key: str) -> None:
        return None

    def _preload_where(self) -> str:
        return "fake://bucket/"

    def _preload_upload(self, upload: Upload) -> RemoteObject:
        time.sleep(self.delay)
        if upload.name in self.fail:
            raise RuntimeError("AccessDenied")
        self.uploaded.append(upload.name)
        return RemoteObject(upload.key, upload.payload.size, datetime.now(timezone.utc), "x")


class Command:
    """Stands in for collectstatic's command: its output streams and verbosity."""

    def __init__(self) -> None:
        self.stdout, self.stderr, self.verbosity = io.StringIO(), io.StringIO(), 1


def command() -> Any:
    return Command()


def upload(name: str) -> Upload:
    return Upload(name, f"s/{name}", Payload(data=name.encode()))


def test_barrier_waits_for_every_upload_and_summarises() -> None:
    storage, cmd = FakeStorage(delay=0.01), command()
    run = SyncRun(storage, cmd, barrier=True)  # type: ignore[arg-type]
    for i in range(20):
        run.submit(upload(f"f{i}"))
    assert run.wait() == []
    assert sorted(storage.uploaded) == sorted(f"f{i}" for i in range(20))
    assert run.cache.get("s/f3") is not None
    run.finish()
    output = cmd.stdout.getvalue()
    assert output.count("preloadstorage:") == 1
    assert "fake://bucket/: 20 uploaded" in output


def test_failures_are_collected_not_raised() -> None:
    storage = FakeStorage(fail=("bad.css",))
    run = SyncRun(storage, command(), barrier=True)  # type: ignore[arg-type]
    run.submit(upload("good.css"))
    run.submit(upload("bad.css"))
    failures = run.wait()
    assert [name for name, _ in failures] == ["bad.css"]
    assert "bad.css" in str(run.fail("uploaded to"))


def test_progress_is_printed_while_waiting() -> None:
    storage, cmd = FakeStorage(delay=0.05, progress=0.2), command()
    storage.max_workers = 1
    run = SyncRun(storage, cmd, barrier=True)  # type: ignore[arg-type]
    for i in range(30):
        run.submit(upload(f"f{i}"))
    run.wait()
    lines = [line for line in cmd.stdout.getvalue().splitlines() if "uploaded" in line]
    assert lines and all("/30 (" in line for line in lines)
    assert len(lines) < 15  # a line per interval, not per file


def test_without_a_barrier_uploads_happen_in_submit() -> None:
    storage = FakeStorage()
    run = SyncRun(storage, command(), barrier=False)  # type: ignore[arg-type]
    run.submit(upload("a.css"))
    assert storage.uploaded == ["a.css"]
