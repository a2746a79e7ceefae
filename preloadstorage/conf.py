"""preloadstorage's own options, registered the way django-storages registers its own.

Each option is a lowercase ``STORAGES[alias]["OPTIONS"]`` key (or a class attribute of
a subclass), with one global fallback setting ``PRELOADSTORAGE_<NAME>``. Values are
checked when the storage is created, so a typo fails at start-up with the option's
name, not halfway through a deploy.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from storages.utils import setting

__all__ = [
    "MANIFEST_OPTIONS",
    "OPTIONS",
    "Option",
    "check_option_names",
    "check_option_values",
    "default_settings",
]


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    kind: type | tuple[type, ...]
    valid: Callable[[Any], bool]
    expected: str
    doc: str
    #: The storage class attribute listing the values a backend supports, when not
    #: every backend supports every valid value (e.g. ``preload_transports``).
    backends: str | None = None

    @property
    def global_setting(self) -> str:
        return f"PRELOADSTORAGE_{self.name.upper()}"


OPTIONS: tuple[Option, ...] = (
    Option(
        "max_workers",
        16,
        int,
        lambda v: v >= 1,
        "a positive integer",
        "Uploads (and delete batches) in flight at once during collectstatic.",
    ),
    Option(
        "max_attempts",
        10,
        int,
        lambda v: v >= 1,
        "a positive integer",
        "Attempts per request on transient errors (throttling, 5xx, resets), with the "
        "client library's own backoff.",
    ),
    Option(
        "summary",
        True,
        bool,
        lambda v: True,
        "True or False",
        "Print one line per run: uploaded, unchanged, deleted, requests by type, seconds.",
    ),
    Option(
        "report_path",
        None,
        (str, type(None)),
        lambda v: v is None or bool(v),
        "a file path or None",
        "Write a JSON report of each run (uploaded, updated, deleted, unchanged, failed).",
    ),
    Option(
        "hashed_cache_control",
        None,
        (str, type(None)),
        lambda v: True,
        "a Cache-Control value or None",
        "Cache-Control of content-addressed (hashed) names, overriding object parameters.",
    ),
    Option(
        "unhashed_cache_control",
        None,
        (str, type(None)),
        lambda v: True,
        "a Cache-Control value or None",
        "Cache-Control of every other name (originals, the manifest), overriding too.",
    ),
    Option(
        "progress_interval",
        5.0,
        (int, float),
        lambda v: v >= 0,
        "a number of seconds >= 0",
        "While uploads are pending, print progress every this many seconds (0: never).",
    ),
    Option(
        "transport",
        "boto3",
        str,
        lambda v: v in ("boto3", "crt"),
        "'boto3' or 'crt'",
        "S3 classes: send single-request uploads through the AWS Common Runtime ('crt', "
        "needs the 'crt' extra) instead of boto3.",
        backends="preload_transports",
    ),
)


#: Options of the manifest classes only (``LocalManifestMixin`` registers them).
MANIFEST_OPTIONS: tuple[Option, ...] = (
    Option(
        "keep_releases",
        None,
        (int, type(None)),
        lambda v: v is None or v >= 0,
        "an integer >= 0 or None",
        "Manifest classes: keep the objects of this many previous releases, prune older.",
    ),
    Option(
        "keep_only_hashed_files",
        False,
        bool,
        lambda v: True,
        "True or False",
        "Manifest classes: upload only hashed copies (and the manifest), not originals.",
    ),
)


def default_settings(options: Iterable[Option] = OPTIONS) -> dict[str, Any]:
    """The options' values from ``PRELOADSTORAGE_*`` settings, or their defaults."""
    return {opt.name: setting(opt.global_setting, opt.default) for opt in options}


def check_option_names(cls: type, given: Iterable[str], known: Iterable[str]) -> None:
    """Reject unknown OPTIONS keys, suggesting the closest known one."""
    known = sorted(known)
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            if name in {opt.name for opt in MANIFEST_OPTIONS}:
                hint = (
                    " It is an option of the manifest classes (e.g. the "
                    "Preloading...ManifestStorage of this backend): only a manifest says "
                    "which names are hashed."
                )
            raise ImproperlyConfigured(
                f"Unknown option '{name}' for {cls.__name__} in STORAGES[...]['OPTIONS']."
                f"{hint} Known options: {', '.join(known)}."
            )


def check_option_values(storage: Any, options: Iterable[Option] = OPTIONS) -> None:
    """Reject ill-typed values of preloadstorage's own options (or of ``options``:
    a backend's own, e.g. the S3 classes' CloudFront options)."""
    for opt in options:
        value = getattr(storage, opt.name)
        # bool is an int subclass: max_workers=True is a typo, not 1 worker.
        bool_mismatch = isinstance(value, bool) and opt.kind is not bool
        if bool_mismatch or not isinstance(value, opt.kind) or not opt.valid(value):
            raise ImproperlyConfigured(
                f"{type(storage).__name__}: option '{opt.name}' must be {opt.expected}, "
                f"got {value!r}. Fix STORAGES[...]['OPTIONS']['{opt.name}'] or the "
                f"{opt.global_setting} setting."
            )
        supported = getattr(storage, opt.backends, (opt.default,)) if opt.backends else ()
        if opt.backends and value not in supported:
            raise ImproperlyConfigured(
                f"{type(storage).__name__}: option '{opt.name}' = {value!r} is not "
                f"available on this backend ({opt.doc}). Fix "
                f"STORAGES[...]['OPTIONS']['{opt.name}'] or the {opt.global_setting} setting."
            )
