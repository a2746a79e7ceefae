"""The write pool: uploads and metadata rewrites in flight, and the barrier's wait.

Stock storages write inside ``save()``, one file after another. A run hands each write
to a thread pool instead, so the command keeps walking the finders while the network
works; :meth:`WritePool.wait` is the barrier that collects every outcome.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .deletes import Failures
from .summary import Progress

__all__ = ["WritePool"]


class WritePool:
    """Up to ``max_workers`` writes at once; the thread pool is created on first use."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self.submitted = 0
        self.done = 0
        self._futures: dict[Future[None], str] = {}
        #: Futures done but not yet counted by :meth:`wait` (appended by their callback).
        self._completed: deque[Future[None]] = deque()
        self._completion = threading.Condition(threading.Lock())
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def pending(self) -> bool:
        """Whether writes were submitted that :meth:`wait` has not counted yet."""
        return bool(self._futures)

    def submit(self, name: str, task: Callable[..., None], *args: Any) -> None:
        """Run ``task(*args)`` in the pool; ``name`` is what a failure is reported as."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.max_workers, thread_name_prefix="preloadstorage"
            )
        future = self._executor.submit(task, *args)
        with self._lock:
            self._futures[future] = name
            self.submitted += 1
        future.add_done_callback(self._on_done)

    def _on_done(self, future: Future[None]) -> None:
        with self._completion:
            self._completed.append(future)
            self._completion.notify()

    def wait(self, progress: Progress) -> Failures:
        """Wait for every write submitted so far; return the ones that failed since
        the last call (each failure is returned once)."""
        # Each future reports itself once done (``_on_done``): waiting costs O(1) per
        # write. (``concurrent.futures.wait(FIRST_COMPLETED)`` over the pending set
        # installs a waiter on every pending future per call: quadratic, seconds of CPU
        # with thousands of uploads in flight.)
        failed: Failures = []
        while self._futures:
            with self._completion:
                if not self._completed:
                    self._completion.wait(timeout=1.0)
                done = list(self._completed)
                self._completed.clear()
            for future in done:
                name = self._futures.pop(future, None)
                if name is None:
                    continue  # counted by an earlier wait()
                self.done += 1
                exc = future.exception()
                if exc is not None:
                    failed.append((name, exc))
            progress.tick(self.done, self.submitted)
        return failed

    def shutdown(self) -> None:
        """Let the pool's threads end (after :meth:`wait`, nothing is left to run)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
