"""``PreloadMixin``: preload cache, content skip and parallel uploads for any backend.

Stack it before a django-storages backend class plus a small adapter that implements the
``_preload_*`` hooks below (see ``preloadstorage.backends.s3`` for a complete one)::

    class MyPreloadingStorage(MyAdapterMixin, PreloadMixin, MyCloudStorage):
        '''MyCloudStorage with a preload cache and parallel uploads.'''

What differs from the plain backend, and only while ``collectstatic`` runs:

- ``exists()``, ``size()``, ``get_modified_time()`` and ``listdir()`` are answered from
  one listing of the storage's prefix, taken on first need.
- ``get_modified_time()`` reports the bucket's copy as new enough exactly when its bytes
  equal the source's, so the stock command skips unchanged files whatever their mtime,
  and copies changed ones even when the bucket's copy is newer.
- ``_save()`` skips a file whose exact bytes already sit at its key, and otherwise hands
  it to a thread pool; ``post_process()`` is the barrier that waits for every upload and
  fails the command, naming the files, if any failed.
- ``delete()`` is deferred to the barrier: a delete followed by a save of the same key
  (what the command does for a changed file, and for every file with ``--clear``)
  becomes one upload, or nothing when the bytes are unchanged.

Outside collectstatic every method is the backend's own, so a web process rendering
``{% static %}`` never lists the bucket.

Hooks an adapter implements (keys are full object keys, location included)::

    _preload_where() -> str                         # "s3://bucket/prefix/", for messages
    _preload_prefix() -> str                        # what to list: "location/" or ""
    _preload_list() -> Iterable[RemoteObject]       # raise ListingDenied if not allowed
    _preload_stat(key) -> RemoteObject | None       # one object (listing denied)
    _preload_prepare(name, content) -> Upload       # exact bytes + params, as _save would
    _preload_matches(remote, upload) -> bool        # same bytes? (False when unsure)
    _preload_upload(upload) -> RemoteObject         # send it, with the stock metadata
    _preload_delete(keys) -> list[(key, exc)]       # batched delete; return failures
    _preload_read(name) -> bytes | None             # one GET (the manifest)
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.encoding import filepath_to_uri
from django.utils.timezone import make_naive
from storages.utils import clean_name

from .cache import RemoteObject
from .command import find_collectstatic, will_post_process
from .conf import check_option_names, check_option_values, default_settings
from .errors import ListingDenied, SyncFailed
from .summary import emit
from .sync import SyncRun, Upload, finish_later

__all__ = ["PreloadMixin"]

PostProcessResult = tuple[str, Any, Any]

if TYPE_CHECKING:
    # The storage classes this mixes into (django-storages ships no type information).
    _StorageBase = Any
else:
    _StorageBase = object


class PreloadMixin(_StorageBase):
    """Preload cache, content skip and parallel uploads during collectstatic."""

    #: The backend's overwrite option, and its global setting, for the error message.
    preload_overwrite_option = "file_overwrite"
    preload_overwrite_setting = "AWS_S3_FILE_OVERWRITE"
    #: Constructor arguments the backend takes besides ``get_default_settings()``.
    preload_extra_init_args: tuple[str, ...] = ()

    max_workers: int
    max_attempts: int
    summary: bool
    progress_interval: float

    def __init__(self, **settings: Any) -> None:
        known = set(self.get_default_settings()) | set(self.preload_extra_init_args)
        check_option_names(type(self), settings, known)
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
        self._preload_run: SyncRun | None = None
        self._preload_staging: Any = None
        # Requests made before a run starts (the manifest read at start-up) count
        # towards the next run's summary.
        self._preload_early: Counter[str] = Counter()

    def __getstate__(self) -> dict[str, Any]:
        parent = getattr(super(), "__getstate__", None)
        state = dict(parent() if parent is not None else self.__dict__)
        # Runs hold thread pools and clients: never pickled.
        state["_preload_run"] = state["_preload_staging"] = None
        state["_preload_early"] = Counter()
        return state

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), **default_settings()}  # type: ignore[misc]

    # -- the run -----------------------------------------------------------------
    def _preload_context(self) -> tuple[SyncRun | None, Any]:
        """The current collectstatic run (created on first use) and call context."""
        ctx = find_collectstatic()
        if ctx is None:
            return None, None
        run = self._preload_run
        if run is None or not run.is_for(ctx.command):
            if run is not None:
                run.finish()
            run = SyncRun(self, ctx.command, will_post_process(ctx.command, self))
            run.stats.requests.update(self._preload_early)
            self._preload_early.clear()
            if not run.barrier:
                finish_later(run, ctx.command)
            self._preload_run = run
        return run, ctx

    def _preload_count_request(self, operation: str) -> None:
        """Count one HTTP request (adapters call this from their client's hooks)."""
        run = self.__dict__.get("_preload_run")
        if run is not None and not run.finished:
            run.stats.count_request(operation)
        elif "_preload_early" in self.__dict__:
            self._preload_early[operation] += 1

    def _preload_current(self) -> SyncRun | None:
        return self._preload_context()[0]

    def _preload_key(self, name: str) -> str:
        return self._normalize_name(clean_name(name))  # type: ignore[attr-defined,no-any-return]

    def _preload_load(self) -> Iterable[RemoteObject] | None:
        """The cache's loader: the listing, or ``None`` to fall back to per-file stats.

        Only the first page can be refused; the rest streams into the cache instead of
        being held in a list first (100,000 objects are a lot of memory twice).
        """
        listing = iter(self._preload_list())
        try:
            first = next(listing, None)
        except ListingDenied as exc:
            run = self._preload_run
            emit(
                f"preloadstorage: WARNING: {exc} Falling back to one request per file, "
                "which is correct but slow.",
                run.output if run else None,
                level=30,
            )
            return None
        return listing if first is None else itertools.chain((first,), listing)

    # -- metadata from the cache ---------------------------------------------------
    def exists(self, name: str) -> bool:
        if self._preload_staging is not None:
            return bool(self._preload_staging.exists(name))
        run = self._preload_current()
        if run is None:
            return super().exists(name)  # type: ignore[misc,no-any-return]
        key = self._preload_key(name)
        if not run.cache.complete:
            return run.cache.get(key) is not None if key and not key.endswith("/") else False
        if not key or key.endswith("/"):
            return run.cache.has_dir(key)
        return run.cache.get(key) is not None or run.cache.has_dir(key + "/")

    def size(self, name: str) -> int:
        run = self._preload_current()
        if run is None:
            return super().size(name)  # type: ignore[misc,no-any-return]
        return self._preload_object(run, name).size

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        run = self._preload_current()
        if run is None or not run.cache.complete:
            return super().listdir(path)  # type: ignore[misc,no-any-return]
        prefix = self._preload_key(path)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return run.cache.listdir(prefix)

    def get_modified_time(self, name: str) -> datetime:
        run, ctx = self._preload_context()
        if run is None:
            return super().get_modified_time(name)  # type: ignore[misc,no-any-return]
        obj = self._preload_object(run, name)
        modified = obj.modified if settings.USE_TZ else make_naive(obj.modified)
        if ctx.source is None:
            return modified
        # The command is deciding whether to copy ``source`` over this object: answer
        # by content, which is what "modified" should have meant all along.
        source_storage, source_path = ctx.source
        with source_storage.open(source_path) as content:
            upload = self._preload_prepare(name, content)
        source_time: datetime = source_storage.get_modified_time(source_path)
        if self._preload_matches(obj, upload):
            run.stats.add(unchanged=1)
            return max(modified, source_time)
        run.prepared[upload.key] = upload
        return min(modified, source_time - timedelta(seconds=1))

    def _preload_object(self, run: SyncRun, name: str) -> RemoteObject:
        obj = run.cache.get(self._preload_key(name))
        if obj is None:
            raise FileNotFoundError(f"File does not exist: {name}")
        return obj

    def url(self, name: str, *args: Any, **kwargs: Any) -> str:
        if self._preload_staging is not None:
            # Post-processing asks for URLs only to splice the last path segment (the
            # hashed file name) into rewritten CSS/JS, and unquotes it: the quoted name
            # is that segment, as Django's own FileSystemStorage.url() gives it. The
            # backend's URL would cost a presigning client (CPU) per process for nothing.
            return str(filepath_to_uri(clean_name(name)))
        return super().url(name, *args, **kwargs)  # type: ignore[no-any-return]

    # -- writes --------------------------------------------------------------------
    def _open(self, name: str, mode: str = "rb") -> Any:
        if self._preload_staging is not None:
            return self._preload_staging.open(name)
        return super()._open(name, mode)  # type: ignore[misc]

    def _save(self, name: str, content: Any) -> str:
        if self._preload_staging is not None:
            return str(self._preload_staging.save(name, content))
        run = self._preload_current()
        if run is None:
            return super()._save(name, content)  # type: ignore[misc,no-any-return]
        self._preload_sync(run, name, content)
        return str(clean_name(name))

    def _preload_sync(self, run: SyncRun, name: str, content: Any) -> None:
        """Upload ``content`` unless the exact bytes already sit at the key."""
        key = self._preload_key(name)
        upload = run.prepared.pop(key, None) or self._preload_prepare(name, content)
        current = run.cache.current(key)
        if current is not None and self._preload_matches(current, upload):
            run.cache.keep(key)
            run.stats.add(unchanged=1)
            return
        run.submit(upload)

    def delete(self, name: str) -> None:
        if self._preload_staging is not None:
            self._preload_staging.delete(name)
            return
        run, ctx = self._preload_context()
        if run is None:
            super().delete(name)  # type: ignore[misc]
            return
        key = self._preload_key(name)
        # With a barrier ahead, or when the command deletes only to save the same key
        # right after (delete_file), wait: a save cancels the delete.
        if run.barrier or ctx.source is not None:
            run.cache.mark_deleted(key)
            return
        if run.cache.get(key) is not None:
            failures = run.delete_now([key])
            if failures:
                raise SyncFailed("deleted from", self._preload_where(), failures)

    # -- the barrier -----------------------------------------------------------------
    def post_process(
        self, paths: dict[str, Any], dry_run: bool = False, **options: Any
    ) -> Iterator[PostProcessResult]:
        parent = getattr(super(), "post_process", None)
        if parent is not None:
            yield from parent(paths, dry_run=dry_run, **options)
        run = self._preload_current()
        if run is None:
            return
        if dry_run:
            run.finish()
            return
        yield from self._preload_barrier(run)

    def _preload_barrier(
        self, run: SyncRun, *, manifest: bool = False
    ) -> Iterator[PostProcessResult]:
        """Wait for all uploads, then write the manifest, then apply deletes.

        Errors are yielded, as ``post_process()`` must, so the command fails with a
        message naming the files; nothing is deleted after a failed upload. The run is
        finished (summary printed) before an error is yielded: the command stops
        iterating at the first error.
        """
        try:
            error: Exception | None = self._preload_settle(run, manifest)
        except Exception as exc:  # e.g. a separate manifest_storage refused the write
            error = exc
        finally:
            run.finish()
        if isinstance(error, SyncFailed):
            yield _failure(error)
        elif error is not None:
            yield "staticfiles manifest", None, error

    def _preload_settle(self, run: SyncRun, manifest: bool) -> SyncFailed | None:
        if run.wait():
            return run.fail("uploaded to")
        if manifest:
            self.save_manifest()
            if run.wait():
                return run.fail("uploaded to")
        failures = run.apply_deletes()
        if failures:
            run.failures.extend(failures)
            return SyncFailed("deleted from", self._preload_where(), failures)
        return None

    # -- hooks the backend adapter implements ----------------------------------------------
    def _preload_where(self) -> str:
        raise NotImplementedError

    def _preload_prefix(self) -> str:
        raise NotImplementedError

    def _preload_list(self) -> Iterable[RemoteObject]:
        raise NotImplementedError

    def _preload_stat(self, key: str) -> RemoteObject | None:
        raise NotImplementedError

    def _preload_prepare(self, name: str, content: Any) -> Upload:
        raise NotImplementedError

    def _preload_matches(self, remote: RemoteObject, upload: Upload) -> bool:
        raise NotImplementedError

    def _preload_upload(self, upload: Upload) -> RemoteObject:
        raise NotImplementedError

    def _preload_delete(self, keys: list[str]) -> list[tuple[str, BaseException]]:
        raise NotImplementedError

    def _preload_read(self, name: str) -> bytes | None:
        raise NotImplementedError


def _failure(exc: SyncFailed) -> PostProcessResult:
    names = exc.names
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return shown, None, exc
