"""What the last successful run wrote: one small JSON object beside the collection.

Some facts cannot be read back cheaply: an S3 listing carries no metadata, no listing
carries a GCS predefined ACL. So each run that changes anything records them in one
object, :data:`STATE_NAME`, under the storage's location, and the next run reads it
with one GET (only when the listing shows it exists). It is never part of the
collection: the cache hides it from ``exists()``/``listdir()``, so ``--clear`` never
deletes it, and ``staticfiles.json`` stays byte-identical to Django's.

Records are advisory. A key without a record, or an object modified after the record
was written (another tool wrote it), is "unknown", and unknown means "apply once".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["STATE_NAME", "RunState"]

#: The state object's name, relative to the storage's location.
STATE_NAME = "preloadstorage-state.json"
_VERSION = 1
# Server clocks and ours differ a little; a write this close after the record is ours.
_SKEW = timedelta(seconds=60)


class RunState:
    """The records of the last run, and the records this run will leave."""

    def __init__(self, data: Mapping[str, Any] | None = None, prefix: str = "") -> None:
        data = data or {}
        self.prefix = prefix
        written = data.get("written")
        self.written: datetime | None = datetime.fromisoformat(written) if written else None
        # On disk: digest -> [relative keys] (most objects share a few metadata sets).
        self._metadata: dict[str, str] = {
            prefix + rel: digest
            for digest, rels in dict(data.get("metadata", {})).items()
            for rel in rels
        }
        #: Other sections (later features), kept as they were read.
        self.sections: dict[str, Any] = {
            k: v for k, v in data.items() if k not in ("version", "written", "metadata")
        }
        self._original = self._snapshot()
        self._rewrite = False

    @classmethod
    def parse(cls, raw: bytes | None, prefix: str) -> RunState:
        """The state in ``raw``; an empty state when missing, unreadable or too new."""
        if not raw:
            return cls(prefix=prefix)
        try:
            data = json.loads(raw)
        except ValueError:
            return cls(prefix=prefix)
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return cls(prefix=prefix)
        try:
            return cls(data, prefix)
        except (TypeError, ValueError, AttributeError):
            return cls(prefix=prefix)

    # -- metadata records ---------------------------------------------------------------
    def metadata_digest(self, key: str, modified: datetime) -> str | None:
        """The recorded metadata digest of ``key``, or ``None`` when unknown."""
        digest = self._metadata.get(key)
        if digest is None or self.written is None:
            return None
        # Written after our record: by another tool, or by hand. Unknown.
        if modified.tzinfo is not None and modified > self.written + _SKEW:
            return None
        return digest

    def record_metadata(self, key: str, digest: str, written: bool = False) -> None:
        """Record ``key``'s digest; ``written``: this run wrote the object, so its
        modification time is newer than the record on the server, which must be
        rewritten (else the object reads as "modified since" on every later run)."""
        self._metadata[key] = digest
        if written:
            self._rewrite = True

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._metadata.pop(key, None)

    def keep_only(self, live: Iterable[str]) -> None:
        """Drop records of keys that are no longer in the bucket."""
        live = set(live)
        for key in [k for k in self._metadata if k not in live]:
            del self._metadata[key]

    # -- writing ----------------------------------------------------------------------------
    def _snapshot(self) -> str:
        return json.dumps(
            {"metadata": sorted(self._metadata.items()), **self.sections},
            sort_keys=True,
            default=str,
        )

    @property
    def changed(self) -> bool:
        return self._rewrite or self._snapshot() != self._original

    def dump(self) -> bytes:
        """The state as written now (stamped with the current time)."""
        self.written = datetime.now(timezone.utc)
        grouped: dict[str, list[str]] = {}
        for key, digest in sorted(self._metadata.items()):
            rel = key[len(self.prefix) :] if key.startswith(self.prefix) else key
            grouped.setdefault(digest, []).append(rel)
        data = {
            "version": _VERSION,
            "written": self.written.isoformat(),
            "metadata": grouped,
            **self.sections,
        }
        self._original = self._snapshot()
        self._rewrite = False
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
