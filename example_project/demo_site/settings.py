"""Settings for the preloadstorage example project.

A small but real Django site: admin + three template pages whose CSS, JS,
images and fonts are served through ``{% static %}``.  The interesting part is
the ``STORAGES`` block at the bottom: the environment variable
``EXAMPLE_STORAGE`` picks the staticfiles backend so the very same
``manage.py collectstatic`` can run against the local disk, S3, GCS or Azure,
with django-storages' stock manifest storages or preloadstorage's.

Environment variables (empty counts as unset):

    EXAMPLE_STORAGE        local | stock-s3 | s3 | stock-gcs | gcs |
                           stock-azure | azure                 (local)
    EXAMPLE_STATIC_ROOT    STATIC_ROOT       (<tmp>/preloadstorage-example-static)
    EXAMPLE_DB_PATH        sqlite database   (<tmp>/preloadstorage-example.sqlite3)
    EXAMPLE_DEBUG          1/true/yes/on for DEBUG             (off)
    EXAMPLE_SECRET_KEY     SECRET_KEY                          (an insecure demo key)
    EXAMPLE_MAX_WORKERS    "max_workers" OPTION, preloading backends only (unset)
    EXAMPLE_PRELOAD_OPTIONS  a JSON object merged into the OPTIONS of the
                           preloading backends only, e.g.
                           {"keep_only_hashed_files": true} (unset: nothing)
    EXAMPLE_CACHE_CONTROL  Cache-Control of every stored object: S3
                           object_parameters["CacheControl"], GCS
                           object_parameters["cache_control"], Azure
                           cache_control   (max-age=31536000, public on S3;
                                            public, max-age=31536000 on GCS/Azure)
    EXAMPLE_EXTRA_STATIC_DIRS  more STATICFILES_DIRS, separated by os.pathsep
                           (":" on Linux); each entry is PATH or PREFIX=PATH
                           (unset). benchmarks/tree.py installs the "large
                           tree" (Wagtail, DRF, debug-toolbar, Bootstrap,
                           Font Awesome) and prints the value to use.
    EXAMPLE_S3_ENDPOINT    endpoint_url, e.g. http://127.0.0.1:9000 (unset: AWS)
    EXAMPLE_S3_BUCKET      bucket_name                         (static)
    EXAMPLE_S3_LOCATION    location (key prefix)               (static)
    EXAMPLE_S3_CHECKSUMS   "when_required" to send only the checksums the
                           server requires (R2/B2/older MinIO)  (unset: boto3 default)
    AWS_ACCESS_KEY_ID      access_key                          (test)
    AWS_SECRET_ACCESS_KEY  secret_key                          (test)
    EXAMPLE_GCS_BUCKET     bucket_name                         (static)
    EXAMPLE_GCS_LOCATION   location                            (static)
    EXAMPLE_GCS_PROJECT_ID project_id                          (test)
    EXAMPLE_AZURE_CONNECTION_STRING  connection_string
                           (UseDevelopmentStorage=true, i.e. a local Azurite)
    EXAMPLE_AZURE_CONTAINER          azure_container           (static)
    EXAMPLE_AZURE_LOCATION           location                  (static)
"""

import json
import os
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
_TMP_DIR = Path(tempfile.gettempdir())


def _env(name, default=None):
    """Return the environment variable ``name``; empty or unset gives ``default``."""
    value = os.environ.get(name, "")
    return value if value != "" else default


def _env_flag(name):
    return _env(name, "0").strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = _env(
    "EXAMPLE_SECRET_KEY",
    "django-insecure-preloadstorage-example-project-not-for-production",
)
DEBUG = _env_flag("EXAMPLE_DEBUG")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "pages.apps.PagesConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The database is only needed by the admin; the demo pages never query it.
# It lives outside the repository.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _env("EXAMPLE_DB_PATH", str(_TMP_DIR / "preloadstorage-example.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------
#
# Two finders are in play: AppDirectoriesFinder collects pages/static/ (and
# django.contrib.admin's files), FileSystemFinder collects assets/ below.
STATIC_URL = "/static/"
STATIC_ROOT = _env("EXAMPLE_STATIC_ROOT", str(_TMP_DIR / "preloadstorage-example-static"))
STATICFILES_DIRS = [str(BASE_DIR / "assets")]


def _extra_static_dirs(value):
    """``PATH`` or ``PREFIX=PATH`` entries, separated by os.pathsep."""
    dirs = []
    for entry in value.split(os.pathsep):
        entry = entry.strip()
        if not entry:
            continue
        prefix, sep, path = entry.partition("=")
        if not sep or os.sep in prefix:
            prefix, path = "", entry
        if not Path(path).is_dir():
            raise ImproperlyConfigured(
                f"EXAMPLE_EXTRA_STATIC_DIRS: {path!r} is not a directory "
                "(python benchmarks/tree.py installs the large tree and prints the value)."
            )
        dirs.append((prefix, path) if prefix else path)
    return dirs


# Opt-in: a larger real tree of third-party assets (see benchmarks/tree.py).
STATICFILES_DIRS += _extra_static_dirs(_env("EXAMPLE_EXTRA_STATIC_DIRS", ""))
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
]

MEDIA_URL = "/media/"
MEDIA_ROOT = str(_TMP_DIR / "preloadstorage-example-media")

# --- STORAGES ----------------------------------------------------------------
#
# The whole point of preloadstorage is a one-line change.  If your settings say
#
#     STORAGES = {
#         "staticfiles": {
#             "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
#             "OPTIONS": {...},
#         },
#     }
#
# replace only the BACKEND string (OPTIONS stay as they are):
#
#     "BACKEND": "preloadstorage.backends.s3.PreloadingS3ManifestStorage",
#
# and keep running the stock `python manage.py collectstatic`.
#
# Recommended OPTIONS (all standard django-storages options):
#
#   S3:    "BACKEND": "preloadstorage.backends.s3.PreloadingS3ManifestStorage",
#          "OPTIONS": {
#              "bucket_name": "my-bucket",
#              "location": "static",
#              "region_name": "eu-west-1",
#              "querystring_auth": False,
#              "object_parameters": {"CacheControl": "max-age=31536000, public"},
#          }
#
#   GCS:   "BACKEND": "preloadstorage.backends.gcloud.PreloadingGoogleCloudManifestStorage",
#          "OPTIONS": {
#              "bucket_name": "my-bucket",
#              "location": "static",
#              "project_id": "my-project",
#              "querystring_auth": False,
#              "object_parameters": {"cache_control": "public, max-age=31536000"},
#          }
#          (For a local emulator such as fake-gcs-server, set the
#          STORAGE_EMULATOR_HOST environment variable, e.g.
#          STORAGE_EMULATOR_HOST=http://127.0.0.1:4443.  It is read by the
#          google-cloud-storage client itself, which then also uses anonymous
#          credentials; nothing in these settings has to change.)
#
#   Azure: "BACKEND": "preloadstorage.backends.azure_storage.PreloadingAzureManifestStorage",
#          "OPTIONS": {
#              "connection_string": "...",   # or account_name + account_key
#              "azure_container": "static",
#              "location": "static",
#              "overwrite_files": True,
#              "cache_control": "public, max-age=31536000",
#          }
#
# S3-compatible providers (Cloudflare R2, Backblaze B2, MinIO-style servers):
# some of them reject the CRC checksum headers boto3 >= 1.36 sends by default.
# Pass a client config that only sends checksums when an operation requires
# them.  A client_config replaces django-storages' own botocore Config, so
# repeat the addressing style (and signature_version/proxies if you set them)
# inside it:
#
#     import botocore.config
#     "client_config": botocore.config.Config(
#         request_checksum_calculation="when_required",
#         response_checksum_validation="when_required",
#         s3={"addressing_style": "path"},
#     ),
#
# (EXAMPLE_S3_CHECKSUMS=when_required does exactly that below.)
#
# preloadstorage's own knobs are lowercase OPTIONS keys next to the
# django-storages ones, e.g. "max_workers": 16; each has a global settings
# fallback named PRELOADSTORAGE_<KEY> (PRELOADSTORAGE_MAX_WORKERS = 16, ...).

STATICFILES_BACKENDS = {
    "local": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage",
    "stock-s3": "storages.backends.s3.S3ManifestStaticStorage",
    "s3": "preloadstorage.backends.s3.PreloadingS3ManifestStorage",
    "stock-gcs": "demo_site.storages.StockGoogleCloudManifestStorage",
    "gcs": "preloadstorage.backends.gcloud.PreloadingGoogleCloudManifestStorage",
    "stock-azure": "demo_site.storages.StockAzureManifestStorage",
    "azure": "preloadstorage.backends.azure_storage.PreloadingAzureManifestStorage",
}
PRELOADING_BACKENDS = {"s3", "gcs", "azure"}

EXAMPLE_STORAGE = _env("EXAMPLE_STORAGE", "local").strip().lower()
if EXAMPLE_STORAGE not in STATICFILES_BACKENDS:
    raise ImproperlyConfigured(
        f"EXAMPLE_STORAGE={EXAMPLE_STORAGE!r} is not one of {', '.join(STATICFILES_BACKENDS)}."
    )


def _s3_options():
    endpoint = _env("EXAMPLE_S3_ENDPOINT")
    options = {
        "bucket_name": _env("EXAMPLE_S3_BUCKET", "static"),
        "location": _env("EXAMPLE_S3_LOCATION", "static"),
        "access_key": _env("AWS_ACCESS_KEY_ID", "test"),
        "secret_key": _env("AWS_SECRET_ACCESS_KEY", "test"),
        "region_name": "us-east-1",
        "querystring_auth": False,
        "object_parameters": {
            "CacheControl": _env("EXAMPLE_CACHE_CONTROL", "max-age=31536000, public")
        },
    }
    if _env("AWS_SESSION_TOKEN"):
        options["session_token"] = _env("AWS_SESSION_TOKEN")
    if endpoint:
        options["endpoint_url"] = endpoint
        options["addressing_style"] = "path"
    checksums = _env("EXAMPLE_S3_CHECKSUMS")
    if checksums:
        import botocore.config

        options["client_config"] = botocore.config.Config(
            request_checksum_calculation=checksums,
            response_checksum_validation=checksums,
            s3={"addressing_style": options.get("addressing_style", "auto")},
        )
    return options


def _gcs_options():
    return {
        "bucket_name": _env("EXAMPLE_GCS_BUCKET", "static"),
        "location": _env("EXAMPLE_GCS_LOCATION", "static"),
        "project_id": _env("EXAMPLE_GCS_PROJECT_ID", "test"),
        "querystring_auth": False,
        "object_parameters": {
            "cache_control": _env("EXAMPLE_CACHE_CONTROL", "public, max-age=31536000")
        },
    }


def _azure_options():
    return {
        "connection_string": _env("EXAMPLE_AZURE_CONNECTION_STRING", "UseDevelopmentStorage=true"),
        "azure_container": _env("EXAMPLE_AZURE_CONTAINER", "static"),
        "location": _env("EXAMPLE_AZURE_LOCATION", "static"),
        "overwrite_files": True,
        "cache_control": _env("EXAMPLE_CACHE_CONTROL", "public, max-age=31536000"),
    }


def _staticfiles_options(kind):
    if kind.endswith("s3"):
        options = _s3_options()
    elif kind.endswith("gcs"):
        options = _gcs_options()
    elif kind.endswith("azure"):
        options = _azure_options()
    else:
        # ManifestStaticFilesStorage writes to STATIC_ROOT.
        options = {}
    max_workers = _env("EXAMPLE_MAX_WORKERS")
    if max_workers and kind in PRELOADING_BACKENDS:
        options["max_workers"] = int(max_workers)
    extra = _env("EXAMPLE_PRELOAD_OPTIONS")
    if extra and kind in PRELOADING_BACKENDS:
        options.update(_preload_options(extra))
    return options


def _preload_options(value):
    """EXAMPLE_PRELOAD_OPTIONS: a JSON object of preloadstorage OPTIONS."""
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"EXAMPLE_PRELOAD_OPTIONS is not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ImproperlyConfigured("EXAMPLE_PRELOAD_OPTIONS must be a JSON object.")
    return parsed


STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
    },
    "staticfiles": {
        "BACKEND": STATICFILES_BACKENDS[EXAMPLE_STORAGE],
        "OPTIONS": _staticfiles_options(EXAMPLE_STORAGE),
    },
}
