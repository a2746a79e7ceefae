"""What ``preloadstorage.backends.gcloud`` says: error explanations and request names."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import requests
from google.api_core import exceptions as api_exceptions
from google.auth import exceptions as auth_exceptions

from ..contract import ListingDenied
from ..errors import PreloadError, describe

__all__ = ["explain", "operation"]


def explain(
    exc: BaseException, action: str, where: str, bucket: str, endpoint: Callable[[], str]
) -> BaseException:
    """The error a user can act on, for a client error raised trying to ``action``
    ``where`` (``endpoint()`` names the server; it may build the client)."""
    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return PreloadError(
            "No Google Cloud credentials found: set the credentials option "
            "(GS_CREDENTIALS), GOOGLE_APPLICATION_CREDENTIALS, or run where Application "
            "Default Credentials exist; for an emulator set STORAGE_EMULATOR_HOST."
        )
    server = endpoint()
    if isinstance(exc, (auth_exceptions.RefreshError, api_exceptions.Unauthorized)):
        return PreloadError(
            f"{server} rejected the credentials when trying to {action} {where} "
            f"({describe(exc)}): check the credentials option (GS_CREDENTIALS) or "
            "GOOGLE_APPLICATION_CREDENTIALS."
        )
    if isinstance(exc, (requests.ConnectionError, auth_exceptions.TransportError)):
        return PreloadError(
            f"Could not reach {server} to {action} {where} ({describe(exc)}). Check "
            "STORAGE_EMULATOR_HOST (for an emulator) and the network; GS_CUSTOM_ENDPOINT "
            "(custom_endpoint) only changes the URLs {% static %} renders."
        )
    if isinstance(exc, api_exceptions.NotFound) and action == "list":
        return PreloadError(
            f"The bucket '{bucket}' does not exist at {server}: create it, "
            "or fix bucket_name (GS_BUCKET_NAME)."
        )
    if isinstance(exc, api_exceptions.Forbidden) and action == "list":
        return ListingDenied(
            f"Listing {where} was denied ({describe(exc)}). Grant storage.objects.list "
            f"on gs://{bucket} (e.g. roles/storage.objectViewer) to make "
            "collectstatic fast."
        )
    return PreloadError(f"Could not {action} {where}: {describe(exc)}")


def operation(method: str, url: str) -> str:
    """The JSON API method a request calls: "objects.list", "objects.insert"..."""
    parts = urlsplit(url)
    path = parts.path.strip("/").split("/")
    if path[0] == "batch":
        return "batch"
    if path[0] == "upload":
        return "objects.upload_chunk" if method == "PUT" else "objects.insert"
    if path[0] == "download" or "alt=media" in parts.query:
        return "objects.download"
    rest = path[path.index("b") + 1 :] if "b" in path else []  # after /storage/v1/b
    verbs = {"GET": "get", "DELETE": "delete", "PATCH": "patch", "PUT": "update"}
    if len(rest) > 3:
        return f"objects.{rest[3]}"  # compose, rewriteTo, copyTo
    if len(rest) == 3:
        return f"objects.{verbs.get(method, method.lower())}"
    if len(rest) == 2:
        return "objects.list" if method == "GET" else "objects.insert"
    if rest:
        return f"buckets.{verbs.get(method, method.lower())}"
    return "buckets.insert" if method == "POST" else "buckets.list"
