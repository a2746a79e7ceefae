"""The adapter contract: what a storage backend implements to get preloading.

Everything a storage author needs is in this module: the value types that cross the
boundary (:class:`RemoteObject`, :class:`Upload`, :class:`ListingDenied`,
:class:`MaybeMissing`) and the abstract base :class:`PreloadAdapter`. The engine
(:mod:`preloadstorage.sync`, :mod:`preloadstorage.cache`) depends on nothing else, and
the Django glue (:class:`preloadstorage.mixins.PreloadMixin`) builds one adapter per
storage from its ``preload_adapter_class``.

An adapter is a small object, not a mixin: its public method names (``list``,
``upload``, ``delete_one``...) would collide with Django's ``Storage`` API on the
storage itself. It holds the storage it serves as ``self.storage`` and calls the
backend's client through it. A subclass that leaves an abstract method out fails when
the class statement runs, with a message naming the methods.

Keys are full object keys (the storage's location included); names are what Django
passes to the storage (location excluded).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from storages.utils import clean_name

from .fingerprints import Payload

__all__ = [
    "RETRY_ALONE",
    "ListingDenied",
    "MaybeMissing",
    "PreloadAdapter",
    "RemoteObject",
    "Upload",
    "metadata_digest",
]


@dataclass(frozen=True, slots=True)  # slots: 100,000 of them stay small
class RemoteObject:
    """What a listing (or a write) tells about one object.

    ``fingerprint`` is a backend-specific content fingerprint (an S3 ETag, a GCS
    ``md5Hash``...) or ``None`` when the backend gave none; only the adapter that made it
    interprets it. ``metadata`` is what the listing reports of the object's metadata, in
    the adapter's own vocabulary, or ``None`` when listings carry none (S3).
    """

    key: str
    size: int
    modified: datetime
    fingerprint: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass
class Upload:
    """One object to write: its exact bytes, and everything the settings say about it."""

    #: The name Django used (location excluded), for messages.
    name: str
    #: The full object key.
    key: str
    payload: Payload
    #: The backend's write parameters, computed as the stock ``_save()`` computes them.
    params: dict[str, Any] = field(default_factory=dict)
    #: What the settings give this object besides its bytes (content type, cache
    #: control, disposition, encoding, user metadata, ACL...), as plain JSON values.
    #: The engine compares its digest between runs to know when to rewrite metadata.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Whether this payload's fingerprint can be compared with the stored object's
    #: (False under SSE-KMS, client-side encryption...): never skip when False.
    trusted: bool = True

    @cached_property
    def metadata_digest(self) -> str:
        """:func:`metadata_digest` of :attr:`metadata`, computed once (an adapter fills
        ``metadata`` in :meth:`PreloadAdapter.prepare` and never changes it after)."""
        return metadata_digest(self.metadata)


def metadata_digest(metadata: Mapping[str, Any]) -> str:
    """A short, stable digest of an object's metadata (what the run state remembers)."""
    text = json.dumps(metadata, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ListingDenied(Exception):
    """Raised by :meth:`PreloadAdapter.list`: the credentials may not list the prefix.

    The message says which permission to grant; the engine then falls back to one
    :meth:`PreloadAdapter.stat` per file.
    """


class MaybeMissing(Exception):
    """Raised (``from`` the client's error) by :meth:`PreloadAdapter.read` when the
    server refused in a way that may mean "missing" (S3 answers 403 for a missing key
    without ``s3:ListBucket``). During collectstatic, which is about to write the
    object, that reads as missing; anywhere else the client's own error is raised.
    """


class PreloadAdapter(ABC):
    """The backend side of preloading: list, compare, write, delete, read.

    Required: :meth:`where`, :meth:`list`, :meth:`stat`, :meth:`prepare`,
    :meth:`matches`, :meth:`upload`, :meth:`update_metadata`, :meth:`delete_one`,
    :meth:`read`. Optional: :meth:`metadata_matches`, :meth:`delete_batch`,
    :meth:`explain`, :meth:`prefix`. Methods other than :meth:`prepare` and
    :meth:`matches` may run on worker threads at the same time.
    """

    #: Keys per :meth:`delete_batch` call (the server's limit).
    delete_batch_size = 1000

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        #: Called with an operation name ("PutObject", "objects.list"...) per HTTP
        #: request; the engine counts them for the summary.
        self.on_request: Callable[[str], None] = lambda operation: None

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if abstract:
            return
        missing = sorted(
            name
            for name in dir(cls)
            if getattr(getattr(cls, name, None), "__isabstractmethod__", False)
        )
        if missing:
            raise TypeError(
                f"{cls.__qualname__} does not implement {', '.join(missing)} of "
                "preloadstorage.contract.PreloadAdapter (declare it with "
                "'abstract=True' if it is meant as a base class)."
            )

    # -- describing the location -------------------------------------------------------
    @abstractmethod
    def where(self) -> str:
        """The listed location for messages, e.g. ``"s3://bucket/static/"``."""

    def prefix(self) -> str:
        """The key prefix to list: ``"location/"``, or ``""`` without a location."""
        return str(self.storage._normalize_name(""))

    def key(self, name: str) -> str:
        """The full object key of a storage name."""
        return str(self.storage._normalize_name(clean_name(name)))

    # -- reading state --------------------------------------------------------------------
    @abstractmethod
    def list(self) -> Iterable[RemoteObject]:
        """Every object under :meth:`prefix`, one paginated listing, streamed.

        Raise :class:`ListingDenied` (before the first object) if listing is refused.
        """

    @abstractmethod
    def stat(self, key: str) -> RemoteObject | None:
        """One object, or ``None`` when missing (or when the server cannot tell)."""

    @abstractmethod
    def read(self, name: str) -> bytes | None:
        """The stored bytes of ``name`` (decoded as the storage's ``open()`` would
        give them), or ``None`` when it is missing. One request. Raise
        :class:`MaybeMissing` for an ambiguous refusal."""

    # -- comparing ------------------------------------------------------------------------
    @abstractmethod
    def prepare(self, name: str, content: Any) -> Upload:
        """The exact bytes and parameters the stock ``_save(name, content)`` would send."""

    @abstractmethod
    def matches(self, remote: RemoteObject, upload: Upload) -> bool:
        """Whether ``remote`` holds exactly ``upload``'s bytes. ``False`` when unsure."""

    def metadata_matches(self, remote: RemoteObject, upload: Upload) -> bool | None:
        """Whether ``remote`` already carries ``upload.metadata``, judged from the
        listing; ``None`` when the listing cannot tell (the engine then uses what the
        last run recorded, and "unknown" means "apply once")."""
        return None

    # -- writing --------------------------------------------------------------------------
    @abstractmethod
    def upload(self, upload: Upload) -> RemoteObject:
        """Write the object with its bytes and metadata; return what is stored now."""

    @abstractmethod
    def update_metadata(self, remote: RemoteObject, upload: Upload) -> RemoteObject:
        """Make ``remote`` (whose bytes already match) carry exactly ``upload``'s
        metadata and ACL, server-side: never by sending the bytes again."""

    @abstractmethod
    def delete_one(self, key: str) -> None:
        """Delete one object; a missing object is not an error."""

    def delete_batch(self, keys: Sequence[str]) -> Mapping[str, BaseException | None] | None:
        """Delete up to :attr:`delete_batch_size` keys in one request.

        Return, per key, ``None`` (deleted or already gone), an exception (failed for
        good), or :data:`RETRY_ALONE` (transient: the engine deletes it with
        :meth:`delete_one`, which retries). Return ``None`` if the server has no batch
        API: the engine then uses :meth:`delete_one` for the rest of the run.
        """
        return None

    def explain(self, exc: BaseException, action: str) -> BaseException:
        """Turn a client error raised while trying to ``action`` ("list", "read",
        "write") into one a user can act on (naming the setting to fix)."""
        return exc


class _RetryAlone(Exception):
    """Marker outcome of :meth:`PreloadAdapter.delete_batch`."""


#: A :meth:`PreloadAdapter.delete_batch` outcome: retry this key with ``delete_one``.
RETRY_ALONE: BaseException = _RetryAlone("transient failure in a batch")
