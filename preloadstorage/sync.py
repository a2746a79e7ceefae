"""One collectstatic run's sync state: the cache, the write pool, the barrier.

A :class:`SyncRun` lives from the first storage call of a collectstatic run to the end
of its ``post_process()``, the barrier. Uploads and metadata rewrites go to a thread
pool while the command keeps walking the finders; the barrier waits for every one of
them and turns failures into one error that names the files. Deletes are applied only
after a successful barrier (and after the manifest), so a failed run never removes what
the live manifest names. It depends on the adapter contract only.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from django.core.files.base import ContentFile

from .cache import PreloadCache
from .command import runs_of
from .contract import ListingDenied, PreloadAdapter, RemoteObject, Upload
from .deletes import BatchedDeletes, Failures
from .errors import SyncFailed
from .listing import Listing
from .pool import WritePool
from .signals import SyncResult
from .state import STATE_NAME, RunState
from .summary import Progress, SyncStats, emit
from .warmup import PreparedAhead

__all__ = ["RunOptions", "SyncRun"]


@dataclass(frozen=True)
class RunOptions:
    max_workers: int = 16
    progress_interval: float = 5.0
    summary: bool = True
    #: Rewrite metadata that cannot be confirmed from the listing (``--clear``).
    refresh_metadata: bool = False
    #: ``--dry-run``: compare, count and report, but send no write.
    dry_run: bool = False


class SyncRun:
    """The state of one collectstatic run against one storage."""

    def __init__(
        self,
        adapter: PreloadAdapter,
        command: Any,
        barrier: bool,
        options: RunOptions,
        listing: Listing | None = None,
    ) -> None:
        self.adapter = adapter
        self.options = options
        self._command = weakref.ref(command)
        # Where the summary goes; kept apart from the command, which may be gone by then.
        self.output = SimpleNamespace(
            stdout=command.stdout,
            stderr=command.stderr,
            verbosity=getattr(command, "verbosity", 1),
        )
        #: Whether ``post_process()`` will run: writes may then finish in the background.
        self.barrier = barrier
        self.cache = PreloadCache(self._load, adapter.stat)
        self.stats = SyncStats()
        #: Uploads prepared by ``get_modified_time()``, picked up by the ``save()`` after.
        self.prepared: dict[str, Upload] = {}
        #: Uploads prepared while the listing was still coming (``preloadstorage.warmup``).
        self.ahead = PreparedAhead(adapter)
        self.failures: Failures = []
        self.finished = False
        #: Called once a run without a barrier finished (the storage's report, signal).
        self.on_finished: Callable[[SyncRun], None] | None = None
        #: Keys this run wrote or found already in place: the collection.
        self.collected: set[str] = set()
        #: MD5s of local source files the content checks computed (path -> digest) and
        #: metadata digests they computed (key -> digest): the proof reuses both.
        self.source_md5: dict[str, bytes] = {}
        self.metadata_digests: dict[str, str] = {}
        self.uploaded: list[str] = []
        self.updated: list[str] = []
        self.deleted: list[str] = []
        #: The listing (maybe started in the background when the storage was created).
        self._listing = listing or Listing(adapter)
        self._state: RunState | None = None
        self._pool = WritePool(options.max_workers)
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._deletes = BatchedDeletes(adapter, options.max_workers)

    def is_for(self, command: Any) -> bool:
        return self._command() is command and not self.finished

    # -- the listing and the state ----------------------------------------------------
    def _load(self) -> Iterable[RemoteObject] | None:
        """The cache's loader: the listing without the state object, or ``None``."""
        try:
            return self._listing.objects(self.ahead.start())
        except ListingDenied as exc:
            emit(
                f"preloadstorage: WARNING: {exc} Falling back to one request per file, "
                "which is correct but slow.",
                self.output,
                level=30,
            )
            return None

    @property
    def state(self) -> RunState:
        """What the last run recorded: one GET, only if the listing shows it exists."""
        if self._state is None:
            with self._state_lock:  # one GET, however many workers ask at once
                if self._state is None:
                    len(self.cache)  # the listing tells whether there is a state to read
                    raw = self._listing.state()
                    self._state = RunState.parse(raw, self.adapter.prefix())
        return self._state

    def save_state(self) -> None:
        """Write the records if they changed (one PUT; none on an unchanged run)."""
        state = self.state
        state.keep_only(self.cache.live_keys())
        if not state.changed:
            return
        upload = self.adapter.prepare(STATE_NAME, ContentFile(state.dump(), STATE_NAME))
        self.adapter.upload(upload)

    # -- one object ---------------------------------------------------------------------
    def check(self, remote: RemoteObject, upload: Upload) -> bool:
        """Whether ``remote`` already holds ``upload`` (bytes *and* metadata).

        Bytes equal but metadata not: a server-side metadata rewrite is queued, and the
        object counts as handled (True). Bytes differ: False, the caller uploads.
        """
        if not (upload.trusted and self.adapter.matches(remote, upload)):
            return False
        self.cache.keep(upload.key)
        self.collected.add(upload.key)
        if self._metadata_current(remote, upload):
            self.stats.add(unchanged=1)
        else:
            self._submit(self._update, upload, remote)
        return True

    def _metadata_current(self, remote: RemoteObject, upload: Upload) -> bool:
        """Whether ``remote``'s metadata is what the settings give ``upload`` now.

        The listing decides what it can see (a difference there always means rewrite);
        what it cannot see (all of it on S3, ACLs on GCS) is judged by the digest the
        last run recorded, and no record (first run after an upgrade, an object another
        tool wrote) or ``--clear`` means "apply once".
        """
        digest = upload.metadata_digest
        self.metadata_digests[upload.key] = digest
        verdict = self.adapter.metadata_matches(remote, upload)
        if verdict is not False:
            known = self.state.metadata_digest(remote.key, remote.modified)
            if verdict is None:
                verdict = known == digest and not self.options.refresh_metadata
            elif known is not None and known != digest:
                verdict = False  # the listing agrees, but what it cannot see changed
        if verdict:
            self.state.record_metadata(remote.key, digest)
        return verdict

    def submit(self, upload: Upload) -> None:
        """Upload ``upload`` now (no barrier will come) or in the pool."""
        self.cache.keep(upload.key)
        self.collected.add(upload.key)
        self._submit(self._upload, upload)

    def _submit(self, task: Callable[..., None], upload: Upload, *args: Any) -> None:
        if self.options.dry_run:
            return  # get_modified_time() compares even in a dry run: never write then
        if not self.barrier:
            try:
                task(upload, *args)
            except Exception as exc:
                self.failures.append((upload.name, exc))
                self.stats.add(failed=1)
                # The command stops here, with no barrier to print the summary.
                self.finish()
                raise SyncFailed("written to", self.adapter.where(), [(upload.name, exc)]) from exc
            return
        self._pool.submit(upload.name, task, upload, *args)

    def _upload(self, upload: Upload) -> None:
        obj = self.adapter.upload(upload)
        self.cache.record(obj)
        self.state.record_metadata(upload.key, upload.metadata_digest, written=True)
        self.uploaded.append(upload.name)
        self.stats.add(uploaded=1, uploaded_bytes=upload.payload.size)

    def _update(self, upload: Upload, remote: RemoteObject) -> None:
        obj = self.adapter.update_metadata(remote, upload)
        self.cache.record(obj)
        self.state.record_metadata(upload.key, upload.metadata_digest, written=True)
        self.updated.append(upload.name)
        self.stats.add(updated=1)

    def wait(self) -> Failures:
        """The barrier: wait for every write so far; return (and keep) the failures."""
        progress = Progress(self.output, self.options.progress_interval)
        for name, exc in self._pool.wait(progress):
            self.failures.append((name, exc))
            self.stats.add(failed=1)
        return list(self.failures)

    # -- deletes ------------------------------------------------------------------------
    def delete_now(self, keys: list[str]) -> Failures:
        """Delete ``keys``: in batches where the server has them, else one by one."""
        failures = self._deletes(keys)
        failed = {key for key, _ in failures}
        done = [key for key in keys if key not in failed]
        for key in done:
            self.cache.forget(key)
        self.state.forget(done)
        self.deleted.extend(done)
        self.stats.add(deleted=len(done), failed=len(failed))
        return failures

    def apply_deletes(self) -> Failures:
        """Apply the deletes nobody cancelled (``--clear``'s stale objects)."""
        return self.delete_now(self.cache.pending_deletes())

    # -- end ------------------------------------------------------------------------------
    def complete(
        self, before_deletes: Callable[[], None], before_state: Callable[[], None] | None = None
    ) -> SyncFailed | None:
        """The barrier: writes, ``before_deletes`` (the manifest), deletes, ``before_state``
        (records that need every write confirmed), then the state."""
        if self.wait():
            return self.fail()
        before_deletes()
        if self.wait():
            return self.fail()
        failures = self.apply_deletes()
        if failures:
            self.failures.extend(failures)
            return SyncFailed("deleted from", self.adapter.where(), failures)
        if before_state is not None:
            before_state()
        self.save_state()
        return None

    def finish(self) -> None:
        """Let pending writes land, shut the pool down, print the summary line, once."""
        with self._lock:
            if self.finished:
                return
            self.finished = True
        if self._pool.pending:
            self.wait()  # the run died before its barrier: still count what happened
        self._pool.shutdown()
        if self.barrier:  # the command's own run finishes the others
            command = self._command()
            for sibling in runs_of(command) if command is not None else ():
                if sibling is not self and not sibling.barrier:
                    sibling.finish()
        if self.options.summary:
            level = 30 if self.failures else 20
            emit(self.stats.line(self.adapter.where()), self.output, level)
        if self.on_finished is not None and not self.barrier and not self.options.dry_run:
            # No barrier yields errors for this run (--no-post-process, a separate
            # manifest_storage): the report and the signal still go out; a failure of
            # theirs can only be told.
            try:
                self.on_finished(self)
            except Exception as exc:
                emit(f"preloadstorage: WARNING: after the run: {exc}", self.output, level=30)

    def result(self, is_hashed: Callable[[str], bool] | None = None) -> SyncResult:
        """What reached the bucket, by storage name (for the signal and the report)."""
        prefix = self.adapter.prefix()

        def name(key: str) -> str:
            return key[len(prefix) :] if prefix and key.startswith(prefix) else key

        result = SyncResult(
            where=self.adapter.where(),
            uploaded=list(self.uploaded),
            updated=list(self.updated),
            deleted=[name(key) for key in self.deleted],
            unchanged=self.stats.unchanged,
            failed=[n for n, _ in self.failures],
            requests=dict(self.stats.requests),
            seconds=self.stats.elapsed,
        )
        if is_hashed is not None:
            result.is_hashed = is_hashed
        return result

    def fail(self) -> SyncFailed:
        return SyncFailed("written to", self.adapter.where(), self.failures)
