"""Azure client plumbing for ``azure_storage``: the retry policy, the connection pool,
request names for the summary, and client errors turned into messages a user can act on
(never with secrets)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core import exceptions as az
from azure.storage.blob import ExponentialRetry
from requests import Session
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..contract import ListingDenied
from ..errors import PreloadError, describe

__all__ = ["ShortRetry", "counting_hook", "explain", "operation", "pool_options", "refused"]


# -- private SDK attributes -------------------------------------------------------------
# What azure-storage-blob does not document; each is pinned by a test in
# tests/test_azure_storage.py that fails loudly when a release moves it.
def _retry_count(settings: Mapping[str, Any]) -> int:
    """Retries made so far, from the state ``StorageRetryPolicy`` hands its backoff."""
    return int(settings["count"])


def _session_option(session: Session) -> dict[str, Any]:
    """Client keyword that reaches ``RequestsTransport(**kwargs)`` in the SDK's
    pipeline builder: a pooled session without building the transport ourselves."""
    return {"session": session}


# -- retries and the pool ---------------------------------------------------------------
class ShortRetry(ExponentialRetry):
    """The SDK's retry rules with waits from 0.25 s doubling up to 8 s (SDK: 15, 18, 24 s).

    Built from ``max_attempts``: the SDK counts retries, so ``retry_total`` is one less.
    """

    def __init__(self, max_attempts: int) -> None:
        n = max_attempts - 1
        super().__init__(retry_total=n, retry_connect=n, retry_read=n, retry_status=n)

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        wait = min(8.0, 0.25 * 2 ** _retry_count(settings))
        return float(wait * random.uniform(0.5, 1.0))


def pool_options(pool_size: int) -> dict[str, Any]:
    """Client options for a requests session as azure-core builds one, with a bigger
    connection pool (requests keeps 10 connections per host)."""
    session = Session()
    # No retries in requests (as azure-core): the SDK's retry policy does the retrying.
    no_retries = Retry(total=False, redirect=False, raise_on_status=False)
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(pool_maxsize=pool_size, max_retries=no_retries))
    return _session_option(session)


# -- request names ----------------------------------------------------------------------
def counting_hook(on_request: Callable[[str], None], chained: Any) -> Callable[[Any], None]:
    """A ``raw_request_hook`` that names each request to ``on_request``, then ``chained``."""

    def count(request: Any) -> None:
        http = request.http_request
        on_request(operation(http.method, http.url, http.headers))
        if chained is not None:
            chained(request)

    return count


_BLOB_COMPS = {
    ("PUT", "block"): "PutBlock",
    ("PUT", "blocklist"): "PutBlockList",
    ("PUT", "properties"): "SetBlobProperties",  # set_http_headers
    ("PUT", "metadata"): "SetBlobMetadata",
    ("GET", "metadata"): "GetBlobMetadata",
    ("HEAD", "metadata"): "GetBlobMetadata",
}


def operation(method: str, url: str, headers: Any) -> str:
    """The Blob REST operation a request calls: "ListBlobs", "PutBlob"..."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    comp = query.get("comp", [""])[0]
    if comp == "batch":
        return "BlobBatch"
    if query.get("restype", [""])[0] == "container":
        if comp == "list":
            return "ListBlobs"
        verbs = {"PUT": "CreateContainer", "DELETE": "DeleteContainer"}
        return verbs.get(method, "GetContainerProperties") if not comp else f"Container:{comp}"
    if comp:
        return _BLOB_COMPS.get((method, comp), f"Blob:{comp}")
    if method == "PUT":  # Copy Blob sends no bytes
        return "CopyBlob" if "x-ms-copy-source" in headers else "PutBlob"
    return {"GET": "GetBlob", "HEAD": "GetBlobProperties", "DELETE": "DeleteBlob"}.get(
        method, f"Other:{method}"
    )


# -- errors -------------------------------------------------------------------------------
def explain(adapter: Any, exc: BaseException, action: str) -> BaseException:
    """What ``adapter`` (an ``AzureAdapter``) says of ``exc`` raised trying to ``action``."""
    if not isinstance(exc, (az.AzureError, ValueError)):
        return exc
    where, endpoint, code = adapter.where(), _endpoint(adapter.storage), code_of(exc)
    if isinstance(exc, az.ServiceRequestError):  # refused, DNS, TLS: nothing was answered
        return PreloadError(
            f"Could not reach {endpoint} to {action} {where} ({describe(exc)}). Check "
            "the BlobEndpoint of connection_string (AZURE_CONNECTION_STRING), or "
            "account_name/endpoint_suffix/azure_ssl (AZURE_ACCOUNT_NAME / "
            "AZURE_ENDPOINT_SUFFIX / AZURE_SSL), and the network."
        )
    if refused(exc):
        return PreloadError(
            f"{endpoint} refused the credentials ({code}) when trying to {action} "
            f"{where}: check account_key (AZURE_ACCOUNT_KEY), sas_token (AZURE_SAS_TOKEN), "
            "token_credential or connection_string (AZURE_CONNECTION_STRING), and the "
            "account's network rules."
        )
    if isinstance(exc, az.ResourceNotFoundError) and code == "ContainerNotFound":
        return PreloadError(
            f"The container '{adapter.storage.azure_container}' does not exist at "
            f"{endpoint}: create it, or fix azure_container (AZURE_CONTAINER)."
        )
    if action == "list" and isinstance(exc, az.HttpResponseError) and exc.status_code == 403:
        return ListingDenied(
            f"Listing {where} was denied ({code}). Allow listing the container (the 'l' "
            "permission of a SAS, or a role such as Storage Blob Data Reader) to make "
            "collectstatic fast."
        )
    hint = " (check connection_string, AZURE_CONNECTION_STRING)" * isinstance(exc, ValueError)
    return PreloadError(f"Could not {action} {where}: {describe(exc)}{hint}")


def _endpoint(storage: Any) -> str:
    try:  # never the query string: it may hold a SAS token
        return str(urlsplit(storage.service_client.url)._replace(query="").geturl()).rstrip("/")
    except Exception:  # the client itself could not be built (malformed settings)
        return "Azure Blob Storage"


def code_of(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)  # a StorageErrorCode, a str enum
    return str(getattr(code, "value", code) or getattr(exc, "status_code", None) or "")


def refused(exc: BaseException) -> bool:
    """Bad key or SAS (Azurite says AuthorizationFailure where Azure says AuthenticationFailed)."""
    return isinstance(exc, az.ClientAuthenticationError) or code_of(exc) == "AuthorizationFailure"
