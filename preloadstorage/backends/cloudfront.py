"""CloudFront invalidation after a deploy, for the S3 storages.

Opt-in with ``cloudfront_distribution_id``. After a successful run (the new manifest is
live, deletes done), one ``CreateInvalidation`` names what a CDN can hold stale: the
unhashed paths this run uploaded, rewrote the metadata of or deleted, and the manifest
when it changed. Hashed names never need it (new content gets a new name). More paths
than :attr:`CloudFrontInvalidationMixin.cloudfront_max_paths` become one wildcard for
the location. A failure is one WARNING line and the deploy still succeeds, unless
``cloudfront_fail_on_error`` is set.

Paths are ``"/" + key`` (the location included), percent-encoded as ``url()`` encodes
them: the path ``url()`` gives with ``custom_domain`` set to the distribution's domain
and an empty origin path. Credentials and region are the S3 client's; the call is counted
apart, as ``CreateInvalidation``, in the report's and the signal's ``requests``.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..conf import Option, check_option_values, default_settings
from ..errors import PreloadError, describe
from ..signals import SyncResult
from ..summary import emit

__all__ = ["CLOUDFRONT_OPTIONS", "CloudFrontInvalidationMixin"]

CLOUDFRONT_OPTIONS: tuple[Option, ...] = (
    Option(
        "cloudfront_distribution_id",
        None,
        (str, type(None)),
        lambda v: v is None or bool(v.strip()),
        "a CloudFront distribution id (e.g. 'E2QWRUHAPOMQZL') or None",
        "After a successful run, invalidate the changed unhashed paths and the manifest.",
    ),
    Option(
        "cloudfront_endpoint_url",
        None,
        (str, type(None)),
        lambda v: v is None or v.startswith(("http://", "https://")),
        "an http(s):// URL or None",
        "CloudFront API endpoint (LocalStack, moto, tests); None: AWS's own.",
    ),
    Option(
        "cloudfront_fail_on_error",
        False,
        bool,
        lambda v: True,
        "True or False",
        "Fail the command when the invalidation fails (the bucket is complete anyway).",
    ),
)

#: The path as the site's URLs have it (``url()`` encodes with Django's
#: ``filepath_to_uri()``), except ``*``, which CloudFront would read as a wildcard: the
#: invalidation path must be the path viewers request, byte for byte.
_SAFE = "/~!()'"
#: The name Django's ``hashed_name()`` gives: ``<root>.<12 hex digits><ext>``.
_HASHED_RE = re.compile(r"\.[0-9a-f]{12}(\.[^./]*)?$")

if TYPE_CHECKING:
    _Base = Any  # the S3 storage classes (django-storages ships no type information)
else:
    _Base = object


class CloudFrontInvalidationMixin(_Base):
    """Invalidate what changed on a CloudFront distribution after each good run.

    Stack it before :class:`~preloadstorage.backends.s3.S3PreloadMixin`. Override
    :meth:`cloudfront_path` when the CDN's paths are not ``"/" + key`` (an origin path
    equal to the location).
    """

    cloudfront_distribution_id: str | None
    cloudfront_endpoint_url: str | None
    cloudfront_fail_on_error: bool
    #: Paths in one invalidation; more become one wildcard for the location (CloudFront
    #: allows 3,000 file paths in progress per distribution, and bills per path: a
    #: wildcard counts as one).
    cloudfront_max_paths = 1000

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        check_option_values(self, CLOUDFRONT_OPTIONS)

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), **default_settings(CLOUDFRONT_OPTIONS)}

    def preload_finished(self, result: SyncResult) -> None:
        """Invalidate first, so the report and the signal count the request."""
        error = None
        if self.cloudfront_distribution_id and result.ok:
            error = self.cloudfront_invalidate(result)
        super().preload_finished(result)
        if error is not None and self.cloudfront_fail_on_error:
            raise error

    # -- what to invalidate ---------------------------------------------------------------
    def cloudfront_path(self, key: str) -> str:
        """The CDN path of an object key (a trailing ``*`` is a wildcard)."""
        return "/" + quote(key, safe=_SAFE)

    def cloudfront_paths(self, result: SyncResult) -> list[str]:
        """The paths a CDN may hold stale after ``result``: changed unhashed names."""
        key = self.preload_adapter.key
        manifest = hasattr(self, "manifest_name")
        names = [n for n in (*result.uploaded, *result.updated) if not result.is_hashed(n)]
        # A deleted name is no longer in the manifest: judge it by its form.
        names += [n for n in result.deleted if not (manifest and _HASHED_RE.search(n))]
        return sorted({self.cloudfront_path(key(name)) for name in names})

    # -- the request ----------------------------------------------------------------------
    def cloudfront_client(self) -> Any:
        """A CloudFront client with the S3 client's credentials, region and proxies."""
        config = Config(
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            proxies=getattr(self, "proxies", None),
        )
        return _create_session(self).client(
            "cloudfront",
            region_name=self.region_name,
            endpoint_url=self.cloudfront_endpoint_url,
            use_ssl=self.use_ssl,
            verify=self.verify,
            config=config,
        )

    def cloudfront_invalidate(self, result: SyncResult) -> PreloadError | None:
        """One CreateInvalidation for ``result``'s stale paths; the error, if it failed."""
        paths = self.cloudfront_paths(result)
        if not paths:
            return None
        distribution = str(self.cloudfront_distribution_id)
        wildcard = self.cloudfront_path(self.preload_adapter.prefix()) + "*"
        items = paths if len(paths) <= self.cloudfront_max_paths else [wildcard]
        calls: Counter[str] = Counter()
        output = getattr(self.__dict__.get("_preload_run"), "output", None)
        try:
            client = self.cloudfront_client()
            client.meta.events.register(
                "before-send.cloudfront",
                lambda event_name="", **kw: calls.update([event_name.rsplit(".", 1)[-1]]),
            )
            try:
                response = _create_invalidation(client, distribution, items)
            except ClientError as exc:
                # File paths and wildcards have separate in-progress quotas.
                if _code(exc) != "TooManyInvalidationsInProgress" or items == [wildcard]:
                    raise
                items = [wildcard]
                response = _create_invalidation(client, distribution, items)
        except (ClientError, BotoCoreError) as exc:
            result.requests.update(calls)
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            message = (
                f"CloudFront invalidation on distribution {distribution} failed: "
                f"{describe(exc)}. The deploy itself is complete; the CDN may serve stale "
                f"copies of {shown} until they expire: fix the cause (the distribution "
                "id, cloudfront:CreateInvalidation on it for these credentials) and "
                "invalidate them by hand"
            )
            emit(f"preloadstorage: WARNING: {message}.", output, logging.WARNING)
            return PreloadError(message + ".")
        result.requests.update(calls)
        if self.summary:
            ident = response.get("Invalidation", {}).get("Id", "?")
            what = f"{len(items)} path(s)" if items is paths else f"{wildcard} ({len(paths)} paths)"
            requests = ", ".join(f"{n} {op}" for op, n in sorted(calls.items()))
            emit(
                f"preloadstorage: CloudFront {distribution}: invalidation {ident} of {what}; "
                f"requests: {requests}",
                output,
            )
        return None


def _create_invalidation(client: Any, distribution: str, items: list[str]) -> Any:
    batch = {
        "Paths": {"Quantity": len(items), "Items": items},
        # Unique per deploy; the client's own retries resend the same one (idempotent).
        "CallerReference": f"preloadstorage-{uuid.uuid4().hex}",
    }
    return client.create_invalidation(DistributionId=distribution, InvalidationBatch=batch)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# -- private SDK attributes (pinned by tests/test_cdn.py) --------------------------------------
def _create_session(storage: Any) -> Any:
    """The boto3 session ``S3Storage.connection`` uses (profile, keys or the chain)."""
    return storage._create_session()
