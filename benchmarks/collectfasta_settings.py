"""example_project's settings (EXAMPLE_STORAGE=stock-s3) plus Collectfasta, for bench.py.

Collectfasta's documented set-up for ``S3ManifestStaticStorage``: the app before
``django.contrib.staticfiles`` and a two-pass strategy (its ``Boto3Strategy`` crashes
on CSS ``url()`` with manifest storage). Uploads run in ``COLLECTFASTA_THREADS``
threads, as many as preloadstorage's ``max_workers``. Its cache is a fresh in-process
LocMemCache (thread-safe: it locks), like a CI job that starts without one, sized so
that it never culls.
"""

import os

from demo_site.settings import *  # noqa: F403
from demo_site.settings import INSTALLED_APPS as _APPS

INSTALLED_APPS = ["collectfasta", *_APPS]
COLLECTFASTA_STRATEGY = os.environ.get(
    "BENCH_COLLECTFASTA_STRATEGY",
    "collectfasta.strategies.boto3.Boto3ManifestFileSystemStrategy",
)
COLLECTFASTA_THREADS = int(os.environ.get("BENCH_COLLECTFASTA_THREADS", "16"))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
