"""DeleteObjects: up to 1,000 keys per request, and what became of each key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from ..contract import RETRY_ALONE
from ._s3_errors import status_and_code

__all__ = ["delete_batch"]

#: DeleteObjects error codes worth one more try, alone.
_TRANSIENT = frozenset({"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"})


def delete_batch(
    client: Any, bucket: str, keys: Sequence[str]
) -> Mapping[str, BaseException | None] | None:
    """Per key: ``None`` (gone), :data:`RETRY_ALONE` or the error; ``None`` in all when
    the server has no DeleteObjects (see ``PreloadAdapter.delete_batch``)."""
    try:
        response = client.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
        )
    except ClientError as exc:
        status, code = status_and_code(exc)
        if status == 501 or code == "NotImplemented":  # a server without DeleteObjects
            return None
        raise
    outcome: dict[str, BaseException | None] = dict.fromkeys(keys)
    for error in response.get("Errors", ()):
        code = str(error.get("Code", ""))
        outcome[error["Key"]] = (
            RETRY_ALONE
            if code in _TRANSIENT
            else RuntimeError(f"{code}: {error.get('Message', '')}")
        )
    return outcome
