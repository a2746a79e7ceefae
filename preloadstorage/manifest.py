"""``LocalManifestMixin``: Django's manifest semantics, post-processed locally.

Same hashed names, same rewritten bytes, same ``staticfiles.json`` as Django's
``ManifestFilesMixin`` (it *is* that code, with every hook and option of the subclass),
but run against a :class:`~preloadstorage.staging.StagingArea` instead of the bucket.
Then only objects whose bytes are not in the bucket yet are uploaded, in parallel, and
the manifest is written last, after every upload succeeded. When anything failed, the
previous manifest stays live and nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin

from .mixins import PostProcessResult, PreloadMixin
from .staging import StagingArea

__all__ = ["LocalManifestMixin"]


class LocalManifestMixin(ManifestFilesMixin):
    """``ManifestFilesMixin`` whose post-processing never reads from the bucket.

    Stack it before a storage that includes :class:`~preloadstorage.mixins.PreloadMixin`.
    Differences from Django's mixin:

    - ``read_manifest()`` is one GET (no existence check first).
    - ``post_process()`` hashes and rewrites on local files, uploads the changed results,
      and only then saves the manifest: overwriting it in place, never deleting it first.
    """

    _preload_staging: StagingArea | None

    def read_manifest(self) -> str | None:
        if self.manifest_storage is not self:
            return super().read_manifest()  # type: ignore[no-any-return]
        data = self._preload_read(self.manifest_name)  # type: ignore[attr-defined]
        return None if data is None else data.decode()  # type: ignore[no-any-return]

    def save_manifest(self) -> None:
        if self._preload_staging is not None:
            # Called by ManifestFilesMixin.post_process() right after hashing: too early.
            self._preload_staging.manifest_requested = True
            return
        super().save_manifest()

    def post_process(
        self, paths: dict[str, Any], dry_run: bool = False, **options: Any
    ) -> Iterator[PostProcessResult]:
        storage: PreloadMixin = self  # type: ignore[assignment]
        run = storage._preload_current()
        if run is None or dry_run:
            yield from super().post_process(paths, dry_run=dry_run, **options)
            if run is not None:
                run.finish()
            return
        staging = StagingArea(paths)
        try:
            self._preload_staging = staging
            try:
                results = list(super().post_process(paths, dry_run=dry_run, **options))
            finally:
                self._preload_staging = None
            errors = [result for result in results if isinstance(result[2], Exception)]
            yield from (result for result in results if not isinstance(result[2], Exception))
            if errors:
                # Let the originals already in flight land, then fail like Django does.
                run.wait()
                run.finish()
                yield errors[0]
                return
            for name, path in staging.outputs():
                with open(path, "rb") as content:
                    storage._preload_sync(run, name, content)
            yield from storage._preload_barrier(run, manifest=staging.manifest_requested)
        finally:
            staging.cleanup()
