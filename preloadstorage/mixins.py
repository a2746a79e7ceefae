"""``PreloadMixin``: the Django glue between a storage and the preloading engine.

Stack it before a django-storages backend, with ``preload_adapter_class`` naming the
backend's :class:`~preloadstorage.contract.PreloadAdapter` (see
``preloadstorage.backends.memory`` for a complete small one)::

    class PreloadingMyCloudStorage(PreloadMixin, MyCloudStorage):
        '''MyCloudStorage with a preload cache, content skip and parallel uploads.'''

        preload_adapter_class = MyCloudAdapter

What differs from the plain backend, and only while ``collectstatic`` runs:

- ``exists()``, ``size()``, ``get_modified_time()`` and ``listdir()`` are answered from
  one listing of the storage's prefix, started when the storage is created; while the
  first ``exists()`` waits for it, the sources are prepared ahead (``warmup``).
- ``get_modified_time()`` reports the bucket's copy as new enough exactly when its bytes
  equal the source's, so the stock command skips unchanged files whatever their mtime,
  and copies changed ones even when the bucket's copy is newer.
- ``_save()`` skips a file whose exact bytes already sit at its key (rewriting only its
  metadata, server-side, when the settings changed), and otherwise hands it to a thread
  pool; ``post_process()`` is the barrier that waits for every write and fails the
  command, naming the files, if any failed.
- ``delete()`` is deferred to the barrier: a delete followed by a save of the same key
  (what the command does for a changed file, and for every file with ``--clear``)
  becomes one upload, or nothing when the bytes are unchanged.

Outside collectstatic every method is the backend's own, so a web process rendering
``{% static %}`` never lists the bucket. Other mixins (``LocalManifestMixin``) reuse the
barrier through :meth:`PreloadMixin.preload_save`, :meth:`PreloadMixin.preload_barrier`
and the ``preload_before_deletes()`` and ``preload_work_ahead()`` hooks.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.timezone import make_naive
from storages.utils import clean_name

from .barrier import PostProcessResult, PreloadBarrierMixin
from .command import (
    CollectContext,
    command_storage,
    find_collectstatic,
    register_run,
    will_post_process,
)
from .conf import check_option_names, check_option_values, default_settings
from .contract import MaybeMissing, PreloadAdapter, RemoteObject
from .errors import SyncFailed, check_source, unreadable_source
from .hooks import CachePolicyMixin, LocalURLMixin, StorageBase
from .listing import Listing
from .sync import RunOptions, SyncRun
from .warmup import WorkAheadMixin

__all__ = ["PostProcessResult", "PreloadMixin"]  # PostProcessResult: from .barrier


#: Guards the hand-over of requests counted before a run exists (the listing thread
#: starts while the storage is created) to the run.
_COUNT_LOCK = threading.Lock()


class PreloadMixin(
    PreloadBarrierMixin, CachePolicyMixin, LocalURLMixin, WorkAheadMixin, StorageBase
):
    """Preload cache, content skip and parallel uploads during collectstatic."""

    #: The backend's adapter (see :mod:`preloadstorage.contract`).
    preload_adapter_class: type[PreloadAdapter]
    #: The backend's overwrite option, and its global setting, for the error message.
    preload_overwrite_option = "file_overwrite"
    preload_overwrite_setting = "AWS_S3_FILE_OVERWRITE"
    #: Constructor arguments the backend takes besides ``get_default_settings()``.
    preload_extra_init_args: tuple[str, ...] = ()

    max_workers: int
    max_attempts: int
    summary: bool
    progress_interval: float
    report_path: str | None

    def __init__(self, **settings: Any) -> None:
        known = set(self.get_default_settings()) | set(self.preload_extra_init_args)
        check_option_names(type(self), settings, known)
        # Before super(): ManifestFilesMixin reads the manifest through it in __init__.
        self._preload_run: SyncRun | None = None
        # Requests made before a run starts (the manifest read at start-up) count
        # towards the next run's summary.
        self._preload_early: Counter[str] = Counter()
        #: The next run's listing, started while the storage is created (see below).
        self._preload_listing: Listing | None = None
        self.preload_adapter = self.preload_adapter_class(self)
        self.preload_adapter.on_request = self._preload_count_request
        super().__init__(**settings)
        check_option_values(self)
        if not getattr(self, self.preload_overwrite_option, True):
            raise ImproperlyConfigured(
                f"{type(self).__name__} needs {self.preload_overwrite_option}=True (or "
                f"{self.preload_overwrite_setting}): collectstatic replaces files in "
                "place, and with overwriting off every changed file, and even the "
                "manifest, would be saved under a new random-suffixed name. Remove the "
                f"'{self.preload_overwrite_option}' option or set it to True."
            )

    def __getstate__(self) -> dict[str, Any]:
        parent = getattr(super(), "__getstate__", None)
        state = dict(parent() if parent is not None else self.__dict__)
        # Runs hold thread pools and clients: never pickled.
        state["_preload_run"] = None
        state["_preload_early"] = Counter()
        state["_preload_listing"] = None
        return state

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), **default_settings()}  # type: ignore[misc]

    # -- the run ---------------------------------------------------------------------
    def _preload_context(self) -> tuple[SyncRun | None, CollectContext | None]:
        """The current collectstatic run (created on first use) and call context."""
        ctx = find_collectstatic()
        if ctx is None:
            return None, None
        run = self._preload_run
        if run is None or not run.is_for(ctx.command):
            if run is not None:
                run.finish()
            options = RunOptions(
                max_workers=self.max_workers,
                progress_interval=self.progress_interval,
                summary=self.summary,
                refresh_metadata=bool(getattr(ctx.command, "clear", False)),
                dry_run=bool(getattr(ctx.command, "dry_run", False)),
            )
            barrier = will_post_process(ctx.command, self)
            listing, self._preload_listing = self._preload_listing, None
            run = SyncRun(self.preload_adapter, ctx.command, barrier, options, listing)
            with _COUNT_LOCK:  # the listing thread may be counting a request right now
                self._preload_run = run
                run.stats.requests.update(self._preload_early)
                self._preload_early.clear()
            run.on_finished = lambda done: self.preload_finished(
                done.result(self.preload_is_hashed)
            )
            run.ahead.work = lambda: self.preload_work_ahead(run)
            register_run(run, ctx.command)
        return run, ctx

    def preload_run(self) -> SyncRun | None:
        """The collectstatic run this call is part of, or ``None`` outside one."""
        return self._preload_context()[0]

    def _preload_count_request(self, operation: str) -> None:
        with _COUNT_LOCK:
            run = self.__dict__.get("_preload_run")
            if run is not None and not run.finished:
                run.stats.count_request(operation)
            elif "_preload_early" in self.__dict__:
                self._preload_early[operation] += 1

    def _preload_object(self, run: SyncRun, name: str) -> RemoteObject:
        obj = run.cache.get(self.preload_adapter.key(name))
        if obj is None:
            raise FileNotFoundError(f"File does not exist: {name}")
        return obj

    def preload_read(self, name: str) -> bytes | None:
        """One GET of ``name`` (the manifest); ``None`` when missing.

        During collectstatic an error says what to fix; elsewhere the client's own
        error is raised, as the stock storage would. When the command's storage reads
        its manifest while being created, the run's listing starts first, in the
        background, so the two requests (and Django's set-up) overlap.
        """
        adapter = self.preload_adapter
        ctx = find_collectstatic()
        in_collectstatic = ctx is not None
        if (
            ctx is not None
            and self._preload_run is None
            and self._preload_listing is None
            and command_storage(ctx.command) in (None, self)  # the command's own storage
        ):
            self._preload_listing = Listing(adapter).start()
        try:
            return adapter.read(name)
        except MaybeMissing as exc:
            if in_collectstatic:
                return None
            raise exc.__cause__ or exc from None
        except Exception as exc:
            if in_collectstatic:
                explained = adapter.explain(exc, "read")
                if explained is not exc:
                    raise explained from exc
            raise

    # -- metadata from the cache -------------------------------------------------------
    def exists(self, name: str) -> bool:
        run, ctx = self._preload_context()
        if run is None:
            return super().exists(name)  # type: ignore[misc,no-any-return]
        if ctx is not None and ctx.source is not None:
            check_source(*ctx.source)
        key = self.preload_adapter.key(name)
        if not run.cache.complete:
            return run.cache.get(key) is not None if key and not key.endswith("/") else False
        if not key or key.endswith("/"):
            return run.cache.has_dir(key)
        return run.cache.get(key) is not None or run.cache.has_dir(key + "/")

    def size(self, name: str) -> int:
        run = self.preload_run()
        if run is None:
            return super().size(name)  # type: ignore[misc,no-any-return]
        return self._preload_object(run, name).size

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        run = self.preload_run()
        if run is None or not run.cache.complete:
            return super().listdir(path)  # type: ignore[misc,no-any-return]
        prefix = self.preload_adapter.key(path)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return run.cache.listdir(prefix)

    def get_modified_time(self, name: str) -> datetime:
        run, ctx = self._preload_context()
        if run is None or ctx is None:
            return super().get_modified_time(name)  # type: ignore[misc,no-any-return]
        obj = self._preload_object(run, name)
        modified = obj.modified if settings.USE_TZ else make_naive(obj.modified)
        if ctx.source is None:
            return modified
        # The command is deciding whether to copy ``source`` over this object: answer
        # by content, which is what "modified" should have meant all along.
        source_storage, source_path = ctx.source
        try:
            upload = run.ahead.take_source(name, source_storage, source_path)
            if upload is None:
                with source_storage.open(source_path) as content:
                    upload = self.preload_adapter.prepare(name, content)
            source_time: datetime = source_storage.get_modified_time(source_path)
        except OSError as exc:
            raise unreadable_source(source_storage, source_path, exc) from exc
        matched = run.check(obj, upload)
        payload = upload.payload
        if payload.path is not None and payload.known_md5 is not None:
            run.source_md5[payload.path] = payload.known_md5  # the proof reads no file twice
        if matched:
            return max(modified, source_time)
        run.prepared[upload.key] = upload
        return min(modified, source_time - timedelta(seconds=1))

    # -- writes ------------------------------------------------------------------------
    def _save(self, name: str, content: Any) -> str:
        run = self.preload_run()
        if run is None:
            return super()._save(name, content)  # type: ignore[misc,no-any-return]
        self.preload_save(run, name, content)
        return str(clean_name(name))

    def preload_save(self, run: SyncRun, name: str, content: Any) -> None:
        """Write ``content`` unless the exact bytes (and metadata) are already there."""
        adapter = self.preload_adapter
        key = adapter.key(name)
        upload = (
            run.prepared.pop(key, None)
            or run.ahead.take_content(name, content)
            or adapter.prepare(name, content)
        )
        current = run.cache.current(key)
        if current is None or not run.check(current, upload):
            run.submit(upload)

    def delete(self, name: str) -> None:
        run, ctx = self._preload_context()
        if run is None or ctx is None:
            super().delete(name)  # type: ignore[misc]
            return
        key = self.preload_adapter.key(name)
        # With a barrier ahead, or when the command deletes only to save the same key
        # right after (delete_file), wait: a save cancels the delete.
        if run.barrier or ctx.source is not None:
            run.cache.mark_deleted(key)
            return
        if run.cache.get(key) is not None:
            failures = run.delete_now([key])
            if failures:
                run.failures.extend(failures)
                run.finish()  # the command stops here: print the summary now
                raise SyncFailed("deleted from", self.preload_adapter.where(), failures)
