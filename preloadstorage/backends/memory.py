"""The reference adapter: preloading over Django's ``InMemoryStorage``.

Two jobs. It is the worked example of the adapter contract (README, "Writing an
adapter": every method of :class:`~preloadstorage.contract.PreloadAdapter` in about a
hundred lines), and it is a real preloading storage with no server behind it, for fast
tests of the engine, ours and yours::

    STORAGES["staticfiles"] = {
        "BACKEND": "preloadstorage.backends.memory.PreloadingInMemoryManifestStorage",
        "OPTIONS": {"object_parameters": {"cache_control": "max-age=60"}},
    }

What differs from ``InMemoryStorage``: objects carry metadata (``content_type`` from
the name, plus ``object_parameters``, or a subclass's ``get_object_parameters(name)``)
in :attr:`MemoryPreloadMixin.object_metadata`, and :attr:`MemoryAdapter.requests`
counts what a server would have been asked ("list", "get", "put", "patch", "delete").
Objects live in named in-process buckets (option ``bucket_name``, default
``"default"``), shared by every storage instance of the process: Django builds a new
instance whenever settings change, and a deploy must see what the last one left.
Call :func:`clear_buckets` between tests.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage
from storages.utils import clean_name

from ..contract import PreloadAdapter, RemoteObject, Upload
from ..fingerprints import Payload
from ..manifest import LocalManifestMixin
from ..mixins import PreloadMixin

__all__ = [
    "MemoryAdapter",
    "MemoryPreloadMixin",
    "PreloadingInMemoryManifestStorage",
    "PreloadingInMemoryStorage",
    "clear_buckets",
]


# Django ships InMemoryStorage without type information for its private methods.
_Backend: Any = InMemoryStorage
# name -> (InMemoryStorage's root node, object metadata)
_BUCKETS: dict[str, tuple[Any, dict[str, dict[str, Any]]]] = {}


def clear_buckets() -> None:
    """Forget every in-memory bucket (between tests)."""
    _BUCKETS.clear()


class MemoryAdapter(PreloadAdapter):
    """Lists, compares and writes the objects of an ``InMemoryStorage``.

    It calls ``InMemoryStorage``'s own methods (not the storage's, which the preloading
    mixin overrides during collectstatic), as a cloud adapter calls its client.
    """

    delete_batch_size = 100

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        #: Requests a server would have seen, by operation.
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()  # uploads and deletes count from worker threads

    def _count(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] += 1
        self.on_request(operation)

    def where(self) -> str:
        return "memory://"

    def prefix(self) -> str:
        return ""

    def key(self, name: str) -> str:
        return str(clean_name(name)).lstrip("/")

    def list(self) -> Iterator[RemoteObject]:
        self._count("list")
        folders = [""]
        while folders:
            folder = folders.pop()
            dirs, files = InMemoryStorage.listdir(self.storage, folder)
            folders.extend(f"{folder}{d}/" for d in dirs)
            for name in files:
                yield self._remote(folder + name)

    def stat(self, key: str) -> RemoteObject | None:
        self._count("head")
        return self._remote(key) if InMemoryStorage.exists(self.storage, key) else None

    def _remote(self, key: str) -> RemoteObject:
        with _Backend._open(self.storage, key) as fh:
            data = fh.read()
        modified = InMemoryStorage.get_modified_time(self.storage, key)
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=timezone.utc)
        fingerprint = "md5:" + hashlib.md5(data, usedforsecurity=False).hexdigest()
        metadata = self.storage.object_metadata.get(key)
        return RemoteObject(key, len(data), modified, fingerprint, metadata)

    def read(self, name: str) -> bytes | None:
        self._count("get")
        key = self.key(name)
        if not InMemoryStorage.exists(self.storage, key):
            return None
        with _Backend._open(self.storage, key) as fh:
            return bytes(fh.read())

    def prepare(self, name: str, content: Any) -> Upload:
        key = self.key(name)
        metadata = {
            "content_type": mimetypes.guess_type(key)[0] or "application/octet-stream",
            **self.storage.get_object_parameters(name),
        }
        return Upload(name, key, Payload.from_content(content), metadata=metadata)

    def matches(self, remote: RemoteObject, upload: Upload) -> bool:
        expected = "md5:" + upload.payload.md5.hex()
        return remote.size == upload.payload.size and remote.fingerprint == expected

    def metadata_matches(self, remote: RemoteObject, upload: Upload) -> bool | None:
        # Like GCS and Azure: the listing shows the metadata.
        return None if remote.metadata is None else dict(remote.metadata) == upload.metadata

    def upload(self, upload: Upload) -> RemoteObject:
        self._count("put")
        InMemoryStorage.delete(self.storage, upload.key)
        _Backend._save(self.storage, upload.key, ContentFile(upload.payload.read()))
        self.storage.object_metadata[upload.key] = dict(upload.metadata)
        return self._remote(upload.key)

    def update_metadata(self, remote: RemoteObject, upload: Upload) -> RemoteObject:
        self._count("patch")
        self.storage.object_metadata[remote.key] = dict(upload.metadata)
        return RemoteObject(
            remote.key, remote.size, datetime.now(timezone.utc), remote.fingerprint,
            dict(upload.metadata),
        )  # fmt: skip

    def delete_one(self, key: str) -> None:
        self._count("delete")
        InMemoryStorage.delete(self.storage, key)
        self.storage.object_metadata.pop(key, None)


class MemoryPreloadMixin(PreloadMixin):
    """Storage glue: options the way django-storages registers them."""

    preload_adapter_class = MemoryAdapter
    preload_overwrite_option = "file_overwrite"
    preload_overwrite_setting = "PRELOADSTORAGE_FILE_OVERWRITE"
    _backend_options = (
        "location",
        "base_url",
        "file_permissions_mode",
        "directory_permissions_mode",
    )

    object_parameters: dict[str, Any]

    bucket_name: str
    object_metadata: dict[str, dict[str, Any]]

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        # The one private attribute used: InMemoryStorage's root node, shared per bucket.
        root, metadata = _BUCKETS.setdefault(self.bucket_name, (self.__dict__["_root"], {}))
        self._root, self.object_metadata = root, metadata

    def get_default_settings(self) -> dict[str, Any]:
        return {
            **dict.fromkeys(self._backend_options),
            "bucket_name": "default",
            "object_parameters": {},
            **PreloadMixin.get_default_settings(self),
        }

    def _init_backend(self, settings: dict[str, Any]) -> dict[str, Any]:
        defaults = self.get_default_settings()
        for name, value in defaults.items():
            if name not in self._backend_options:
                setattr(self, name, settings.get(name, getattr(type(self), name, value)))
        return {k: v for k, v in settings.items() if k in self._backend_options}


class _InMemoryBackend(InMemoryStorage):
    """``InMemoryStorage`` taking django-storages-style settings (the extra ones are set
    as attributes by :class:`MemoryPreloadMixin`)."""

    object_parameters: dict[str, Any]

    def get_default_settings(self) -> dict[str, Any]:
        return {}

    def get_object_parameters(self, name: str) -> dict[str, Any]:
        """Metadata for ``name`` (override it for per-name values, as on S3)."""
        return dict(self.object_parameters)

    def __init__(self, **settings: Any) -> None:
        backend = self._init_backend(settings)  # type: ignore[attr-defined]
        super().__init__(**backend)


class PreloadingInMemoryStorage(MemoryPreloadMixin, _InMemoryBackend):
    """``InMemoryStorage`` with a preload cache, content skip and parallel uploads."""


class PreloadingInMemoryManifestStorage(LocalManifestMixin, PreloadingInMemoryStorage):
    """``ManifestFilesMixin`` over ``InMemoryStorage`` with local-first post-processing."""
