"""The local staging area that Manifest post-processing runs against.

Django's ``HashedFilesMixin`` reads and writes through the storage itself: it checks
``exists()``, opens referenced files, saves hashed copies and rewritten CSS/JS, and
deletes names it is about to rewrite. Against a bucket that means reading files back
over the network and uploading every CSS/JS file at least twice. During
``post_process()`` the storage routes those calls here instead: originals are read
from the finders' sources, writes go to a private temporary folder, and only the final
state is uploaded afterwards.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from django.core.files.base import ContentFile, File
from storages.utils import clean_name

from .fingerprints import local_path

__all__ = ["StagingArea"]

_CHUNK = 1024 * 1024


class StagingArea:
    """Originals from their sources, plus everything post-processing writes."""

    def __init__(self, sources: Mapping[str, tuple[Any, str]]) -> None:
        # mkdtemp: mode 0700, private to this user; removed by cleanup() even on failure.
        self.root = tempfile.mkdtemp(prefix="preloadstorage-")
        self._sources = {clean_name(name): source for name, source in sources.items()}
        #: Name -> local file holding its bytes, in the order written.
        self._written: dict[str, str] = {}
        self._counter = itertools.count()
        self.manifest_requested = False

    def exists(self, name: str) -> bool:
        name = clean_name(name)
        return name in self._written or name in self._sources

    def open(self, name: str) -> File[Any]:
        name = clean_name(name)
        path = self._written.get(name)
        if path is not None:
            return File(open(path, "rb"), name)
        source = self._sources.get(name)
        if source is None:
            raise FileNotFoundError(f"File does not exist: {name}")
        storage, source_path = source
        return storage.open(source_path)  # type: ignore[no-any-return]

    def save(self, name: str, content: Any) -> str:
        name = clean_name(name)
        path = None if isinstance(content, ContentFile) else local_path(content)
        if path is None:
            # Flat numbered files: names may hold non-ASCII, spaces or '..' segments.
            path = os.path.join(self.root, str(next(self._counter)))
            if hasattr(content, "seek"):
                content.seek(0)
            with open(path, "wb") as out:
                chunks = content.chunks(_CHUNK) if hasattr(content, "chunks") else [content.read()]
                for chunk in chunks:
                    out.write(chunk.encode() if isinstance(chunk, str) else chunk)
        # An unmodified hashed copy just points at its source file: no copy on disk.
        self._written.pop(name, None)
        self._written[name] = path
        return name

    def delete(self, name: str) -> None:
        self._written.pop(clean_name(name), None)

    def outputs(self) -> list[tuple[str, str]]:
        """What post-processing left behind: ``(name, local path)``, in write order."""
        return list(self._written.items())

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
