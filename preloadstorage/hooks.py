"""The backend's per-name hooks the engine adjusts: ``get_object_parameters()`` and ``url()``.

Both mixins are part of :class:`~preloadstorage.mixins.PreloadMixin`, after
``HashedFilesMixin`` in a manifest storage's MRO, and call ``super()``.

- :class:`CachePolicyMixin`, Cache-Control by kind of file (``hashed_cache_control``,
  ``unhashed_cache_control``). A hashed name (``app.3f2a9c.js``) never changes content, so
  a CDN may keep it for a year; an unhashed one (``app.js``, ``staticfiles.json``) must be
  revalidated. Stock django-storages has one Cache-Control for every object. The policy
  goes through ``get_object_parameters()``, the backend's documented per-name hook, so
  uploads and the engine's metadata comparison both see it, and a policy change reaches
  objects already in the bucket through the metadata path (no bytes re-sent).
- :class:`LocalURLMixin`, URLs answered without the backend while post-processing runs
  locally. Django's ``HashedFilesMixin._url()`` asks the storage for the URL of every
  file a stylesheet or script references, and keeps only its last path segment,
  unquoted. On S3 that URL is made by a boto3 client (two, per thread): CPU for a segment
  that is just the quoted file name whenever the backend's URLs are plain (no query
  string, no signature). :class:`~preloadstorage.manifest.LocalManifestMixin` answers
  those calls itself through :meth:`LocalURLMixin.preload_local_url`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CachePolicyMixin", "LocalURLMixin", "StorageBase"]

if TYPE_CHECKING:
    #: The storage classes the mixins mix into (django-storages ships no type information).
    StorageBase = Any
else:
    StorageBase = object


class CachePolicyMixin(StorageBase):
    """The cache policy's Cache-Control in ``get_object_parameters()`` (part of
    :class:`~preloadstorage.mixins.PreloadMixin`; the options are registered there)."""

    #: The key of Cache-Control in the backend's ``get_object_parameters()``.
    preload_cache_control_parameter = "cache_control"

    hashed_cache_control: str | None
    unhashed_cache_control: str | None

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        """The backend's object parameters, with the cache policy's Cache-Control.

        ``hashed_cache_control`` applies to content-addressed names (see
        :meth:`preload_is_hashed`), ``unhashed_cache_control`` to every other name;
        either overrides what ``object_parameters`` or the backend's cache-control
        setting would give. Unset, nothing changes.
        """
        params: dict[str, Any] = super().get_object_parameters(name)  # type: ignore[misc]
        hashed = self.preload_is_hashed(name)
        policy = self.hashed_cache_control if hashed else self.unhashed_cache_control
        if policy is None:
            return params
        return {**params, self.preload_cache_control_parameter: policy}

    def preload_is_hashed(self, name: str) -> bool:
        """Whether ``name`` (or full key) is content-addressed: never, without a manifest."""
        return False


class LocalURLMixin(StorageBase):
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
