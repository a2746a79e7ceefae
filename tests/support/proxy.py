"""A recording, fault-injecting HTTP/1.1 reverse proxy for S3, GCS and Azure emulators.

Tests put it between an SDK and a real server to count requests by API operation and to
inject throttling, server errors, dropped connections and permission errors; the
benchmark uses ``delay`` to give a local server a cloud-like round-trip time::

    with RecordingProxy(server.endpoint, flavor="s3") as proxy:
        client = server.client(proxy.endpoint)
        client.put_object(Bucket="b", Key="k", Body=b"x")
        assert proxy.counts["PutObject"] == 1

What it takes to be transparent to the SDKs (each one cost time to find):

* TCP_NODELAY on both sides: without it Nagle + delayed ACK adds ~40 ms per request.
* ``Expect: 100-continue`` is answered (boto3 sends it on PutObject/UploadPart).
* The client's ``Host`` header is forwarded unchanged: SigV4 signs it.
* ``Transfer-Encoding: chunked`` request bodies are de-chunked and sent with a
  Content-Length; boto3's ``aws-chunked`` *content* encoding is left alone (it is part of
  the signed payload and comes with a Content-Length).
* A request whose body is cut short (the client killed or reset mid-upload) is dropped,
  never forwarded: real servers never store a partial body, and moto stores one as given.
* Absolute URLs that point at the upstream (fake-gcs-server's resumable-upload
  ``Location`` and ``mediaLink``) are rewritten to the proxy, or later requests would
  silently bypass it.
* The listen backlog is raised from socketserver's 5: with 20+ client threads connecting
  at once, SYNs beyond the backlog are dropped and retried only after a second.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import re
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

Flavor = Literal["s3", "gcs", "azure"]
FaultKind = Literal["503", "500", "reset"]
#: ``rule(operation, method, target) -> status or None``; ``target`` is the raw request
#: target (path and query string, still percent-encoded).
Rule = Callable[[str, str, str], int | None]
Record = tuple[str, str, str, int]

_P = TypeVar("_P", bound="RecordingProxy")

#: Test set-up must work whatever faults a test configures.
EXEMPT_OPERATIONS = frozenset({"CreateBucket", "buckets.insert", "CreateContainer"})
#: Operations that list a bucket: refused under ``deny_list`` (no s3:ListBucket).
LIST_OPERATIONS = frozenset({"ListObjectsV2", "ListObjects", "objects.list", "ListBlobs"})
#: Status recorded for a request whose connection was reset instead of answered.
RESET_STATUS = 0

# Hop-by-hop headers (RFC 9110 section 7.6.1) belong to one connection, never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


# -- classification ------------------------------------------------------------------------
def _query(query: str) -> dict[str, list[str]]:
    # keep_blank_values: S3/Azure flags such as "?delete" and "?uploads" have no value.
    return parse_qs(query, keep_blank_values=True)


# Query keys that select a sub-resource of an S3 object/bucket rather than the object
# itself (GET ?tagging is GetObjectTagging, not GetObject).
_S3_OBJECT_SUBRESOURCES = frozenset(
    {"acl", "tagging", "attributes", "legal-hold", "retention", "torrent", "restore", "select"}
)
_S3_LIST_PARAMS = frozenset(
    {
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "encoding-type",
        "list-type",
        "continuation-token",
        "start-after",
        "fetch-owner",
    }
)


def classify_s3(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """S3 operation name for a path-style request (``/bucket/key``)."""
    q = _query(query)
    bucket, _, key = path.lstrip("/").partition("/")
    other = f"Other:{method}"
    if not bucket:
        return "ListBuckets" if method == "GET" and not q else other
    if "acl" in q and method in ("GET", "PUT"):
        # ACLs of an object (or of the bucket, without a key).
        return ("Get" if method == "GET" else "Put") + ("ObjectAcl" if key else "BucketAcl")
    if not key:
        if method == "GET":
            if q.get("list-type") == ["2"]:
                return "ListObjectsV2"
            return "ListObjects" if set(q) <= _S3_LIST_PARAMS else other
        if method == "HEAD":
            return "HeadBucket"
        if method == "PUT":
            return "CreateBucket" if not q else other
        if method == "POST" and "delete" in q:
            return "DeleteObjects"
        return other
    if set(q) & _S3_OBJECT_SUBRESOURCES:
        return other
    copy = "x-amz-copy-source" in headers
    if method == "PUT":
        if "uploadId" in q and "partNumber" in q:
            # A part copied from another object is not an upload of bytes.
            return "UploadPartCopy" if copy else "UploadPart"
        return "CopyObject" if copy else "PutObject"
    if method == "GET":
        return other if "uploadId" in q else "GetObject"  # GET ?uploadId is ListParts
    if method == "HEAD":
        return "HeadObject"
    if method == "POST":
        if "uploads" in q:
            return "CreateMultipartUpload"
        if "uploadId" in q:
            return "CompleteMultipartUpload"
        return other
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in q else "DeleteObject"
    return other


def classify_gcs(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """GCS JSON API operation name (the names of the API's own method ids)."""
    q = _query(query)
    other = f"Other:{method}"
    parts = path.strip("/").split("/")
    if parts[0] == "batch":
        return "batch"
    if parts[0] == "upload":
        # POST starts an upload (any uploadType); PUT sends bytes to a resumable session.
        if method == "POST":
            return "objects.insert"
        return "objects.upload_chunk" if method == "PUT" else other
    if parts[0] == "download":
        return "objects.download" if method == "GET" else other
    if parts[:2] != ["storage", "v1"] or len(parts) < 3 or parts[2] != "b":
        return other
    rest = parts[3:]  # after /storage/v1/b
    if not rest:
        return {"POST": "buckets.insert", "GET": "buckets.list"}.get(method, other)
    if len(rest) == 1:
        return {
            "GET": "buckets.get",
            "DELETE": "buckets.delete",
            "PATCH": "buckets.patch",
        }.get(method, other)
    if rest[1] != "o":
        return other
    if len(rest) == 2:
        return {"GET": "objects.list", "POST": "objects.insert"}.get(method, other)
    # /o/<object>[/copyTo|rewriteTo/b/<bucket>/o/<object>] ; object names are %-encoded,
    # so a "/" inside a name never splits here.
    if len(rest) > 3:
        verb = rest[3]
        if method == "POST" and verb in ("copyTo", "rewriteTo", "compose"):
            return {"copyTo": "objects.copy", "rewriteTo": "objects.rewrite"}.get(
                verb, "objects.compose"
            )
        return other
    if method == "GET":
        return "objects.download" if q.get("alt") == ["media"] else "objects.get"
    return {
        "DELETE": "objects.delete",
        "PATCH": "objects.patch",
        "PUT": "objects.update",
    }.get(method, other)


def classify_azure(method: str, path: str, query: str, headers: dict[str, str]) -> str:
    """Azure Blob operation name for a path-style request (``/account/container/blob``)."""
    q = _query(query)
    comp = (q.get("comp") or [""])[0]
    restype = (q.get("restype") or [""])[0]
    other = f"Other:{method}"
    _account, _, rest = path.lstrip("/").partition("/")
    container, _, blob = rest.partition("/")
    if comp == "batch" and method == "POST":
        return "BlobBatch"
    if not container:
        return other
    if not blob:
        if restype != "container":
            return other
        if comp == "list":
            return "ListBlobs" if method == "GET" else other
        if comp:
            return other
        return {
            "PUT": "CreateContainer",
            "GET": "GetContainerProperties",
            "HEAD": "GetContainerProperties",
        }.get(method, other)
    if method == "PUT":
        if comp == "block":
            return "PutBlock"
        if comp == "blocklist":
            return "PutBlockList"
        if comp == "properties":  # Set Blob Properties (set_http_headers): no bytes
            return "SetBlobProperties"
        if comp == "metadata":
            return "SetBlobMetadata"
        if comp:
            return other
        # Copy Blob sends no bytes: counting it as PutBlob would inflate uploads.
        return "CopyBlob" if "x-ms-copy-source" in headers else "PutBlob"
    if comp == "metadata" and method in ("GET", "HEAD"):
        return "GetBlobMetadata"
    if comp:
        return other
    return {
        "HEAD": "GetBlobProperties",
        "GET": "GetBlob",
        "DELETE": "DeleteBlob",
    }.get(method, other)


_CLASSIFIERS: dict[str, Callable[[str, str, str, dict[str, str]], str]] = {
    "s3": classify_s3,
    "gcs": classify_gcs,
    "azure": classify_azure,
}


def classify(flavor: str, method: str, target: str, headers: dict[str, str] | None = None) -> str:
    """Operation name of a request; ``headers`` keys must be lower-case."""
    parts = urlsplit(target)
    return _CLASSIFIERS[flavor](method.upper(), parts.path, parts.query, headers or {})


# -- error bodies --------------------------------------------------------------------------
_S3_CODES = {
    400: ("InvalidRequest", "Invalid Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    409: ("OperationAborted", "A conflicting conditional operation is in progress."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}
_GCS_REASONS = {
    400: ("invalid", "Invalid request."),
    403: ("forbidden", "Access denied."),
    404: ("notFound", "No such object."),
    429: ("rateLimitExceeded", "The rate of change requests is too high."),
    500: ("backendError", "Backend Error"),
    503: ("backendError", "We encountered an internal error. Please try again."),
}
_AZURE_CODES = {
    400: ("InvalidInput", "One of the request inputs is not valid."),
    403: (
        "AuthorizationPermissionMismatch",
        "This request is not authorized to perform this operation using this permission.",
    ),
    404: ("BlobNotFound", "The specified blob does not exist."),
    500: ("InternalError", "The server encountered an internal error. Please retry the request."),
    503: ("ServerBusy", "The server is currently unable to receive requests. Please retry."),
}


def error_response(flavor: str, status: int) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of the error a real service of ``flavor`` sends for ``status``."""
    request_id = uuid.uuid4().hex
    if flavor == "s3":
        code, message = _S3_CODES.get(
            status, ("InternalError", http.client.responses.get(status, "Error"))
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body
    if flavor == "gcs":
        reason, message = _GCS_REASONS.get(status, ("backendError", "Backend Error"))
        error = {"domain": "global", "reason": reason, "message": message}
        payload = {"error": {"code": status, "message": message, "errors": [error]}}
        return [("Content-Type", "application/json; charset=UTF-8")], json.dumps(payload).encode()
    code, message = _AZURE_CODES.get(
        status, ("InternalError", http.client.responses.get(status, "Error"))
    )
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\n"
        f"RequestId:{request_id}\nTime:{formatdate(usegmt=True)}</Message></Error>"
    ).encode()
    headers = [
        ("Content-Type", "application/xml"),
        ("x-ms-error-code", code),
        ("x-ms-request-id", request_id),
    ]
    return headers, body


# -- the proxy -----------------------------------------------------------------------------
class _UpstreamConnection(http.client.HTTPConnection):
    """Keep-alive connection to the upstream with Nagle's algorithm off."""

    def connect(self) -> None:
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    proxy: RecordingProxy


class RecordingProxy:
    """Threaded HTTP/1.1 reverse proxy on 127.0.0.1 in front of ``upstream``.

    Counting: ``counts`` (operation -> requests that reached the proxy, faulted ones
    included) and ``records`` (``(operation, method, target, status)``, status 0 for a
    reset connection); ``reset()`` clears both.

    Latency and faults, all adjustable while running and all off by default:

    * ``delay``: seconds slept before forwarding (or faulting) each request.
    * ``fault_rate``: probability (0..1) that a request fails with one of ``fault_kinds``
      (chosen by a ``random.Random(seed)``): "503" (the flavor's throttling error),
      "500" or "reset" (the client connection is dropped without a response).
    * ``rule``: ``rule(operation, method, target)`` returning a status makes the proxy
      answer that status with the flavor's error body instead of forwarding.
    * ``deny_list``: emulate credentials without s3:ListBucket: list requests answer 403
      and a GET/HEAD that upstream answers 404 becomes 403.

    Faults never apply to bucket/container creation (test set-up).

    ``preserve_host=False`` sends the upstream's own address as ``Host``; only for
    flavors whose signatures do not cover it (fake-gcs-server answers public-URL GETs
    only when ``Host`` matches its ``-public-host``). ``rewrite_urls`` rewrites upstream
    URLs in ``Location`` headers and JSON bodies to the proxy's.
    """

    def __init__(
        self,
        upstream: str,
        *,
        flavor: Flavor = "s3",
        delay: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: Sequence[FaultKind] = ("503",),
        seed: int = 0,
        rule: Rule | None = None,
        deny_list: bool = False,
        rewrite_urls: bool = True,
        preserve_host: bool = True,
        port: int = 0,
        upstream_timeout: float = 120.0,
    ) -> None:
        if flavor not in _CLASSIFIERS:
            raise ValueError(f"flavor must be one of {sorted(_CLASSIFIERS)}, not {flavor!r}")
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = f"http://{parts.hostname}:{parts.port or 80}"
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.flavor: Flavor = flavor
        self.delay = delay
        self.fault_rate = fault_rate
        self.fault_kinds: tuple[FaultKind, ...] = tuple(fault_kinds)
        self.rule = rule
        self.deny_list = deny_list
        self.rewrite_urls = rewrite_urls
        self.preserve_host = preserve_host
        self.upstream_timeout = upstream_timeout
        self.counts: Counter[str] = Counter()
        self.records: list[Record] = []
        #: Seconds the upstream server took to answer, per operation (the added
        #: ``delay`` excluded): what an emulator's own slowness adds to a run.
        self.upstream_seconds: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._requested_port = port
        self._server: _Server | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        # Open client connections and the handler thread serving each.
        self._clients: dict[socket.socket, threading.Thread] = {}

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The listening port (still known after ``stop``, for messages and asserts)."""
        if not self._port:
            raise RuntimeError("proxy not started")
        return self._port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self: _P) -> _P:
        """Listen on 127.0.0.1 and serve in a background thread; idempotent."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self._requested_port), _Handler)
        server.proxy = self
        self._server = server
        self._port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"RecordingProxy:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, drop every client connection and wait for the handlers."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            clients = list(self._clients.items())
        for sock, _thread in clients:
            # Idle keep-alive handlers block in recv(); shutting the socket wakes them.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _sock, thread in clients:
            thread.join(timeout=5)  # bounded: a handler may be mid-request upstream
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self: _P) -> _P:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint if self._server else "stopped"
        return f"<RecordingProxy {self.flavor} {where} -> {self.upstream}>"

    # -- bookkeeping ---------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every count and record."""
        with self._lock:
            self.counts.clear()
            self.records.clear()
            self.upstream_seconds.clear()

    def total(self, operations: Iterable[str] | None = None) -> int:
        """Number of requests (of ``operations``, or of any operation) since ``reset``."""
        with self._lock:
            if operations is None:
                return sum(self.counts.values())
            return sum(self.counts.get(op, 0) for op in operations)

    def _count(self, operation: str) -> None:
        with self._lock:
            self.counts[operation] += 1

    def _record(self, operation: str, method: str, target: str, status: int) -> None:
        with self._lock:
            self.records.append((operation, method, target, status))

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._clients[sock] = threading.current_thread()
            else:
                self._clients.pop(sock, None)

    def _decide(self, operation: str, method: str, target: str) -> int | str | None:
        """The fault for this request: a status, "reset", or None to forward it."""
        if operation in EXEMPT_OPERATIONS:
            return None
        rule = self.rule
        if rule is not None:
            status = rule(operation, method, target)
            if status is not None:
                return status
        if self.deny_list and operation in LIST_OPERATIONS:
            return 403
        if self.fault_rate > 0 and self.fault_kinds:
            with self._lock:
                hit = self._random.random() < self.fault_rate
                kind = self._random.choice(self.fault_kinds) if hit else None
            if kind == "reset":
                return "reset"
            if kind is not None:
                return int(kind)
        return None

    def _rewrite(self, data: bytes) -> bytes:
        return data.replace(self.upstream.encode(), self.endpoint.encode())


_GCS_NAME_RE = re.compile(rb'"name"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _with_gcs_name(target: str, body: bytes) -> str:
    """``target`` with ``&name=<object>`` appended when the name is only in the body.

    google-cloud-storage sends multipart and resumable-start uploads with the object's
    name in the JSON metadata, not in the URL; tests match rules and records on names.
    """
    if "name=" in urlsplit(target).query:
        return target
    match = _GCS_NAME_RE.search(body[:65536])
    if match is None:
        return target
    name = json.loads(b'"' + match.group(1) + b'"')
    return f"{target}&name={quote(name, safe='/')}"


class _Handler(BaseHTTPRequestHandler):
    """One client connection (one thread), with its own upstream connection."""

    protocol_version = "HTTP/1.1"  # keep-alive, and Expect: 100-continue support
    server: _Server
    # Idle keep-alive connections are closed after this long; SDK pools reconnect.
    timeout = 120
    _upstream: _UpstreamConnection | None = None

    # -- connection lifecycle ------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.proxy._track(self.connection, add=False)
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request access log."""

    # -- every method is handled the same way -------------------------------------------
    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _proxy(self) -> None:
        proxy = self.server.proxy
        method = self.command
        target = self.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self._read_body()
        if body is None:
            return  # malformed framing: connection closed
        operation = classify(proxy.flavor, method, target, headers)
        proxy._count(operation)
        if proxy.delay > 0:
            time.sleep(proxy.delay)
        # What rules and records see: for GCS inserts, the object name is in the body.
        label = _with_gcs_name(target, body) if operation == "objects.insert" else target
        fault = proxy._decide(operation, method, label)
        if fault == "reset":
            proxy._record(operation, method, label, RESET_STATUS)
            self._reset_connection()
            return
        if isinstance(fault, int):
            proxy._record(operation, method, label, fault)
            self._send_error_response(fault)
            return
        started = time.perf_counter()
        try:
            status, reason, resp_headers, data = self._forward(method, target, body)
        except (OSError, http.client.HTTPException) as exc:
            proxy._record(operation, method, label, 502)
            self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], repr(exc).encode())
            return
        if proxy.deny_list and status == 404 and method in ("GET", "HEAD"):
            # Without s3:ListBucket, S3 cannot tell "missing" from "forbidden".
            proxy._record(operation, method, label, 403)
            self._send_error_response(403)
            return
        with proxy._lock:
            proxy.upstream_seconds[operation] += time.perf_counter() - started
        proxy._record(operation, method, label, status)
        self._send(status, reason, resp_headers, data, upstream_framing=True)

    # -- request side --------------------------------------------------------------------
    def _read_body(self) -> bytes | None:
        """The request body, de-chunked; None (and the connection closed) if malformed."""
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        try:
            if "chunked" in encoding:
                return self._read_chunked()
            length = int(self.headers.get("Content-Length") or 0)
            return self._read_exactly(length) if length > 0 else b""
        except (ValueError, OSError):
            # Also a client gone mid-body (killed, reset): a real server never acts on a
            # request cut short, so neither is it forwarded (forwarding what arrived, with
            # a new Content-Length, would store a truncated object).
            self.close_connection = True
            return None

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) != size:
            raise ConnectionAbortedError(f"request body cut short: {len(data)} of {size} bytes")
        return data

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip(), 16)  # ValueError at EOF too
            if size == 0:
                break
            chunks.append(self._read_exactly(size))
            self.rfile.readline()  # CRLF after the chunk
        # Trailer fields (if any) end with an empty line; they are dropped: S3 and the
        # emulators only accept checksum trailers inside aws-chunked bodies anyway.
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(chunks)

    def _upstream_headers(self, method: str, body: bytes) -> list[tuple[str, str]]:
        connection_tokens = {
            token.strip().lower() for token in self.headers.get("Connection", "").split(",")
        }
        dropped = _HOP_BY_HOP | connection_tokens | {"content-length", "expect"}
        proxy = self.server.proxy
        if not proxy.preserve_host:
            dropped |= {"host"}
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in dropped]
        if not proxy.preserve_host:
            headers.insert(0, ("Host", f"{proxy.upstream_host}:{proxy.upstream_port}"))
        had_length = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
        if body or had_length or method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(body))))
        return headers

    # -- upstream ------------------------------------------------------------------------
    def _forward(
        self, method: str, target: str, body: bytes
    ) -> tuple[int, str, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        headers = self._upstream_headers(method, body)
        for attempt in (1, 2):
            if self._upstream is None:
                self._upstream = _UpstreamConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=proxy.upstream_timeout
                )
            conn = self._upstream
            reused = conn.sock is not None
            try:
                # skip_host: the client's Host header goes through as it is (SigV4).
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body if body else None)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.BadStatusLine):
                conn.close()
                self._upstream = None
                # A kept-alive connection the upstream closed while idle fails like this
                # before any byte of the answer: retry once on a fresh connection.
                if reused and attempt == 1:
                    continue
                raise
            except BaseException:
                conn.close()
                self._upstream = None
                raise
            if response.will_close:
                conn.close()
                self._upstream = None
            return response.status, response.reason, response.getheaders(), data
        raise AssertionError("unreachable")

    # -- response side -------------------------------------------------------------------
    def _send(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        data: bytes,
        upstream_framing: bool = False,
    ) -> None:
        proxy = self.server.proxy
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        self.send_response_only(status, reason)
        for name, value in headers:
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                continue
            if lname == "content-length" and not (upstream_framing and no_body):
                continue  # recomputed below; a HEAD keeps the object's length
            if lname == "location" and proxy.rewrite_urls:
                value = value.replace(proxy.upstream, proxy.endpoint)
            self.send_header(name, value)
        if not no_body:
            found = {k.lower(): v for k, v in headers}
            # Only plain JSON: fake-gcs-server may gzip a body (transcoding) and a
            # replacement inside compressed bytes would corrupt it.
            if (
                proxy.rewrite_urls
                and "json" in found.get("content-type", "")
                and found.get("content-encoding", "identity") == "identity"
            ):
                data = proxy._rewrite(data)
            self.send_header("Content-Length", str(len(data)))
        elif not upstream_framing:
            self.send_header("Content-Length", "0")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not no_body and data:
            self.wfile.write(data)

    def _send_error_response(self, status: int) -> None:
        headers, body = error_response(self.server.proxy.flavor, status)
        self._send(status, http.client.responses.get(status, "Error"), headers, body)

    def _reset_connection(self) -> None:
        """Drop the client connection with a TCP RST, as an overloaded front end does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            # Linger on, timeout 0: close() sends RST instead of a graceful FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
