"""The raw List Blobs parse, server-free: what the SDK's models would hold, field by field
(the same parse against Azurite: tests/test_azure_storage.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree

from preloadstorage.backends._azure_listing import _blob, _rfc1123

PAGE = """<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/a/" ContainerName="c">
  <Prefix>s/</Prefix><MaxResults>2</MaxResults>
  <Blobs>
    <Blob>
      <Name Encoded="true">s/%EF%BF%BEodd%20name.css</Name>
      <Properties>
        <Last-Modified>Wed, 02 Dec 2026 03:04:05 GMT</Last-Modified>
        <Content-Length>6</Content-Length>
        <Content-Type>text/css</Content-Type>
        <Content-Encoding />
        <Content-Language>de</Content-Language>
        <Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5>
        <Cache-Control>max-age=60</Cache-Control>
        <Content-Disposition />
        <BlobType>BlockBlob</BlobType>
      </Properties>
      <Metadata><k>v</k><empty /></Metadata>
    </Blob>
    <Blob>
      <Name>s/plain.js</Name>
      <Properties><Content-Length>0</Content-Length><Content-MD5 /></Properties>
    </Blob>
  </Blobs>
  <NextMarker>2!token</NextMarker>
</EnumerationResults>"""


def blobs() -> list[dict[str, Any]]:
    return [_blob(element) for element in ElementTree.fromstring(PAGE).iterfind("Blobs/Blob")]


def test_every_field_as_the_sdk_maps_it() -> None:
    first, second = blobs()
    assert first == {
        "name": "s/\ufffeodd name.css",  # Encoded names are percent-decoded, as the SDK does
        "size": 6,
        "last_modified": datetime(2026, 12, 2, 3, 4, 5, tzinfo=timezone.utc),
        "md5": bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e"),
        "content_type": "text/css",
        "content_encoding": None,  # empty elements: None, as ContentSettings gives
        "content_language": "de",
        "content_disposition": None,
        "cache_control": "max-age=60",
        "metadata": {"k": "v", "empty": None},
    }
    assert second["name"] == "s/plain.js" and second["md5"] is None
    assert second["last_modified"] is None and second["metadata"] == {}


def test_dates_keep_their_offset() -> None:
    assert _rfc1123("Wed, 02 Dec 2026 05:04:05 +0200") == datetime(
        2026, 12, 2, 3, 4, 5, tzinfo=timezone.utc
    )
    assert _rfc1123(None) is None and _rfc1123("not a date") is None
