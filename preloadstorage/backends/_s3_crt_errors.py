"""CRT failures as the exceptions botocore raises for the same failure.

``_s3_errors.explain`` and ``status_and_code`` read botocore's exceptions, so a failed
CRT upload must look exactly like a failed ``put_object``: an error response becomes
the client's modeled ``ClientError`` parsed by botocore's own rest-xml parser (with
"reached max retries" as botocore's retry handler adds it), no response a
``BotoCoreError``.
"""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import HeadersDict
from botocore.exceptions import BotoCoreError, EndpointConnectionError
from botocore.parsers import create_parser

__all__ = ["CrtConnectionError", "CrtRequestError", "translate"]

_CONNECTION_ERRORS = ("SOCKET", "DNS", "CONNECT", "TLS", "HOST")
#: Retryable error responses: after the last attempt CRT keeps only its own error code.
_RETRIED = {
    "AWS_ERROR_S3_INTERNAL_ERROR": (500, "InternalError"),
    "AWS_ERROR_S3_SLOW_DOWN": (503, "SlowDown"),
    "AWS_ERROR_S3_REQUEST_TIMEOUT": (400, "RequestTimeout"),
    "AWS_ERROR_S3_REQUEST_TIME_TOO_SKEWED": (403, "RequestTimeTooSkewed"),
}


class CrtConnectionError(EndpointConnectionError):
    fmt = 'Could not connect to the endpoint URL: "{endpoint_url}" (AWS CRT: {error})'


class CrtRequestError(BotoCoreError):
    fmt = "PutObject through the AWS CRT failed without a response: {error}"


def translate(exc: Any, client: Any, url: str, attempts: int) -> Exception:
    """The botocore exception for CRT's ``exc`` (an ``AwsCrtError``) on ``url``."""
    if getattr(exc, "status_code", None) is not None:  # S3ResponseError: the response
        return _client_error(client, exc.status_code, exc.headers, exc.body, attempts, False)
    if exc.name in _RETRIED:
        status, code = _RETRIED[exc.name]
        body = f"<Error><Code>{code}</Code><Message>{exc.message}</Message></Error>"
        return _client_error(client, status, None, body.encode(), attempts, True)
    error = f"{exc.name}: {exc.message}"
    if any(word in exc.name for word in _CONNECTION_ERRORS):
        return CrtConnectionError(endpoint_url=url, error=error)
    return CrtRequestError(error=error)


def _client_error(
    client: Any, status: int, headers: Any, body: bytes | None, attempts: int, retried: bool
) -> Exception:
    response = {"status_code": status, "headers": HeadersDict(headers or ()), "body": body or b""}
    shape = client.meta.service_model.operation_model("PutObject").output_shape
    parsed = create_parser("rest-xml").parse(response, shape)
    if retried or attempts == 1:  # botocore's message: "(reached max retries: N)"
        metadata = parsed["ResponseMetadata"]
        metadata["MaxAttemptsReached"] = True
        metadata["RetryAttempts"] = attempts - 1 if retried else 0
    error_class: Any = client.exceptions.from_code(parsed.get("Error", {}).get("Code", ""))
    return error_class(parsed, "PutObject")  # type: ignore[no-any-return]
