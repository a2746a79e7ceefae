"""What the S3 adapter takes from the SDKs beyond their public API.

django-storages and s3transfer have no public API for the helpers below; each is pinned
by a test in tests/test_s3.py that fails loudly when a release moves it. The botocore
``before-send`` handler drops ``Expect: 100-continue`` from small uploads; CopyObject's
arguments come from botocore's service model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "adjust_chunksize",
    "compress",
    "copy_args",
    "download_params",
    "no_expect_for_small_bodies",
    "write_parameters",
]

#: Bodies up to this size are sent without ``Expect: 100-continue``.
EXPECT_LIMIT = 1024 * 1024


def write_parameters(storage: Any, key: str, content: Any) -> dict[str, Any]:
    """What ``S3Storage._save()`` passes to the upload (content type, ACL, parameters)."""
    return dict(storage._get_write_parameters(key, content))


def compress(storage: Any, raw: Any) -> Any:
    """``S3Storage._save()``'s gzip compressor (same bytes, so the same ETag)."""
    return storage._compress_content(raw)


_NOT_COPY = frozenset({"Bucket", "Key", "CopySource", "MetadataDirective", "TaggingDirective"})


def copy_args(client: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """CopyObject's arguments that rewrite an object's metadata to ``params``: the write
    parameters botocore's model of CopyObject takes, with the directives set to
    REPLACE (metadata, and tags when there are any)."""
    members = client.meta.service_model.operation_model("CopyObject").input_shape.members
    args = {k: v for k, v in params.items() if k in members and k not in _NOT_COPY}
    args["MetadataDirective"] = "REPLACE"
    if "Tagging" in args:
        args["TaggingDirective"] = "REPLACE"
    return args


def download_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The object parameters a download takes (SSE-C keys), as ``S3File`` filters them."""
    from storages.backends.s3 import _filter_download_params

    return dict(_filter_download_params(params))


def adjust_chunksize(chunksize: int, size: int) -> int:
    """The part size boto3's transfer manager really uses for ``size`` bytes."""
    from s3transfer.utils import ChunksizeAdjuster

    return int(ChunksizeAdjuster().adjust_chunksize(chunksize, size))


def no_expect_for_small_bodies(request: Any, **kwargs: Any) -> None:
    """Send a small PutObject body at once instead of waiting for ``100 Continue``.

    botocore asks for ``100 Continue`` before every file-like body (so a refused large
    upload is not sent in vain): one more round trip per object, and ~0.8 ms of client
    CPU to wait for and parse the interim response. For a body of at most 1 MiB the
    wait costs more than sending it in vain ever could. (``Expect`` is never signed.)
    """
    headers = request.headers
    if "Expect" in headers:
        try:
            length = int(headers.get("Content-Length", ""))
        except ValueError:
            return
        if length <= EXPECT_LIMIT:
            del headers["Expect"]
