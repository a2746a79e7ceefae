"""PutObject through the AWS Common Runtime: the S3 classes' opt-in ``transport="crt"``.

What differs from the boto3 path (``client.put_object`` per object):

- botocore builds the request once per distinct set of write parameters, not once per
  object: a ``PutObject`` of a sentinel key runs through the client's whole pipeline
  (validation, customisations, endpoint rules and addressing style, the checksum
  choice) and is captured at ``before-send``, never sent. Its headers less the
  per-request ones (signature, date, payload hash, checksum value, Content-MD5,
  Content-Length, Expect, invocation ids) are the template; each object's request is
  the template with its own key (encoded exactly as botocore encodes ``{Key+}``), body
  and Content-Length.
- awscrt's ``S3Client`` sends it, in C: HTTP/1.1 on its own connection pool (at most
  ``max_workers`` connections), SigV4 signing (``x-amz-content-sha256:
  UNSIGNED-PAYLOAD``; the payload is covered by the checksum), the checksum algorithm
  botocore chose (CRC32 by default since boto3 1.36, none with
  ``request_checksum_calculation="when_required"``), in a header over http and a
  trailer over https as botocore does, and retries in CRT's standard mode:
  ``max_attempts`` attempts in all (or the ``client_config``'s own ``retries``),
  exponential backoff with full jitter.
- Failures raise what the boto3 path raises (``_s3_crt_errors``): a ``ClientError``
  parsed from the error response by botocore's own parser, or a ``BotoCoreError``
  (:class:`CrtConnectionError`, :class:`CrtRequestError`) when no response came, so
  ``_s3_errors.explain`` words them the same way.
- Each upload counts as one ``PutObject`` request (CRT's retries are not visible).

What still goes through boto3: bodies of ``multipart_threshold`` or 8 MiB (CRT's part
size) or more; SSE-C; caller-supplied Content-MD5 or checksum values; a checksum
algorithm CRT lacks; clients without credentials or not signing with SigV4; parameters
whose captured request is not a plain ``PUT`` of the sentinel key; every other
operation (listing, copies, deletes, reads).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.utils import percent_encode
from django.core.exceptions import ImproperlyConfigured

from ..contract import Upload
from ._s3_crt_errors import CrtConnectionError, CrtRequestError, translate

__all__ = ["CrtConnectionError", "CrtPutTransport", "CrtRequestError", "check_available"]

#: Bodies from this size on go through boto3: CRT would split them into parts.
PART_SIZE = 8 * 1024 * 1024
_SENTINEL = "preloadstorage-crt-template"
#: Headers that belong to one request, not to the object: dropped from the template.
_PER_REQUEST = frozenset(
    {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token",
     "content-md5", "content-length", "expect", "transfer-encoding", "x-amz-trailer",
     "x-amz-decoded-content-length", "amz-sdk-invocation-id", "amz-sdk-request"}
)  # fmt: skip
#: Parameters whose headers depend on the body, or that carry a secret: boto3 sends them.
_BOTO3_ONLY = frozenset(
    {"SSECustomerKey", "SSECustomerAlgorithm", "SSECustomerKeyMD5", "ContentMD5",
     "ChecksumCRC32", "ChecksumCRC32C", "ChecksumCRC64NVME", "ChecksumSHA1", "ChecksumSHA256"}
)  # fmt: skip
_capture = threading.local()


def check_available(storage: Any) -> None:
    """Fail at start-up, naming the option and the fix, when awscrt is missing or old."""
    try:
        from awscrt.s3 import S3RetryConfig, S3RetryMode  # noqa: F401  (awscrt >= 0.38.1)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{type(storage).__name__}: option 'transport' = 'crt' needs awscrt >= 0.38.1 "
            f'({exc}). Install it with: pip install "preloadstorage[crt]" (or set '
            "transport to 'boto3', the default, in STORAGES[...]['OPTIONS'] or "
            "PRELOADSTORAGE_TRANSPORT)."
        ) from exc


def capturing() -> bool:
    """Whether this thread is building a template (its request is never sent)."""
    return bool(getattr(_capture, "active", False))


@dataclass(frozen=True)
class _Template:
    path_prefix: str
    path_suffix: str
    headers: tuple[tuple[str, str], ...]
    checksum: Any  # awscrt.s3.S3ChecksumConfig or None


class _NoBody:
    def stream(self, **kwargs: Any) -> Any:
        return iter(())


def _short_circuit(request: Any, **kwargs: Any) -> AWSResponse | None:
    """``before-send`` handler: keep the template request and answer it locally."""
    if not capturing():
        return None
    _capture.request = (request.method, request.url, list(request.headers.items()))
    return AWSResponse(request.url, 200, HTTPHeaders(), _NoBody())


class CrtPutTransport:
    """Single-request uploads of one :class:`~preloadstorage.backends.s3.S3Adapter`."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        client = adapter.client
        self._lock = threading.Lock()
        self._s3: Any = None
        self._templates: dict[str, _Template | None] = {}
        self._endpoint = str(client.meta.endpoint_url)
        self._https = self._endpoint.startswith("https:")
        config = client.meta.config
        signed = config.signature_version in (None, "s3v4", "v4")
        self._credentials = client._get_credentials() if signed else None  # private: pinned
        retries = config.retries or {}  # S3PreloadMixin's max_attempts, or the user's own
        legacy = retries.get("max_attempts")  # botocore's: retries, the first one excluded
        total = retries.get("total_max_attempts") or (legacy + 1 if legacy is not None else None)
        self._attempts: int = total or adapter.storage.max_attempts
        client.meta.events.register_first(
            "before-send.s3.PutObject", _short_circuit, unique_id="preloadstorage-crt-template"
        )

    def put(self, upload: Upload) -> bool:
        """Upload through CRT and return True, or return False: boto3 must send it."""
        if upload.payload.size >= PART_SIZE or _BOTO3_ONLY & upload.params.keys():
            return False
        template = self._template(upload.params) if self._credentials is not None else None
        if template is None:
            return False
        from awscrt.exceptions import AwsCrtError
        from awscrt.http import HttpHeaders, HttpRequest
        from awscrt.s3 import S3RequestType

        data = upload.payload.read()
        headers = HttpHeaders(template.headers)
        headers.add("Content-Length", str(len(data)))
        path = template.path_prefix + percent_encode(upload.key, safe="/~") + template.path_suffix
        request = HttpRequest("PUT", path, headers, io.BytesIO(data))
        self.adapter.on_request("PutObject")
        sent = self._client().make_request(
            type=S3RequestType.PUT_OBJECT,
            request=request,
            checksum_config=template.checksum,
            multipart_upload_threshold=PART_SIZE,
        )
        try:
            sent.finished_future.result()  # waits without the GIL
        except AwsCrtError as exc:
            url = self._endpoint.rstrip("/") + path
            raise translate(exc, self.adapter.client, url, self._attempts) from exc
        return True

    # -- the template -----------------------------------------------------------------
    def _template(self, params: dict[str, Any]) -> _Template | None:
        key = repr(sorted(params.items()))
        if key not in self._templates:
            self._templates[key] = self._build_template(params)
        return self._templates[key]

    def _build_template(self, params: dict[str, Any]) -> _Template | None:
        adapter = self.adapter
        _capture.active, _capture.request = True, None
        try:
            adapter.client.put_object(Bucket=adapter.bucket, Key=_SENTINEL, Body=b"", **params)
        finally:
            _capture.active = False
        if _capture.request is None:  # another handler answered first: not ours to copy
            return None
        method, url, captured = _capture.request
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        prefix, found, suffix = target.partition(_SENTINEL)
        if method != "PUT" or not found or _SENTINEL in suffix:
            return None
        headers: list[tuple[str, str]] = []
        algorithm = None
        for raw_name, raw_value in captured:
            name = raw_name.lower()
            value = raw_value.decode() if isinstance(raw_value, bytes) else str(raw_value)
            if name == "x-amz-sdk-checksum-algorithm" or name == "x-amz-trailer":
                algorithm = value.rsplit("-", 1)[-1].upper()
            if name in _PER_REQUEST or name.startswith("x-amz-checksum-"):
                continue
            if name == "content-encoding":  # "gzip,aws-chunked" with a trailer
                value = ",".join(v for v in value.split(",") if v.strip() != "aws-chunked")
                if not value:
                    continue
            headers.append((raw_name, value))
        checksum = None
        if algorithm is not None:
            from awscrt.s3 import S3ChecksumAlgorithm, S3ChecksumConfig, S3ChecksumLocation

            crt_algorithm = getattr(S3ChecksumAlgorithm, algorithm, None)
            if crt_algorithm is None:
                return None
            location = S3ChecksumLocation.TRAILER if self._https else S3ChecksumLocation.HEADER
            checksum = S3ChecksumConfig(algorithm=crt_algorithm, location=location)
        return _Template(prefix, suffix, tuple(headers), checksum)

    # -- the CRT client ---------------------------------------------------------------
    def _client(self) -> Any:
        with self._lock:
            if self._s3 is None:
                self._s3 = self._new_client()
            return self._s3

    def _new_client(self) -> Any:
        from awscrt import auth
        from awscrt.io import ClientTlsContext, TlsContextOptions
        from awscrt.s3 import S3Client, S3RequestTlsMode, S3RetryConfig, S3RetryMode

        storage, client = self.adapter.storage, self.adapter.client
        credentials: Any = self._credentials
        if hasattr(credentials, "refresh_needed"):  # refreshable: ask botocore each time

            def frozen() -> Any:
                now = credentials.get_frozen_credentials()
                return auth.AwsCredentials(now.access_key, now.secret_key, now.token)

            provider = auth.AwsCredentialsProvider.new_delegate(frozen)
        else:
            now = credentials.get_frozen_credentials()
            provider = auth.AwsCredentialsProvider.new_static(
                now.access_key, now.secret_key, now.token
            )
        region = client.meta.region_name or "us-east-1"
        signing = auth.AwsSigningConfig(
            algorithm=auth.AwsSigningAlgorithm.V4,
            signature_type=auth.AwsSignatureType.HTTP_REQUEST_HEADERS,
            credentials_provider=provider,
            region=region,
            service="s3",
            signed_body_value=auth.AwsSignedBodyValue.UNSIGNED_PAYLOAD,
            signed_body_header_type=auth.AwsSignedBodyHeaderType.X_AMZ_CONTENT_SHA_256,
            use_double_uri_encode=False,
            should_normalize_uri_path=False,
        )
        tls_options = None
        verify = getattr(storage, "verify", None)
        if self._https and verify is not None:
            context = TlsContextOptions()
            if verify is False:
                context.verify_peer = False
            elif isinstance(verify, str):
                context.override_default_trust_store_from_path(ca_filepath=verify)
            tls_options = ClientTlsContext(context).new_connection_options()
        config = client.meta.config
        retry = (
            S3RetryConfig(max_retries=self._attempts - 1)
            if self._attempts > 1
            else S3RetryConfig(retry_mode=S3RetryMode.NONE)
        )
        return S3Client(
            region=region,
            tls_mode=S3RequestTlsMode.ENABLED if self._https else S3RequestTlsMode.DISABLED,
            signing_config=signing,
            tls_connection_options=tls_options,
            part_size=PART_SIZE,
            multipart_upload_threshold=PART_SIZE,
            max_active_connections_override=max(storage.max_workers, 1),
            retry_config=retry,
            connect_timeout_ms=int(float(config.connect_timeout or 60) * 1000),
        )
