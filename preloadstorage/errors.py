"""Errors that say what went wrong, where, and how to fix it.

They subclass ``CommandError`` because they are raised inside a collectstatic run (the
only place the preloading machinery is active): the command then prints one line and
exits non-zero instead of dumping a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandError

from .contract import ListingDenied  # re-exported: it used to live here

__all__ = [
    "ListingDenied",
    "PreloadError",
    "SyncFailed",
    "check_source",
    "describe",
    "redact",
    "unreadable_source",
]


class PreloadError(CommandError):
    """The storage cannot be used as configured (missing bucket, bad credentials...)."""


class SyncFailed(CommandError):
    """Some uploads or deletes failed for good; the live manifest was left alone."""

    def __init__(
        self, action: str, where: str, failures: Sequence[tuple[str, BaseException]]
    ) -> None:
        self.failures = list(failures)
        # Group by cause: a refused write fails every file the same way, and one line
        # per cause (with a few names) says more than hundreds of identical lines.
        causes: dict[str, list[str]] = {}
        for name, exc in self.failures:
            causes.setdefault(describe(exc), []).append(name)
        lines = []
        for cause, names in sorted(causes.items(), key=lambda item: -len(item[1])):
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            lines.append(f"  {cause}: {shown}")
        super().__init__(
            f"{len(self.failures)} file(s) could not be {action} {where}; nothing that the "
            "live manifest names was changed or deleted, and re-running collectstatic "
            "once the cause is fixed sends only what is missing:\n" + "\n".join(lines)
        )

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.failures]


# Signed URLs and SAS tokens can end up in SDK error texts; never print their secrets.
_SECRET_RE = re.compile(
    r"((?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|X-Goog-Signature|"
    r"X-Goog-Credential|Signature|sig|AccountKey|SharedAccessSignature)=)[^&;\s'\"]+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with signatures, credentials and account keys replaced."""
    return _SECRET_RE.sub(r"\1<redacted>", text)


def describe(exc: BaseException) -> str:
    """One line for an exception, without traceback and without secrets."""
    lines = str(exc).strip().splitlines()
    text = redact(lines[0]) if lines else ""
    # Azure keeps the service's error code apart from the message.
    code = getattr(exc, "error_code", None)
    if code and str(code) not in text:
        text = f"{code}: {text}" if text else str(code)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_source(storage: Any, path: str) -> None:
    """Fail with the file's name when a source cannot be read (before it is needed)."""
    try:
        local = storage.path(path)
    except NotImplementedError:
        return
    try:
        if not os.access(local, os.R_OK) or not os.path.isfile(local):
            open(local, "rb").close()  # raises the precise error (vanished, denied)
    except OSError as exc:
        raise unreadable_source(storage, path, exc) from exc


def unreadable_source(storage: Any, path: str, exc: OSError) -> PreloadError:
    try:
        where = storage.path(path)
    except NotImplementedError:
        where = path
    reason = exc.strerror or type(exc).__name__
    return PreloadError(
        f"Cannot read the static file '{path}' ({where}): {reason}. Fix its permissions "
        "(it must be readable by the user running collectstatic), or restore or remove "
        "it, and re-run; nothing was deleted, and the live manifest is unchanged."
    )
