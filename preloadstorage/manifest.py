"""``LocalManifestMixin``: Django's manifest semantics, post-processed locally.

Same hashed names, same rewritten bytes, same ``staticfiles.json`` as Django's
``ManifestFilesMixin`` (it *is* that code, with every hook and option of the subclass),
but run against a :class:`~preloadstorage.staging.StagingArea` instead of the bucket.
Then only objects whose bytes are not in the bucket yet are uploaded, in parallel, and
the manifest is written last, after every upload succeeded. When anything failed, the
previous manifest stays live and nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.utils.encoding import filepath_to_uri
from storages.utils import clean_name

from . import proof
from .conf import MANIFEST_OPTIONS, check_option_values, default_settings
from .mixins import PostProcessResult, PreloadMixin
from .staging import StagingArea
from .sync import SyncRun

__all__ = ["LocalManifestMixin"]


class LocalManifestMixin(ManifestFilesMixin):
    """``ManifestFilesMixin`` whose post-processing never reads from the bucket.

    Stack it before a storage that includes :class:`~preloadstorage.mixins.PreloadMixin`.
    Differences from Django's mixin:

    - ``read_manifest()`` is one GET (no existence check first).
    - ``post_process()`` hashes and rewrites on local files (a private staging folder),
      uploads the changed results, and only then saves the manifest: overwriting it in
      place, never deleting it first.
    """

    _preload_staging: StagingArea | None = None
    keep_releases: int | None
    keep_only_hashed_files: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        check_option_values(self, MANIFEST_OPTIONS)

    def get_default_settings(self) -> dict[str, Any]:
        defaults: dict[str, Any] = super().get_default_settings()  # type: ignore[misc]
        return {**defaults, **default_settings(MANIFEST_OPTIONS)}

    def read_manifest(self) -> str | None:  # type: ignore[override]
        if self.manifest_storage is not self:  # type: ignore[comparison-overlap]
            return super().read_manifest()  # type: ignore[no-any-return]
        data = self.preload_read(self.manifest_name)  # type: ignore[attr-defined]
        return None if data is None else data.decode()  # type: ignore[no-any-return]

    # -- while post-processing, the storage is the staging area ---------------------------
    def exists(self, name: str) -> bool:
        if self._preload_staging is not None:
            return self._preload_staging.exists(name)
        return super().exists(name)  # type: ignore[misc,no-any-return]

    def _open(self, name: str, mode: str = "rb") -> Any:
        if self._preload_staging is not None:
            return self._preload_staging.open(name)
        return super()._open(name, mode)  # type: ignore[misc]

    def _save(self, name: str, content: Any) -> str:
        if self._preload_staging is not None:
            return self._preload_staging.save(name, content)
        if self.keep_only_hashed_files and name != self.manifest_name:
            storage: PreloadMixin = self  # type: ignore[assignment]
            if storage.preload_run() is not None:
                # An original, saved by the collect phase: only its hashed copy is sent
                # (post-processing reads the original from its source, not the bucket).
                return str(clean_name(name))
        return super()._save(name, content)  # type: ignore[misc,no-any-return]

    def delete(self, name: str) -> None:
        if self._preload_staging is not None:
            self._preload_staging.delete(name)
            return
        super().delete(name)  # type: ignore[misc]

    def url(self, name: str | None, force: bool = False) -> str:
        # HashedFilesMixin's own, declared here so type checkers see one signature
        # across the backends' url() (Storage.url(name), S3Storage.url(name, ...)).
        return str(super().url(name, force))  # type: ignore[arg-type]

    def preload_local_url(self, name: str) -> str | None:
        """While post-processing runs on the staging area, a URL that needs no client.

        Django asks for URLs there only to splice the last path segment (the hashed
        file name) into rewritten CSS/JS, after unquoting it: when the backend's URLs
        carry no query string (:attr:`preload_plain_urls`), the quoted name is that
        segment. The backend's URL would cost a client (or two) on the command's
        thread for nothing.
        """
        if self._preload_staging is None or not self.preload_plain_urls:  # type: ignore[attr-defined]
            return None
        return str(filepath_to_uri(clean_name(name)))

    def save_manifest(self) -> None:
        if self._preload_staging is not None:
            # Called by ManifestFilesMixin.post_process() right after hashing: too early.
            self._preload_staging.manifest_requested = True
            return
        target: Any = self.manifest_storage
        if target is not self and isinstance(target, PreloadMixin) and target.preload_run():
            # Django deletes the manifest, then saves it. A separate preloading storage
            # has no barrier to defer that delete to, so a failed save would leave no
            # manifest at all: overwrite it in place (preloading storages overwrite).
            self.manifest_storage = _OverwriteInPlace(target)  # type: ignore[assignment]
            try:
                super().save_manifest()
            finally:
                self.manifest_storage = target
            return
        super().save_manifest()

    def preload_is_hashed(self, name: str) -> bool:
        """Whether ``name`` (or its full key) is a hashed name the manifest maps to."""
        hashed = self.hashed_files
        cached = self.__dict__.get("_preload_hashed")
        if cached is None or cached[0] is not hashed or cached[1] != len(hashed):
            key = self.preload_adapter.key  # type: ignore[attr-defined]
            names = {v for k, v in hashed.items() if v != k}
            cached = (hashed, len(hashed), names | {key(v) for v in names})
            self._preload_hashed = cached
        found: set[str] = cached[2]
        return name in found or clean_name(name) in found

    def preload_work_ahead(self, run: SyncRun) -> Iterator[None]:
        yield from super().preload_work_ahead(run)  # type: ignore[misc]
        # Then what the proof compares: the metadata the settings give each hashed name.
        yield from proof.work_ahead(run, self.hashed_files.values())

    # -- the manifest step -----------------------------------------------------------------
    def preload_before_deletes(self, run: SyncRun) -> None:
        """Every hashed file has landed: now the manifest may name them."""
        super().preload_before_deletes(run)  # type: ignore[misc]
        if self.__dict__.pop("_preload_manifest_due", False):
            self.save_manifest()
            if self.keep_releases is not None:
                prune_releases(run, self.keep_releases)

    def post_process(
        self, paths: dict[str, Any], dry_run: bool = False, **options: Any
    ) -> Iterator[PostProcessResult]:
        storage: PreloadMixin = self  # type: ignore[assignment]
        run = storage.preload_run()
        if run is None or dry_run:
            yield from super().post_process(paths, dry_run=dry_run, **options)
            if run is not None:
                run.finish()
            return
        inputs = proof.inputs_digest(self, paths, run.source_md5)  # recorded after --clear too
        # --clear re-applies everything: no skip.
        if not run.options.refresh_metadata and proof.verify(run, self, inputs):
            # The live manifest and every object it names are this run's result.
            results = list(proof.replay(run, self, paths))
            yield from results
            yield from storage.preload_barrier(run)
            return
        staging = StagingArea(paths)
        try:
            self._preload_staging = staging
            try:
                results, error = self._preload_stage(paths, **options)
            finally:
                self._preload_staging = None
            if error is None:
                for name, path in staging.outputs():
                    with open(path, "rb") as content:
                        storage.preload_save(run, name, content)
                self._preload_manifest_due = staging.manifest_requested
                self._preload_proof = (inputs, results)
                outcome = list(storage.preload_barrier(run))
            else:
                # Let the originals already in flight land, then fail like Django does.
                run.wait()
                run.finish()
                outcome = [error]
        finally:
            # Before anything is yielded: the command stops iterating at the first error.
            staging.cleanup()
            self.__dict__.pop("_preload_proof", None)
        yield from results
        yield from outcome

    def preload_before_state(self, run: SyncRun) -> None:
        super().preload_before_state(run)  # type: ignore[misc]
        pending = self.__dict__.get("_preload_proof")
        if pending is None:
            return  # post-processing was skipped: the proof still holds
        inputs, results = pending
        if inputs is not None and self.manifest_storage is self:  # type: ignore[comparison-overlap]
            proof.record(run, self, inputs, results)
        else:
            run.state.sections.pop("proof", None)

    def _preload_stage(
        self, paths: dict[str, Any], **options: Any
    ) -> tuple[list[PostProcessResult], PostProcessResult | None]:
        """Run Django's post-processing into the staging area, up to its first error.

        The command stops at the first error it is given, and Django's generator is not
        made to be resumed past one (it can fail on the next step), so stop there too.
        """
        results: list[PostProcessResult] = []
        tracked = _TrackingPaths(paths)
        processor: Generator[PostProcessResult, None, None] = super().post_process(  # type: ignore[assignment]
            tracked, dry_run=False, **options
        )
        try:
            for result in processor:
                if isinstance(result[2], Exception):
                    return results, result
                results.append(result)
        except Exception as exc:
            # Older Djangos raise some errors (e.g. a CSS file that is not UTF-8) instead
            # of yielding them, without saying which file: name the one being processed.
            return results, (tracked.last or "post-processing", None, exc)
        finally:
            processor.close()
        return results, None


def prune_releases(run: SyncRun, keep: int) -> None:
    """Keep the objects of this release and ``keep`` previous ones; queue older ones.

    Each successful run records the keys of its collection in the run state. Keys that
    only releases older than the kept ones named are deleted with the run's other
    deletes (after the new manifest is live, never after a failure); keys no recorded
    release ever named are never touched, and kept releases survive ``--clear``.
    """
    prefix = run.adapter.prefix()
    current = sorted(k[len(prefix) :] for k in run.collected if k.startswith(prefix))
    recorded = run.state.sections.get("releases")
    history = [r for r in recorded if isinstance(r, list)] if isinstance(recorded, list) else []
    if not history or history[0] != current:  # an unchanged re-run is the same release
        history.insert(0, current)
    kept, old = history[: keep + 1], history[keep + 1 :]
    protected = {rel for release in kept for rel in release}
    for rel in {rel for release in old for rel in release} - protected:
        run.cache.mark_deleted(prefix + rel)
    for rel in protected:
        run.cache.keep(prefix + rel)
    run.state.sections["releases"] = kept


class _OverwriteInPlace:
    """``storage`` as seen by ``save_manifest()``: no manifest to delete first."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def exists(self, name: str) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


class _TrackingPaths(dict):  # type: ignore[type-arg]
    """``paths`` that remember which file post-processing looked up last."""

    last: str | None = None

    def __getitem__(self, key: Any) -> Any:
        self.last = key
        return super().__getitem__(key)
