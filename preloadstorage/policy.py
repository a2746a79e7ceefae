"""Cache-Control by kind of file: ``hashed_cache_control`` and ``unhashed_cache_control``.

A hashed name (``app.3f2a9c.js``) never changes content, so a CDN may keep it for a
year; an unhashed one (``app.js``, ``staticfiles.json``) must be revalidated. Stock
django-storages has one Cache-Control for every object. The policy goes through
``get_object_parameters()``, the backend's documented per-name hook, so uploads and the
engine's metadata comparison both see it, and a policy change reaches objects already
in the bucket through the metadata path (no bytes re-sent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CachePolicyMixin"]

if TYPE_CHECKING:
    _StorageBase = Any  # the storage classes this mixes into
else:
    _StorageBase = object


class CachePolicyMixin(_StorageBase):
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
