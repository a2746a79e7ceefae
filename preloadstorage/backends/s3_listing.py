"""A fast ListObjectsV2 listing for the preload, hooked into botocore's own client.

Why: botocore parses a listing page with its modeled XML parser, which walks every
element of every ``<Contents>`` through the service model in Python: about 0.1-0.3 ms
of client CPU per listed object, 10-25 s for a preload of 100,000 objects, before
preloadstorage has looked at one of them. The listing is the only part of a re-run
that grows with the bucket, and CI machines are small.

What stays botocore's: the request. Signing, retries, endpoint resolution, proxies,
checksum settings and error handling all happen exactly as for any ``list_objects_v2``
call on the storage's client. Only the per-object parse of a successful answer is ours:

* ``before-parameter-build``: :func:`paginate` marks its calls with a parameter of ours,
  which the handler removes before botocore validates the parameters, and notes on the
  calling thread whether the call is marked. Unmarked calls (django-storages', a user's)
  on the same client are left alone, so the handlers are safe on a shared client.
* ``before-parse`` (botocore >= 1.35.16): for a marked call's 2xx answer, the body is
  read by :func:`parse_page` (the pure text parser, in ``_s3_listing_parser``, with
  regular expressions built for the page's ``<Contents>`` layout); the objects go into
  the parsed page under :data:`OBJECTS` and the body handed on to the modeled parser
  is the page without its ``<Contents>`` elements, so
  botocore still parses (and checks) IsTruncated, NextContinuationToken,
  CommonPrefixes, EncodingType... and its own "200 with an error" check reads that
  small remainder instead of the whole page.
* ``after-call``: keys are URL-decoded under botocore's own rule (the answer says
  ``EncodingType=url`` and botocore chose that encoding, not the caller) and turned
  into :class:`RemoteObject` values.

Exactness: the fast path yields the same ``RemoteObject`` values as the modeled parse
followed by preloadstorage's ETag normalisation (key, size, last-modified including its
tzinfo, fingerprint). Whenever a page holds anything the parser does not handle
exactly (listed in ``_s3_listing_parser``), the page is left untouched and botocore
parses it as before; :func:`objects` reads either kind of page. Error answers (status
>= 300) are never touched. On botocore older than 1.35.16 (no ``before-parse`` event)
every page is parsed by botocore.

Integration into an adapter is two changes: ``paginate(client, **kwargs)`` instead of
``client.get_paginator("list_objects_v2").paginate(**kwargs)``, and ``objects(page)``
instead of reading ``page["Contents"]``; :func:`etag` is the ETag normalisation both
paths share (HeadObject answers need it too).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from ..contract import RemoteObject
from ._s3_listing_parser import etag, parse_page

__all__ = ["MARKER", "OBJECTS", "etag", "install", "objects", "paginate", "parse_page"]

#: The request parameter :func:`paginate` adds; removed again before validation.
MARKER = "PreloadstorageFastListing"
#: Where a fast-parsed page keeps its objects (``list[RemoteObject]`` after the call).
OBJECTS = "PreloadstorageObjects"

_HANDLER_ID = "preloadstorage-s3-listing"
#: Off only for benchmarks/scale.py's ``--parser modeled`` (not an option).
_ENABLED = True
_INSTALL_LOCK = threading.Lock()
_CALL = threading.local()


# -- the public API -------------------------------------------------------------------------
def install(client: Any) -> None:
    """Register the handlers on ``client`` (idempotent; affects only marked calls)."""
    events = client.meta.events
    with _INSTALL_LOCK:
        events.register(
            "before-parameter-build.s3.ListObjectsV2", _mark, unique_id=_HANDLER_ID + "-mark"
        )
        # The service wildcard makes botocore run this before its own before-parse.s3.*
        # handlers, so that its "200 with an error" check parses the small remainder
        # instead of the whole page (correct in either order).
        events.register(
            "before-parse.*.ListObjectsV2", _before_parse, unique_id=_HANDLER_ID + "-parse"
        )
        events.register(
            "after-call.s3.ListObjectsV2", _after_call, unique_id=_HANDLER_ID + "-objects"
        )


def paginate(client: Any, **kwargs: Any) -> Iterable[dict[str, Any]]:
    """``client.get_paginator("list_objects_v2").paginate(**kwargs)``, fast-parsed.

    Read each page with :func:`objects`. ``PaginationConfig`` with ``MaxItems`` or
    ``StartingToken`` (botocore truncates ``Contents`` itself) is passed on unmarked.
    """
    install(client)
    paginator = client.get_paginator("list_objects_v2")
    config = kwargs.get("PaginationConfig") or {}
    if "MaxItems" in config or "StartingToken" in config:
        return paginator.paginate(**kwargs)  # type: ignore[no-any-return]
    return paginator.paginate(**kwargs, **{MARKER: True})  # type: ignore[no-any-return]


def objects(page: dict[str, Any]) -> list[RemoteObject]:
    """The objects of one ListObjectsV2 page, fast-parsed or parsed by botocore."""
    fast: list[RemoteObject] | None = page.get(OBJECTS)
    if fast is not None:
        return fast
    return [
        RemoteObject(item["Key"], item["Size"], item["LastModified"], etag(item.get("ETag")))
        for item in page.get("Contents", ())
    ]


# -- the handlers --------------------------------------------------------------------------
def _mark(params: dict[str, Any], **kwargs: Any) -> None:
    # Runs for every ListObjectsV2 call on an installed client, in the calling thread,
    # before any of that call's answers is parsed: the flag is always this call's.
    _CALL.marked = bool(params.pop(MARKER, False))


def _before_parse(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **kwargs: Any
) -> None:
    if not (_ENABLED and getattr(_CALL, "marked", False)):
        return
    body = response_dict.get("body")
    if response_dict.get("status_code", 500) >= 300 or not isinstance(body, bytes):
        return
    parsed = parse_page(body)
    if parsed is not None:
        response_dict["body"], customized_response_dict[OBJECTS] = parsed


def _after_call(parsed: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
    entries = parsed.get(OBJECTS)
    if not entries or isinstance(entries[0], RemoteObject):
        return
    # botocore's decode_list_object_v2, for the keys it never saw.
    if parsed.get("EncodingType") == "url" and context.get("encoding_type_auto_set"):
        parsed[OBJECTS] = [
            RemoteObject(
                unquote_plus(key) if "%" in key or "+" in key else key, size, modified, tag
            )
            for key, size, modified, tag in entries
        ]
    else:
        parsed[OBJECTS] = [RemoteObject(*entry) for entry in entries]
