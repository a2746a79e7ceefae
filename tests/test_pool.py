"""WritePool: every write waited for, each failure reported once, progress counted."""

from __future__ import annotations

import io
import threading
import time
from types import SimpleNamespace

from preloadstorage.pool import WritePool
from preloadstorage.summary import Progress


def progress() -> Progress:
    output = SimpleNamespace(stdout=io.StringIO(), stderr=io.StringIO(), verbosity=1)
    return Progress(output, 0.0)


def test_wait_returns_each_failure_once_and_counts_every_write() -> None:
    pool = WritePool(max_workers=4)
    done: list[int] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        time.sleep(0.001 * (n % 3))
        if n % 10 == 0:
            raise OSError(f"write {n} refused")
        with lock:
            done.append(n)

    for n in range(50):
        pool.submit(f"file-{n}", write, n)
    failed = pool.wait(progress())
    assert sorted(name for name, _ in failed) == sorted(f"file-{n}" for n in range(0, 50, 10))
    assert all(isinstance(exc, OSError) for _, exc in failed)
    assert sorted(done) == [n for n in range(50) if n % 10]
    assert (pool.submitted, pool.done, pool.pending) == (50, 50, False)
    assert pool.wait(progress()) == []  # already reported
    pool.submit("late", write, 10)
    assert [name for name, _ in pool.wait(progress())] == ["late"]
    pool.shutdown()


def test_no_thread_before_the_first_write() -> None:
    pool = WritePool(max_workers=2)
    before = threading.active_count()
    assert pool.wait(progress()) == []
    pool.shutdown()
    assert threading.active_count() == before
