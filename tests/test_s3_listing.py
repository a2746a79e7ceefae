"""The fast ListObjectsV2 parser gives exactly what botocore's modeled parser gives.

Literal pages go through a real boto3 client whose HTTP layer is replaced by a canned
answer (``before-send``), so signing, the event handlers, botocore's own checks and the
paginator all run; each page is listed twice, once through ``s3_listing.paginate`` (fast)
and once as a plain ``list_objects_v2`` call (modeled), and the RemoteObjects compared
value for value, repr for repr. The last tests do the same against moto and SeaweedFS.
The page parser itself (``_s3_listing_parser``) is tested here, through those events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from preloadstorage.backends import s3_listing
from preloadstorage.backends.s3_listing import OBJECTS, etag, objects, parse_page
from preloadstorage.cache import RemoteObject
from tests.targets.base import Target

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
#: botocore emits before-parse with customized_response_dict since 1.35.16; before that,
#: every page is botocore's (the results must still be the same).
FAST = tuple(int(part) for part in botocore.__version__.split(".")[:3]) >= (1, 35, 16)
HEX = "0123456789abcdef0123456789abcdef"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self.body


class Canned:
    """A client whose ListObjectsV2 requests get the next queued answer."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
        self.answers: list[tuple[int, bytes]] = []
        self.urls: list[str] = []
        self.client.meta.events.register("before-send.s3.ListObjectsV2", self._send)

    def _send(self, request: Any, **kwargs: Any) -> AWSResponse:
        self.urls.append(request.url)
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return AWSResponse(request.url, status, {}, _Raw(body))

    def fast(self, body: bytes, **params: Any) -> list[dict[str, Any]]:
        self.answers = [(200, body)]
        return list(s3_listing.paginate(self.client, Bucket="b", Prefix="p/", **params))

    def modeled(self, body: bytes, **params: Any) -> dict[str, Any]:
        self.answers = [(200, body)]
        page: dict[str, Any] = self.client.list_objects_v2(Bucket="b", Prefix="p/", **params)
        return page


@pytest.fixture
def canned() -> Canned:
    return Canned()


def same(fast: list[RemoteObject], modeled: list[RemoteObject]) -> None:
    assert fast == modeled
    assert [repr(obj) for obj in fast] == [repr(obj) for obj in modeled]
    for a, b in zip(fast, modeled, strict=True):
        assert type(a.modified.tzinfo) is type(b.modified.tzinfo)
        assert a.modified.utcoffset() == b.modified.utcoffset()


def both(canned: Canned, body: bytes, **params: Any) -> list[RemoteObject]:
    """List ``body`` both ways; assert the fast path was taken and agrees."""
    (fast,) = canned.fast(body, **params)
    modeled = canned.modeled(body, **params)
    if FAST:
        assert OBJECTS in fast and "Contents" not in fast, "the fast path was not taken"
    else:
        assert OBJECTS not in fast
    assert OBJECTS not in modeled
    same(objects(fast), objects(modeled))
    for name in ("IsTruncated", "NextContinuationToken", "CommonPrefixes", "EncodingType"):
        assert fast.get(name) == modeled.get(name)
    return objects(fast)


def untouched(canned: Canned, body: bytes) -> None:
    """A page the fast path must leave to botocore: same result or same error."""
    assert parse_page(body) is None
    try:
        modeled = objects(canned.modeled(body))
    except Exception as exc:  # whatever botocore raises, the fast path raises too
        with pytest.raises(type(exc)):
            objects(canned.fast(body)[0])
        return
    (fast,) = canned.fast(body)
    assert OBJECTS not in fast
    same(objects(fast), modeled)


def page(*contents: str, head: str = "", tail: str = "", encoding: str | None = "url") -> bytes:
    encoding_type = f"<EncodingType>{encoding}</EncodingType>" if encoding else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult {NS}>'
        f"<Name>b</Name><Prefix>p/</Prefix>{head}{encoding_type}"
        f"<KeyCount>{len(contents)}</KeyCount><MaxKeys>1000</MaxKeys>"
        f"<IsTruncated>false</IsTruncated>{''.join(contents)}{tail}</ListBucketResult>"
    ).encode()


def aws(
    key: str, size: int = 64, modified: str = "2026-11-28T10:00:00.000Z", tag: str = HEX
) -> str:
    return (
        f"<Contents><Key>{key}</Key><LastModified>{modified}</LastModified>"
        f"<ETag>&quot;{tag}&quot;</ETag><ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm>"
        f"<ChecksumType>FULL_OBJECT</ChecksumType><Size>{size}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )


def seaweed(
    key: str, size: int = 64, modified: str = "2026-11-28T10:00:00Z", tag: str = HEX
) -> str:
    return (
        f"<Contents><Key>{key}</Key><ETag>&#34;{tag}&#34;</ETag><Size>{size}</Size>"
        f"<StorageClass>STANDARD</StorageClass><LastModified>{modified}</LastModified>"
        "</Contents>"
    )


def moto(
    key: str, size: int = 64, modified: str = "2026-11-28T10:00:00.000Z", tag: str = HEX
) -> str:
    return (
        f'<Contents><Key>{key}</Key><LastModified>{modified}</LastModified><ETag>"{tag}"</ETag>'
        f"<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><Size>{size}</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )


ODD_KEYS_URL = [  # as servers send them with EncodingType=url
    "p/a%20b.css",
    "p/a+b.css",
    "p/plus%2Bpct%2520.txt",
    "p/%C3%BC/%C3%B1.js",
    "p/x%26y%3Cz%3E.txt",
    "p/q%22%27.txt",
    "p/ctl%01%1F%7F.txt",
    "p/cr%0D%0Alf%0A.txt",
    "p/%E2%80%8B%F0%9F%98%80.txt",
]


# -- element orders and servers' ways of writing --------------------------------------------
@pytest.mark.parametrize("writer", [aws, seaweed, moto], ids=["aws", "seaweedfs", "moto"])
def test_each_servers_element_order_and_quoting(canned: Canned, writer: Any) -> None:
    listed = both(canned, page(*(writer(key, size=i) for i, key in enumerate(ODD_KEYS_URL))))
    assert [obj.key for obj in listed][:4] == [
        "p/a b.css",
        "p/a b.css",
        "p/plus+pct%20.txt",
        "p/ü/ñ.js",
    ]
    assert listed[6].key == "p/ctl\x01\x1f\x7f.txt"
    assert listed[7].key == "p/cr\r\nlf\n.txt"
    assert {obj.fingerprint for obj in listed} == {HEX}


def test_elements_around_contents_in_any_order(canned: Canned) -> None:
    # moto writes IsTruncated first and Name/Prefix after the objects.
    body = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<ListBucketResult {NS}>'
        "<IsTruncated>false</IsTruncated>"
        f"{moto('p/a')}{moto('p/b')}"
        "<Name>b</Name><Prefix>p/</Prefix><MaxKeys>1000</MaxKeys>"
        "<EncodingType>url</EncodingType><KeyCount>2</KeyCount></ListBucketResult>"
    ).encode()
    assert [obj.key for obj in both(canned, body)] == ["p/a", "p/b"]


def test_pretty_printed_page(canned: Canned) -> None:
    contents = "\n".join(
        f"  <Contents>\n    <Key>p/{name}</Key>\n    <LastModified>2026-01-02T03:04:05.678Z"
        f"</LastModified>\n    <ETag>&quot;{HEX}&quot;</ETag>\n    <Size>5</Size>\n"
        "    <Owner>\n      <ID>abc</ID>\n      <DisplayName>me</DisplayName>\n    </Owner>\n"
        "    <StorageClass>STANDARD</StorageClass>\n  </Contents>"
        for name in ("a", "b", "c")
    )
    both(canned, page("\n" + contents + "\n", head="\n  ", tail="\n"))


def test_nested_elements_in_contents(canned: Canned) -> None:
    restore = (
        "<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress>"
        "<RestoreExpiryDate>2027-01-01T00:00:00.000Z</RestoreExpiryDate></RestoreStatus>"
    )
    body = page(
        aws("p/a").replace("</Contents>", restore + "</Contents>"),
        aws("p/b").replace("<Size>", "<Owner><DisplayName>x</DisplayName><ID>1</ID></Owner><Size>"),
    )
    both(canned, body)


# -- keys ------------------------------------------------------------------------------------
def test_xml_entities_in_keys_without_url_encoding(canned: Canned) -> None:
    # A server that ignores EncodingType: the keys are plain XML text.
    keys = [
        "p/a&amp;b&lt;c&gt;d&quot;e&apos;f",
        "p/&#x41;&#66;&#xe9;&#233;&#x1F600;",
        "p/caf\u00e9 \u65e5\u672c/\U0001f600.txt",
        "p/tab\there",
        "p/crlf\r\nlone-cr\rlf\n",
        "p/cr-ref&#13;&#xD;&#10;",
        "p/percent%41+plus",
        "p/  spaces  ",
        "p/gt>only",
        "",
    ]
    listed = both(canned, page(*(aws(key) for key in keys), encoding=None))
    assert listed[0].key == "p/a&b<c>d\"e'f"
    assert listed[1].key == "p/ABéé\U0001f600"
    assert listed[4].key == "p/crlf\nlone-cr\nlf\n"
    assert listed[5].key == "p/cr-ref\r\r\n"
    assert listed[6].key == "p/percent%41+plus"  # no EncodingType in the answer: not decoded
    assert listed[9].key == ""


def test_keys_stay_encoded_when_the_caller_asked_for_url_encoding(canned: Canned) -> None:
    listed = both(canned, page(aws("p/a%20b"), aws("p/c+d")), EncodingType="url")
    assert [obj.key for obj in listed] == ["p/a%20b", "p/c+d"]


def test_entities_in_url_encoded_keys(canned: Canned) -> None:
    listed = both(canned, page(aws("p/a%26b&amp;c"), aws("p/%3C&#x25;41")))
    assert [obj.key for obj in listed] == ["p/a&b&c", "p/<A"]


# -- sizes, timestamps, ETags ------------------------------------------------------------
@pytest.mark.parametrize(
    "modified",
    [
        "2026-11-28T10:00:00Z",
        "2026-11-28T10:00:00.000Z",
        "2026-11-28T10:00:00.1Z",
        "2026-11-28T10:00:00.123456Z",
        "2026-11-28T10:00:00.1234567Z",
        "2026-11-28T23:59:59.999999999Z",
        "2024-02-29T00:00:00Z",
        "2026-11-28T10:00:00+00:00",
        "2026-11-28T10:00:00.5+02:00",
        "2026-11-28T10:00:00",
        "Sat, 28 Nov 2026 10:00:00 GMT",
        "1764324000",
    ],
)
def test_timestamps(canned: Canned, modified: str) -> None:
    # Twice: the first timestamp of a page is parsed by botocore, the next ones by us.
    both(canned, page(aws("p/a", modified=modified), seaweed("p/b", modified=modified)))


def test_many_distinct_timestamps_in_one_page(canned: Canned) -> None:
    stamps = [
        f"2026-{m:02d}-{d:02d}T{h:02d}:{d:02d}:{m:02d}.{h:03d}Z"
        for m in (1, 12)
        for d in (1, 28)
        for h in (0, 23)
    ]
    both(canned, page(*(aws(f"p/{i}", modified=s) for i, s in enumerate(stamps))))
    both(canned, page(*(seaweed(f"p/{i}", modified=s[:19] + "Z") for i, s in enumerate(stamps))))


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "GMT"])
def test_timestamps_in_any_local_time_zone(canned: Canned, zone: str) -> None:
    # dateutil answers tzlocal() where the local zone is named UTC, tzutc() elsewhere.
    saved = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        both(canned, page(aws("p/a"), aws("p/b", modified="2026-06-01T12:00:00.250Z")))
        both(canned, page(seaweed("p/a"), seaweed("p/b", modified="2026-06-01T12:00:00Z")))
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.parametrize(
    "tag",
    [
        HEX,
        HEX.upper(),
        f"{HEX}-3",
        f"{HEX}-10000",
        "&quot;&quot;" + HEX,
        "not-an-md5",
        f"{HEX[:31]}",
        "",
        f"W/&quot;{HEX}",
        f"{HEX}&#10;",
        f"{HEX}\n",
    ],
)
def test_etags(canned: Canned, tag: str) -> None:
    both(canned, page(aws("p/a", tag=tag), seaweed("p/b", tag=tag), moto("p/c", tag=tag)))


def test_missing_etag_and_mixed_shapes(canned: Canned) -> None:
    no_etag = (
        "<Contents><Key>p/n</Key><LastModified>2026-11-28T10:00:00.000Z</LastModified>"
        "<Size>1</Size></Contents>"
    )
    listed = both(canned, page(no_etag, aws("p/a"), seaweed("p/b"), moto("p/c"), no_etag))
    assert [obj.fingerprint for obj in listed] == [None, HEX, HEX, HEX, None]
    only = both(canned, page(no_etag, no_etag.replace("p/n", "p/o")))
    assert [obj.fingerprint for obj in only] == [None, None]


def test_sizes(canned: Canned) -> None:
    listed = both(
        canned, page(aws("p/a", size=0), aws("p/b", size=5 * 1024**4), aws("p/c", size=7))
    )
    assert [obj.size for obj in listed] == [0, 5 * 1024**4, 7]
    both(canned, page(aws("p/a").replace("<Size>64</Size>", "<Size> 64 </Size>")))
    both(canned, page(aws("p/a").replace("<Size>64</Size>", "<Size>&#54;4</Size>")))


def test_common_prefixes_and_pagination_are_botocores(canned: Canned) -> None:
    first = page(
        aws("p/a"),
        head="<Delimiter>/</Delimiter>",
        tail="<CommonPrefixes><Prefix>p/d%20ir/</Prefix></CommonPrefixes>"
        "<NextContinuationToken>tok+en/=</NextContinuationToken>",
    ).replace(b"<IsTruncated>false", b"<IsTruncated>true")
    second = page(aws("p/z"), head="<Delimiter>/</Delimiter>")
    canned.answers = [(200, first), (200, second)]
    pages = list(s3_listing.paginate(canned.client, Bucket="b", Prefix="p/", Delimiter="/"))
    assert [obj.key for p in pages for obj in objects(p)] == ["p/a", "p/z"]
    assert pages[0]["CommonPrefixes"] == [{"Prefix": "p/d ir/"}]
    assert "continuation-token=tok%2Ben%2F%3D" in canned.urls[-1]
    assert all(s3_listing.MARKER not in url and "Preloadstorage" not in url for url in canned.urls)


SAMPLES = {
    "aws": page(*(aws(key, size=i) for i, key in enumerate(ODD_KEYS_URL))),
    "seaweedfs": page(*(seaweed(key, size=i) for i, key in enumerate(ODD_KEYS_URL))),
    "moto": page(*(moto(key, size=i) for i, key in enumerate(ODD_KEYS_URL))),
    "entities": page(
        aws("p/a&amp;b&lt;&#x41;&#233;\r\n&#13;"), seaweed("p/\u00e9\U0001f600"), encoding=None
    ),
    "mixed": page(
        aws("p/a", modified="2026-11-28T10:00:00.123456789Z"),
        seaweed("p/b", tag=f"{HEX}-12"),
        moto("p/c", modified="2026-11-28T10:00:00+00:00"),
        "<Contents><Key>p/d</Key><Size>3</Size>"
        "<LastModified>2024-02-29T23:59:59.5Z</LastModified></Contents>",
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_parse_page_agrees_with_botocores_parser(name: str) -> None:
    """The parser alone, on any botocore (before URL decoding, which is botocore's rule)."""
    from botocore.parsers import RestXMLParser

    body = SAMPLES[name]
    model = Canned().client.meta.service_model.operation_model("ListObjectsV2")
    modeled = RestXMLParser().parse(
        {"body": body, "headers": {}, "status_code": 200}, model.output_shape
    )
    parsed = parse_page(body)
    assert parsed is not None
    remainder, entries = parsed
    expected = [
        (item["Key"], item["Size"], item["LastModified"], etag(item.get("ETag")))
        for item in modeled["Contents"]
    ]
    assert entries == expected
    assert [repr(entry) for entry in entries] == [repr(entry) for entry in expected]
    rest = RestXMLParser().parse(
        {"body": remainder, "headers": {}, "status_code": 200}, model.output_shape
    )
    assert "Contents" not in rest
    assert rest == {key: value for key, value in modeled.items() if key != "Contents"}


# -- what is left to botocore ----------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        page(aws("p/a"), "<!-- a comment -->"),
        page(aws("p/<![CDATA[x]]>")),
        page(aws("p/a&nbsp;b")),
        page(aws("p/a & b")),
        page(aws("p/a&#0;")),
        page(aws("p/a&#xFFFE;")),
        page(aws("p/ctl\x01")),
        page(aws("p/a").replace("<Size>64</Size>", "")),
        page(aws("p/a").replace("<LastModified>2026-11-28T10:00:00.000Z</LastModified>", "")),
        page(aws("p/a").replace("<Key>p/a</Key>", "")),
        page(aws("p/a").replace("<Size>64</Size>", "<Size>64</Size><Key>p/b</Key>")),
        page(aws("p/a").replace("<Size>64</Size>", "<Size>sixty</Size>")),
        page(aws("p/a").replace("<Contents>", '<Contents xmlns="">')),
        page(aws("p/a"), "<Contents/>"),
        page(aws("p/a").replace("</StorageClass>", "</Storage>")),
        page(aws("p/a").replace("<Key>p/a</Key>", "<Key>p/<b>a</b></Key>")),
        page(aws("p/a", modified="not a date")),
        page(aws("p/a", modified="2026-11-28T10:00:60Z")),
        page(aws("p/a"))[:-40],
        page(aws("p/a")).replace(b"p/a", b"p/\xff"),
    ],
    ids=lambda body: body[170:230].decode(errors="replace"),
)
def test_pages_the_fast_path_leaves_to_botocore(canned: Canned, body: bytes) -> None:
    untouched(canned, body)


def test_error_answers_are_untouched(canned: Canned) -> None:
    error = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>no</Message></Error>"
    calls = (
        lambda: list(s3_listing.paginate(canned.client, Bucket="b", Prefix="p/")),
        lambda: [canned.client.list_objects_v2(Bucket="b", Prefix="p/")],
    )
    for status in (403, 500, 200):  # 200: an error only where botocore checks for one
        canned.answers = [(status, error)]
        outcomes: list[tuple[str, Any]] = []
        for call in calls:
            try:
                outcomes.append(("listed", [objects(p) for p in call()]))
            except ClientError as exc:
                outcomes.append(("error", exc.response["Error"]["Code"]))
        assert outcomes[0] == outcomes[1]
        if status >= 300:
            assert outcomes[0] == ("error", "AccessDenied")
    response = {"status_code": 404, "body": page(aws("p/a")), "headers": {}}
    custom: dict[str, Any] = {}
    s3_listing._CALL.marked = True
    s3_listing._before_parse(response_dict=response, customized_response_dict=custom)
    assert custom == {} and response["body"] == page(aws("p/a"))


def test_unmarked_calls_on_an_installed_client_are_untouched(canned: Canned) -> None:
    s3_listing.install(canned.client)
    s3_listing.install(canned.client)  # idempotent
    body = page(aws("p/a"))
    assert "Contents" in canned.modeled(body)
    (fast,) = canned.fast(body)
    assert (OBJECTS in fast) is FAST
    modeled = canned.modeled(body)  # right after a marked call, on the same thread
    assert "Contents" in modeled and OBJECTS not in modeled
    paginator = canned.client.get_paginator("list_objects_v2")
    assert all("Contents" in p for p in paginator.paginate(Bucket="b", Prefix="p/"))


def test_max_items_and_starting_token_go_to_botocore(canned: Canned) -> None:
    body = page(aws("p/a"), aws("p/b"))
    (limited,) = canned.fast(body, PaginationConfig={"MaxItems": 1})
    assert OBJECTS not in limited and [obj.key for obj in objects(limited)] == ["p/a"]


def test_disabled_for_the_benchmark(canned: Canned, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_listing, "_ENABLED", False)
    (listed,) = canned.fast(page(aws("p/a")))
    assert OBJECTS not in listed and [obj.key for obj in objects(listed)] == ["p/a"]


@pytest.mark.skipif(not FAST, reason="botocore without before-parse: nothing to count")
def test_parse_page_is_looked_up_on_s3_listing(
    canned: Canned, monkeypatch: pytest.MonkeyPatch
) -> None:
    # benchmarks/scale.py counts fast-parsed pages by replacing s3_listing.parse_page
    # (the parser itself lives in _s3_listing_parser).
    calls: list[bytes] = []

    def counting(body: bytes) -> Any:
        calls.append(body)
        return parse_page(body)

    monkeypatch.setattr(s3_listing, "parse_page", counting)
    (listed,) = canned.fast(page(aws("p/a")))
    assert len(calls) == 1 and [obj.key for obj in objects(listed)] == ["p/a"]


def test_botocore_checks_the_small_remainder(
    canned: Canned, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ours runs before botocore's "200 with an error" check, which then parses only
    the page without its objects (a full ElementTree parse of each page otherwise)."""
    import botocore.handlers as handlers

    if not (FAST and hasattr(handlers, "_handle_200_error")):
        pytest.skip("this botocore checks 200 errors after parsing")
    seen: list[bytes] = []
    check = handlers._looks_like_special_case_error

    def spy(status_code: int, body: bytes) -> bool:
        seen.append(body)
        return bool(check(status_code, body))

    monkeypatch.setattr(handlers, "_looks_like_special_case_error", spy)
    canned.fast(page(aws("p/a"), aws("p/b")))
    assert seen and b"<Contents>" not in seen[-1] and b"<IsTruncated>" in seen[-1]


def test_etag_matches_the_adapters_normalisation() -> None:
    from preloadstorage.backends import s3

    today = getattr(s3, "_etag", None)
    if today is None or today is etag:
        pytest.skip("the adapter uses s3_listing.etag itself")
    for value in (None, "", HEX, f'"{HEX}"', f'""{HEX}"', HEX.upper(), f"{HEX}-2", f"{HEX}\n", "x"):
        assert etag(value) == today(value)


def test_parse_page_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = page(*(aws(f"p/{i:04d}", size=i) for i in range(300)))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(parse_page, [body] * 16))
    assert all(result == results[0] for result in results)
    assert results[0] is not None and len(results[0][1]) == 300


# -- real servers ----------------------------------------------------------------------------
REAL_KEYS = [
    "a b.css",
    "plus+pct%20.txt",
    "ü/ñ.js",
    "x&y<z>.txt",
    "q\"'.txt",
    "ctl\x01\x1f.txt",
    "cr\r.txt",
    "tab\tnl\n.txt",
    "dir/sub dir/file.css",
    "dir/€.css",
    "empty",
]


def _put_odd_keys(target: Target, bucket: str) -> list[str]:
    client = target.client
    stored = []
    for number, name in enumerate(REAL_KEYS):
        key = f"static/{name}"
        try:
            client.put_object(
                Bucket=bucket, Key=key, Body=b"" if name == "empty" else b"x" * number
            )
        except ClientError:
            if "\n" in name:  # moto's routing refuses a newline in the path
                continue
            raise
        stored.append(key)
    # A multipart object: a "-2" ETag.
    key = "static/multipart.bin"
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    for number, data in enumerate((b"a" * 5 * 1024 * 1024, b"b" * 10), start=1):
        part = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=data
        )
        parts.append({"ETag": part["ETag"], "PartNumber": number})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    return [*stored, key]


def test_real_server_lists_the_same_both_ways(s3: Target) -> None:
    bucket = s3.new_bucket()
    keys = _put_odd_keys(s3, bucket)
    client = s3.client
    for params in (
        {"Prefix": "static/", "PaginationConfig": {"PageSize": 3}},
        {"Prefix": "static/", "Delimiter": "/", "PaginationConfig": {"PageSize": 2}},
        {"Prefix": "static/dir/"},
        {"Prefix": "static/", "EncodingType": "url"},
        {"Prefix": "static/", "StartAfter": "static/dir/"},
    ):
        fast_pages = list(s3_listing.paginate(client, Bucket=bucket, **params))
        plain = client.get_paginator("list_objects_v2")
        modeled_pages = list(plain.paginate(Bucket=bucket, **params))
        assert any(OBJECTS in page for page in fast_pages) is FAST, params
        assert not any(OBJECTS in page for page in modeled_pages)
        same(
            [obj for page in fast_pages for obj in objects(page)],
            [obj for page in modeled_pages for obj in objects(page)],
        )
        assert [p.get("CommonPrefixes") for p in fast_pages] == [
            p.get("CommonPrefixes") for p in modeled_pages
        ]
    listed = [
        obj
        for page in s3_listing.paginate(client, Bucket=bucket, Prefix="static/")
        for obj in objects(page)
    ]
    assert sorted(obj.key for obj in listed) == sorted(keys)
    fingerprints = {obj.key: obj.fingerprint for obj in listed}
    assert fingerprints["static/multipart.bin"] is not None
    assert fingerprints["static/multipart.bin"].endswith("-2")
    assert fingerprints["static/empty"] == "d41d8cd98f00b204e9800998ecf8427e"
