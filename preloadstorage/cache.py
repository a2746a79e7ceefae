"""The preload cache: one listing of a storage's prefix answers every metadata question.

Stock django-storages asks the server once per file and question (``exists()``,
``get_modified_time()``, ``size()``), so a collectstatic run costs several requests per
file. :class:`PreloadCache` lists the prefix once, lazily, and keeps the answers current
as the storage saves and deletes.

Deletes are *pending* until the sync barrier: collectstatic deletes a file right before
it saves it again (and ``--clear`` deletes everything first), so a pending delete keeps
what it knew of the old object (its *ghost*) for the content comparison, and a later save
of the same key cancels it. Only deletes nobody cancelled reach the server.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from .contract import RemoteObject

__all__ = ["PreloadCache", "RemoteObject"]


class PreloadCache:
    """A thread-safe index of the objects under one prefix.

    ``loader`` lists the prefix; it runs once, on first use, and returns ``None`` when
    listing is not allowed: ``stat`` then answers for one key at a time.
    """

    def __init__(
        self,
        loader: Callable[[], Iterable[RemoteObject] | None],
        stat: Callable[[str], RemoteObject | None],
    ) -> None:
        self._loader = loader
        self._stat = stat
        self._lock = threading.RLock()
        self._objects: dict[str, RemoteObject] = {}
        self._missing: set[str] = set()
        self._pending_deletes: dict[str, RemoteObject] = {}
        self._loaded = False
        # Without a listing (e.g. no s3:ListBucket) every unknown key costs one stat.
        self.complete = True
        # Live objects per folder ("a/", "a/b/"; "" counts all): exists() of a folder
        # is asked per file during a clear, so it must not scan the whole prefix. Built
        # on the first folder question (an unchanged re-run asks none), then kept current.
        self._folders: dict[str, int] | None = None
        self._tree: dict[str, tuple[set[str], set[str]]] | None = None

    # -- loading -----------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            listed = self._loader()
            if listed is None:
                self.complete = False
            else:
                self._objects.update((obj.key, obj) for obj in listed)
            self._loaded = True

    def _count(self, key: str, delta: int) -> None:
        folders = self._folders
        if folders is None:
            return  # not built yet: built from the live objects when first asked
        folders[""] = folders.get("", 0) + delta
        end = key.find("/")
        while end != -1:
            folder = key[: end + 1]
            folders[folder] = folders.get(folder, 0) + delta
            end = key.find("/", end + 1)

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._objects)

    # -- questions ---------------------------------------------------------------
    def get(self, key: str) -> RemoteObject | None:
        """The live object at ``key``, or ``None`` (missing or pending deletion)."""
        self._ensure_loaded()
        with self._lock:
            if key in self._pending_deletes:
                return None
            return self._lookup(key)

    def current(self, key: str) -> RemoteObject | None:
        """What sits at ``key`` on the server right now, pending deletion or not."""
        self._ensure_loaded()
        with self._lock:
            ghost = self._pending_deletes.get(key)
            return ghost if ghost is not None else self._lookup(key)

    def _lookup(self, key: str) -> RemoteObject | None:
        obj = self._objects.get(key)
        if obj is not None or self.complete or key in self._missing:
            return obj
        obj = self._stat(key)
        if obj is None:
            self._missing.add(key)
        else:
            self._objects[key] = obj
            self._count(key, 1)
        return obj

    def has_dir(self, prefix: str) -> bool:
        """Whether any live object sits below ``prefix`` ('' or ending in '/')."""
        self._ensure_loaded()
        with self._lock:
            if self._folders is None:
                self._folders = {}
                for key in self._objects:
                    if key not in self._pending_deletes:
                        self._count(key, 1)
            return self._folders.get(prefix, 0) > 0

    def listdir(self, prefix: str) -> tuple[list[str], list[str]]:
        """Directories and files directly below ``prefix`` ('' or ending in '/')."""
        self._ensure_loaded()
        with self._lock:
            if self._tree is None:
                # Built once: a clear of N objects in D folders is O(N), not O(N * D).
                self._tree = {}
                for key in self._objects:
                    if key not in self._pending_deletes:
                        self._add_to_tree(key)
            dirs, files = self._tree.get(prefix, (set(), set()))
            return sorted(dirs), sorted(files)

    def _add_to_tree(self, key: str) -> None:
        assert self._tree is not None
        parent, _, leaf = key.rpartition("/")
        self._tree.setdefault(parent + "/" if parent else "", (set(), set()))[1].add(leaf)
        while parent:
            grand, _, folder = parent.rpartition("/")
            self._tree.setdefault(grand + "/" if grand else "", (set(), set()))[0].add(folder)
            parent = grand

    # -- changes -----------------------------------------------------------------
    def mark_deleted(self, key: str) -> bool:
        """Hide ``key`` until the barrier; return whether there was anything to delete."""
        self._ensure_loaded()
        with self._lock:
            obj = self._lookup(key)
            if obj is None or key in self._pending_deletes:
                return False
            self._pending_deletes[key] = obj
            self._count(key, -1)
            self._tree = None
            return True

    def _is_live(self, key: str) -> bool:
        return key in self._objects and key not in self._pending_deletes

    def keep(self, key: str) -> None:
        """Cancel a pending delete: the key is saved again (unchanged or overwritten)."""
        with self._lock:
            if self._pending_deletes.pop(key, None) is not None:
                self._count(key, 1)
                self._tree = None

    def record(self, obj: RemoteObject) -> None:
        """Remember an object the storage has just written."""
        with self._lock:
            if not self._is_live(obj.key):
                self._count(obj.key, 1)
            self._pending_deletes.pop(obj.key, None)
            self._missing.discard(obj.key)
            self._objects[obj.key] = obj
            self._tree = None

    def forget(self, key: str) -> None:
        """Drop an object the storage has just deleted."""
        with self._lock:
            if self._is_live(key):
                self._count(key, -1)
            self._pending_deletes.pop(key, None)
            self._objects.pop(key, None)
            self._missing.add(key)
            self._tree = None

    def live_keys(self) -> list[str]:
        """Every key known to exist now (pending deletes excluded)."""
        with self._lock:
            return [key for key in self._objects if key not in self._pending_deletes]

    def pending_deletes(self) -> list[str]:
        with self._lock:
            return sorted(self._pending_deletes)
