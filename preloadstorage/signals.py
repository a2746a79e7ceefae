"""``sync_finished``: what one collectstatic run did to the bucket, for your code.

Sent once per run by every preloading storage that took part: by the command's own
storage after its barrier, on success once the new manifest is live and deletes are
done, on failure once the run stopped (``result.failed`` then names the files, and the
previous manifest is still live); by a storage without a barrier (``--no-post-process``,
a separate ``manifest_storage``) when its run ends. Receivers get ``sender`` (the
storage class), ``storage`` and ``result`` (a :class:`~preloadstorage.signals.SyncResult`)::

    from django.dispatch import receiver
    from preloadstorage.signals import sync_finished

    @receiver(sync_finished)
    def purge_cdn(sender, storage, result, **kwargs):
        paths = [name for name in result.uploaded + result.updated if not result.is_hashed(name)]
        ...

A receiver that raises makes the command fail (after the bucket is already complete;
without a barrier it can only be reported as a warning): catch what you can tolerate.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.dispatch import Signal

__all__ = ["SyncResult", "sync_finished", "write_report"]

sync_finished = Signal()


@dataclass
class SyncResult:
    """What reached the bucket in one run; names are storage names (location excluded)."""

    where: str
    uploaded: list[str] = field(default_factory=list)
    #: Objects whose bytes were already there but whose metadata/ACL was rewritten.
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    #: Whether a name is content-addressed (a hashed name a manifest storage wrote).
    is_hashed: Callable[[str], bool] = field(default=lambda name: False, repr=False)

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "ok": self.ok,
            "uploaded": sorted(self.uploaded),
            "updated": sorted(self.updated),
            "deleted": sorted(self.deleted),
            "unchanged": self.unchanged,
            "failed": sorted(self.failed),
            "requests": dict(sorted(self.requests.items())),
            "seconds": round(self.seconds, 3),
        }


def write_report(path: str, result: SyncResult) -> None:
    """Write ``result`` as JSON to ``path`` atomically (a CI step may read it at once)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".preloadstorage-report-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(result.as_dict(), out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
