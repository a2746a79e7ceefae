"""One collectstatic run's sync state: the cache, the upload pool, the barrier.

A :class:`SyncRun` lives from the first storage call of a collectstatic run to the end
of its ``post_process()``, the barrier. Uploads go to a thread pool while the command
keeps walking the finders; the barrier waits for every one of them and turns failures
into one error that names the files. Deletes are applied only after a successful
barrier (and after the manifest), so a failed run never removes what the live manifest
names.
"""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .cache import PreloadCache, RemoteObject
from .errors import SyncFailed
from .fingerprints import Payload
from .summary import Progress, SyncStats, emit

if TYPE_CHECKING:
    from .mixins import PreloadMixin

__all__ = ["SyncRun", "Upload"]


@dataclass
class Upload:
    """One object to send: the exact bytes and the backend's write parameters."""

    name: str
    key: str
    payload: Payload
    #: Backend write parameters, computed as the stock ``_save()`` computes them.
    params: dict[str, Any] = field(default_factory=dict)
    #: Backend-specific extras (e.g. whether the fingerprint can be trusted).
    extra: dict[str, Any] = field(default_factory=dict)


class SyncRun:
    """The state of one collectstatic run against one storage."""

    def __init__(self, storage: PreloadMixin, command: Any, barrier: bool) -> None:
        self.storage = storage
        self._command = weakref.ref(command)
        # Where the summary goes; kept apart from the command, which may be gone by then.
        self.output = SimpleNamespace(
            stdout=command.stdout,
            stderr=command.stderr,
            verbosity=getattr(command, "verbosity", 1),
        )
        #: Whether ``post_process()`` will run: uploads may then finish in the background.
        self.barrier = barrier
        self.cache = PreloadCache(storage._preload_load, storage._preload_stat)
        self.stats = SyncStats()
        #: Uploads prepared by ``get_modified_time()``, picked up by the ``save()`` after.
        self.prepared: dict[str, Upload] = {}
        self.failures: list[tuple[str, BaseException]] = []
        self.finished = False
        self._futures: dict[Future[None], str] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._submitted = 0
        self._done = 0

    def is_for(self, command: Any) -> bool:
        return self._command() is command and not self.finished

    # -- uploads -----------------------------------------------------------------
    def submit(self, upload: Upload) -> None:
        """Upload now (no barrier will come) or in the pool (the barrier waits)."""
        self.cache.keep(upload.key)
        if not self.barrier:
            try:
                self._upload(upload)
            except Exception as exc:
                raise SyncFailed(
                    "uploaded to", self.storage._preload_where(), [(upload.name, exc)]
                ) from exc
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.storage.max_workers, thread_name_prefix="preloadstorage"
            )
        future = self._executor.submit(self._upload, upload)
        with self._lock:
            self._futures[future] = upload.name
            self._submitted += 1

    def _upload(self, upload: Upload) -> None:
        obj: RemoteObject = self.storage._preload_upload(upload)
        self.cache.record(obj)
        self.stats.add(uploaded=1, uploaded_bytes=upload.payload.size)

    def wait(self) -> list[tuple[str, BaseException]]:
        """The barrier: wait for every upload so far; return (and keep) the failures."""
        progress = Progress(self.output, self.storage.progress_interval)
        pending = set(self._futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                name = self._futures.pop(future)
                self._done += 1
                exc = future.exception()
                if exc is not None:
                    self.failures.append((name, exc))
                    self.stats.add(failed=1)
            progress.tick(self._done, self._submitted)
        return list(self.failures)

    # -- deletes -----------------------------------------------------------------
    def delete_now(self, keys: list[str]) -> list[tuple[str, BaseException]]:
        """Delete ``keys`` with the backend's batched delete; return the failures."""
        if not keys:
            return []
        failures = self.storage._preload_delete(keys)
        failed = {key for key, _ in failures}
        for key in keys:
            if key not in failed:
                self.cache.forget(key)
        self.stats.add(deleted=len(keys) - len(failed), failed=len(failed))
        return failures

    def apply_deletes(self) -> list[tuple[str, BaseException]]:
        """Apply the deletes nobody cancelled (``--clear``'s stale objects)."""
        return self.delete_now(self.cache.pending_deletes())

    # -- end ---------------------------------------------------------------------
    def finish(self, level_if_failed: int = 30) -> None:
        """Shut the pool down and print the summary line, once."""
        if self.finished:
            return
        self.finished = True
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        if self.storage.summary:
            level = level_if_failed if self.failures else 20
            emit(self.stats.line(self.storage._preload_where()), self.output, level)

    def fail(self, action: str) -> SyncFailed:
        return SyncFailed(action, self.storage._preload_where(), self.failures)


def finish_later(run: SyncRun, command: Any) -> None:
    """Print the summary when the command object goes away (no barrier will come)."""
    weakref.finalize(command, run.finish)
