"""Work done ahead, on the command's thread, while the run's listing is still coming.

The listing starts in the background when the storage is created, and the first
``exists()`` of the collect loop waits for it. On an unchanged re-run that wait is
most of the run, and what follows it is mostly the content checks: open each source,
prepare its upload (the backend's write parameters, gzip), hash its bytes. None of that
needs the listing, so the storage does it *during* the wait, in the same thread that
would do it later (user hooks such as ``get_object_parameters()`` never run elsewhere),
and stops as soon as the listing is in.

Nothing is trusted blindly: an upload prepared ahead is used only for the same name and
the same local file, and only while that file's ``os.stat()`` is what it was before it
was read (size, modification and change times, inode). A file modified within the
second it is read is not prepared ahead (coarse timestamps could hide a second change).
Anything else is prepared again, as it would have been without this module.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .command import find_collectstatic
from .contract import PreloadAdapter, Upload
from .fingerprints import local_path
from .hooks import StorageBase

if TYPE_CHECKING:
    from .sync import SyncRun

__all__ = ["PreparedAhead", "WorkAheadMixin", "collected_sources"]

_Signature = tuple[int, int, int, int, int]

#: Bytes of in-memory payloads (gzipped sources) kept ahead at most: files on disk are
#: kept as paths, but a compressed copy lives in memory until its check takes it.
MEMORY_BUDGET = 64 * 1024 * 1024
#: Uploads kept ahead at most (~1.7 KB each): a huge tree's work ahead stops there.
MAX_AHEAD = 10_000


def collected_sources(command: Any) -> Iterator[tuple[str, Any, str]]:
    """``(prefixed path, source storage, path)`` in the order collectstatic's
    ``collect()`` walks the finders, the first of equal prefixed paths winning."""
    from django.contrib.staticfiles.finders import get_finders

    patterns = getattr(command, "ignore_patterns", None)
    if patterns is None:  # not set up by Django's handle(): nothing to guess
        return
    seen: set[str] = set()
    for finder in get_finders():
        for path, storage in finder.list(patterns):
            prefix = getattr(storage, "prefix", None)
            prefixed = os.path.join(prefix, path) if prefix else path
            if prefixed not in seen:
                seen.add(prefixed)
                yield prefixed, storage, path


def local_file(storage: Any, path: str) -> str | None:
    """The local file ``storage`` keeps ``path`` in, or ``None`` (not a local storage)."""
    try:
        return str(storage.path(path))
    except Exception:  # NotImplementedError, SuspiciousFileOperation...: not prepared ahead
        return None


def _signature(path: str) -> _Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _racy(signature: _Signature, now_ns: int) -> bool:
    """Whether the file was modified in the current second: on a file system with
    coarse timestamps a second write within the same tick could leave the same
    signature, so such a file is not prepared ahead (git's "racy" rule)."""
    return signature[1] // 1_000_000_000 >= now_ns // 1_000_000_000


class PreparedAhead:
    """Uploads prepared before they were asked for, each valid while its file is unchanged."""

    def __init__(self, adapter: PreloadAdapter) -> None:
        self._adapter = adapter
        self._uploads: dict[str, tuple[str, _Signature, Upload]] = {}
        self._held = 0  # bytes of the in-memory payloads kept
        #: The work to do while waiting (the storage's ``preload_work_ahead()``).
        self.work: Callable[[], Iterator[object]] | None = None
        self._owner = threading.get_ident()  # the run is created on the command's thread

    def start(self) -> Iterator[object] | None:
        """The work to do during the wait for the listing: once, on the command's
        thread only (a hook asking for the listing again just waits)."""
        work, self.work = self.work, None
        return work() if work is not None and threading.get_ident() == self._owner else None

    def __len__(self) -> int:
        return len(self._uploads)

    @property
    def full(self) -> bool:
        return len(self._uploads) >= MAX_AHEAD

    def prepare(self, name: str, storage: Any, path: str) -> None:
        """Prepare ``name``'s upload from ``storage``'s local ``path``, digests included.

        Errors are left for the content check itself, which raises them with the file
        named; a file that changed while it was read is not kept.
        """
        local = local_file(storage, path)
        before = _signature(local) if local is not None else None
        if local is None or before is None or _racy(before, time.time_ns()):
            return
        try:
            with storage.open(path) as content:
                upload = self._adapter.prepare(name, content)
            upload.payload.md5  # noqa: B018 - what the content check compares
            upload.metadata_digest  # noqa: B018 - what the metadata check compares
        except Exception:
            return
        held = len(upload.payload.data) if upload.payload.data is not None else 0
        if _signature(local) == before and self._held + held <= MEMORY_BUDGET:
            self._held += held
            self._uploads[upload.key] = (local, before, upload)

    def take_source(self, name: str, storage: Any, path: str) -> Upload | None:
        """:meth:`take` for a finder's source (its local path looked up only if needed)."""
        return self.take(name, local_file(storage, path)) if self._uploads else None

    def take_content(self, name: str, content: Any) -> Upload | None:
        """:meth:`take` for what ``_save()`` received."""
        return self.take(name, local_path(content)) if self._uploads else None

    def take(self, name: str, local: str | None) -> Upload | None:
        """The upload prepared for ``name`` from the file ``local``, if still valid."""
        if local is None or not self._uploads:
            return None
        entry = self._uploads.pop(self._adapter.key(name), None)
        if entry is None:
            return None
        prepared_from, signature, upload = entry
        if upload.payload.data is not None:
            self._held -= len(upload.payload.data)
        if prepared_from != local or upload.name != name or _signature(local) != signature:
            return None
        return upload


class WorkAheadMixin(StorageBase):
    """The storage's hook for work done during the wait (mixed into ``PreloadMixin``)."""

    def preload_work_ahead(self, run: SyncRun) -> Iterator[None]:
        """Work the collect loop will need, done while the listing is still coming.

        Runs on the command's thread inside its first wait for the listing, one step
        per ``next()``, and is stopped as soon as the listing is in. This one prepares
        each source's upload as the content check would; extend it with
        ``yield from super().preload_work_ahead(run)``.
        """
        ctx = find_collectstatic()  # inside the command's first exists()
        sources = collected_sources(ctx.command) if ctx is not None else iter(())
        while not run.ahead.full:
            try:
                name, storage, path = next(sources)
            except Exception:  # the end, or a finder failing (the command's walk reports it)
                return
            run.ahead.prepare(name, storage, path)
            yield
