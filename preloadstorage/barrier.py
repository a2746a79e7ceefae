"""The barrier: ``post_process()`` waits for every write of the run, then deletes.

Django's collectstatic calls ``post_process()`` once, after copying every file: the one
point where a storage that writes in the background can wait for all of it and still
fail the command. :class:`PreloadBarrierMixin` (part of
:class:`~preloadstorage.mixins.PreloadMixin`) waits there, runs the hooks a manifest
needs (:meth:`~PreloadBarrierMixin.preload_before_deletes`,
:meth:`~PreloadBarrierMixin.preload_before_state`), applies deletes, and yields errors
as ``post_process()`` must, instead of raising them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import SyncFailed
from .hooks import StorageBase
from .signals import SyncResult, sync_finished, write_report
from .sync import SyncRun

__all__ = ["PostProcessResult", "PreloadBarrierMixin"]

PostProcessResult = tuple[str, Any, Any]


class PreloadBarrierMixin(StorageBase):
    """``post_process()`` as the barrier of a preloading run (see the module docstring).

    Needs ``preload_run()``, ``preload_is_hashed()`` and ``report_path`` from
    :class:`~preloadstorage.mixins.PreloadMixin`.
    """

    def post_process(
        self, paths: dict[str, Any], dry_run: bool = False, **options: Any
    ) -> Iterator[PostProcessResult]:
        parent = getattr(super(), "post_process", None)
        if parent is not None:
            yield from parent(paths, dry_run=dry_run, **options)
        run = self.preload_run()
        if run is None:
            return
        if dry_run:
            run.finish()
            return
        yield from self.preload_barrier(run)

    def preload_before_deletes(self, run: SyncRun) -> None:
        """Hook: runs once every upload landed, before deletes (the manifest goes here)."""

    def preload_before_state(self, run: SyncRun) -> None:
        """Hook: every write and delete succeeded; the run state is saved next."""

    def preload_barrier(self, run: SyncRun) -> Iterator[PostProcessResult]:
        """Wait for all writes, run :meth:`preload_before_deletes`, then apply deletes.

        Errors are yielded, as ``post_process()`` must, so the command fails with a
        message naming the files; nothing is deleted after a failed write. The run is
        finished (summary printed) before an error is yielded: the command stops
        iterating at the first error.
        """
        try:
            error: Exception | None = run.complete(
                lambda: self.preload_before_deletes(run), lambda: self.preload_before_state(run)
            )
        except Exception as exc:  # e.g. a separate manifest_storage refused the write
            error = exc
        finally:
            run.finish()
        try:
            self.preload_finished(run.result(self.preload_is_hashed))
        except Exception as exc:
            error = error or exc
        if isinstance(error, SyncFailed):
            yield _failure(error)
        elif error is not None:
            yield "staticfiles manifest", None, error

    def preload_finished(self, result: SyncResult) -> None:
        """Hook: the run is over (``result.ok`` tells how). Sends ``sync_finished`` and
        writes ``report_path``; an exception here fails the command."""
        if self.report_path:
            write_report(self.report_path, result)
        sync_finished.send(sender=type(self), storage=self, result=result)


def _failure(exc: SyncFailed) -> PostProcessResult:
    names = exc.names
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return shown, None, exc
