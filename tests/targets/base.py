"""The interface the conformance suite uses to drive and inspect one backend."""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from preloadstorage.state import STATE_NAME

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(func: Callable[[T], R], items: Iterable[T], workers: int = 16) -> list[R]:
    """``map`` on a thread pool: reading hundreds of objects one by one is slow."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(func, items))


class Target(ABC):
    """A storage backend running against one real server, behind a RecordingProxy.

    Subclasses set the class attributes and implement the abstract methods. ``server``
    is a started ``tests.support.servers`` server, ``proxy`` a started
    ``RecordingProxy`` in front of it: storages talk to the proxy (so requests are
    counted and faults can be injected), inspection talks to the server directly.
    """

    #: Short id used in test ids: "moto", "seaweedfs", "gcs", "azure".
    name: str
    #: ``RecordingProxy`` flavor: "s3", "gcs" or "azure".
    flavor: str
    #: Dotted paths of the classes under test and of the stock equivalent.
    manifest_backend: str
    static_backend: str
    stock_manifest_backend: str
    #: Proxy operation names, by role.
    list_ops: frozenset[str]
    upload_ops: frozenset[str]  # every request that writes object bytes
    object_upload_ops: frozenset[str]  # one per uploaded object (e.g. PutObject)
    delete_ops: frozenset[str]
    metadata_ops: frozenset[str]  # per-file metadata requests (HEAD & co)
    read_ops: frozenset[str]  # object downloads

    def __init__(self, server: Any, proxy: Any) -> None:
        self.server = server
        self.proxy = proxy

    def new_bucket(self) -> str:
        """Create and return a fresh, empty bucket/container with a random name."""
        name = f"t{uuid.uuid4().hex[:20]}"
        self.server.create_bucket(name)
        return name

    def env(self) -> dict[str, str]:
        """Environment variables the backend's client needs (set for each test)."""
        return {}

    def example_env(self, bucket: str, location: str = "static") -> dict[str, str]:
        """Environment for ``example_project/manage.py`` to deploy to ``bucket``."""
        raise NotImplementedError

    @abstractmethod
    def options(self, bucket: str, location: str = "static", **extra: Any) -> dict[str, Any]:
        """STORAGES OPTIONS pointing the backend at the proxy, plus ``extra``."""

    @abstractmethod
    def cache_control_options(self, value: str) -> dict[str, Any]:
        """OPTIONS that make the backend set Cache-Control on every object."""

    @abstractmethod
    def stored_objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``: key -> stored bytes, read from the server."""

    def objects(self, bucket: str, prefix: str = "", state: bool = False) -> dict[str, bytes]:
        """The collection under ``prefix``: every object but preloadstorage's run state
        (``preloadstorage-state.json``), unless ``state``."""
        found = self.stored_objects(bucket, prefix)
        if state:
            return found
        return {k: v for k, v in found.items() if k.rpartition("/")[2] != STATE_NAME}

    @abstractmethod
    def metadata(self, bucket: str, key: str) -> dict[str, str | None]:
        """``content_type``, ``cache_control``, ``content_encoding`` of one object."""

    @abstractmethod
    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Write one object directly (bypassing the storage), for test set-up."""

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        """Remove every object under ``prefix`` (the live tier's clean-up)."""
        raise NotImplementedError

    def count(self, ops: frozenset[str], state: bool = False) -> int:
        """How many requests of these operations reached the proxy since reset.

        Requests for preloadstorage's own run state object are left out unless
        ``state`` (see :meth:`state_count`); without per-request records (the live
        tier) every request counts.
        """
        if state or not self.proxy.records:
            return sum(self.proxy.counts.get(op, 0) for op in ops)
        return sum(
            1 for op, _, path, _ in list(self.proxy.records) if op in ops and STATE_NAME not in path
        )

    def state_count(self, ops: frozenset[str]) -> int:
        """How many requests of these operations were about the run state object."""
        return self.count(ops, state=True) - self.count(ops)
