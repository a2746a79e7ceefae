"""S3 client errors turned into messages that name the setting to fix."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ..contract import ListingDenied
from ..errors import PreloadError, describe

__all__ = ["explain", "status_and_code"]

_AUTH_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "InvalidSecurity",
    }
)


def status_and_code(exc: ClientError) -> tuple[int | None, str]:
    """The HTTP status and S3 error code of a client error."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status, str(exc.response.get("Error", {}).get("Code", ""))


def explain(exc: BaseException, action: str, adapter: Any) -> BaseException:
    """The error a user can act on, for ``exc`` raised while ``adapter`` tried to ``action``."""
    storage, where = adapter.storage, adapter.where()
    bucket = storage.bucket_name
    endpoint = storage.endpoint_url or "AWS S3"
    if isinstance(exc, NoCredentialsError):
        return PreloadError(
            "No AWS credentials found: set the access_key/secret_key options "
            "(AWS_S3_ACCESS_KEY_ID / AWS_S3_SECRET_ACCESS_KEY), session_profile, or "
            "give the machine a role."
        )
    if isinstance(exc, BotoCoreError):
        return PreloadError(
            f"Could not reach {endpoint} to {action} {where} ({describe(exc)}). "
            "Check endpoint_url (AWS_S3_ENDPOINT_URL) and the network."
        )
    if not isinstance(exc, ClientError):
        return exc
    status, code = status_and_code(exc)
    if code == "NoSuchBucket":
        return PreloadError(
            f"The bucket '{bucket}' does not exist at {endpoint}: create it, "
            "or fix bucket_name (AWS_STORAGE_BUCKET_NAME)."
        )
    if code in _AUTH_CODES:
        return PreloadError(
            f"{endpoint} rejected the credentials ({code}) when trying to {action} "
            f"{where}: check access_key/secret_key (AWS_S3_ACCESS_KEY_ID / "
            "AWS_S3_SECRET_ACCESS_KEY) or session_profile."
        )
    if code in {"PermanentRedirect", "AuthorizationHeaderMalformed"} or status == 301:
        return PreloadError(
            f"The bucket '{bucket}' is in another region ({code}): set "
            "region_name (AWS_S3_REGION_NAME) to the bucket's region."
        )
    if action == "list" and (code == "AccessDenied" or status == 403):
        prefix = adapter.prefix()
        return ListingDenied(
            f"Listing {where} was denied ({code or status}). Grant s3:ListBucket on "
            f"arn:aws:s3:::{bucket} (it may be limited with the condition "
            f"s3:prefix = '{prefix}*') to make collectstatic fast."
        )
    return PreloadError(f"Could not {action} {where}: {describe(exc)}")
