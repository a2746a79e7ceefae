"""URLs answered without the backend while post-processing runs locally.

Django's ``HashedFilesMixin._url()`` asks the storage for the URL of every file a
stylesheet or script references, and keeps only its last path segment, unquoted. On S3
that URL is made by a boto3 client (two, per thread) presigning each request: CPU for a
segment that is just the quoted file name whenever the backend's URLs are plain (no
query string, no signature). :class:`LocalURLMixin` (part of
:class:`~preloadstorage.mixins.PreloadMixin`) lets
:class:`~preloadstorage.manifest.LocalManifestMixin` answer those calls itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["LocalURLMixin"]

if TYPE_CHECKING:
    _StorageBase = Any  # the storage classes this mixes into
else:
    _StorageBase = object


class LocalURLMixin(_StorageBase):
    """``url()`` with a hook, placed after ``HashedFilesMixin`` in the MRO."""

    #: Whether the backend's ``url(name)`` is a URL without query string or signature
    #: whose last segment is the quoted file name: a backend sets it where that holds.
    preload_plain_urls = False

    def url(self, *args: Any, **kwargs: Any) -> Any:
        # Here, after HashedFilesMixin in the MRO: its _url() calls super().url(name).
        if len(args) == 1 and not kwargs and args[0] is not None:
            local = self.preload_local_url(args[0])
            if local is not None:
                return local
        return super().url(*args, **kwargs)  # type: ignore[misc]

    def preload_local_url(self, name: str) -> str | None:
        """Hook: the URL of ``name`` computed without the backend, or ``None``."""
        return None
