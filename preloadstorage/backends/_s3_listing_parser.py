"""The exact ListObjectsV2 page parser behind ``s3_listing``'s fast path: pure text work.

:func:`parse_page` reads a page's ``<Contents>`` with regular expressions built for the
page's layout (one ``split`` per page when every object has the same elements, one match
per object otherwise) and hands back the page without them, for botocore's modeled
parser to read the rest. No botocore event, client or request is involved here; how the
parse is hooked into a call is ``s3_listing``'s concern.

Exactness: once ``s3_listing`` has URL-decoded their keys where botocore would, the
entries give the same ``RemoteObject`` values as the modeled parse followed by
:func:`etag` (key, size, last-modified including its tzinfo, fingerprint). Whenever a
page holds anything this parser does not handle exactly (a comment, CDATA or DOCTYPE,
an unknown entity, an invalid character, a ``<Contents>`` element that is not a flat
list of elements, a missing Key/Size/LastModified, a repeated field),
:func:`parse_page` returns ``None`` and botocore parses the page as before.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

from botocore.utils import parse_timestamp

__all__ = ["Entry", "etag", "parse_page"]

#: One listed object as parsed from the body: key (XML-decoded, not yet URL-decoded),
#: size, last-modified, normalised ETag.
Entry = tuple[str, int, datetime, str | None]

_ETAG_RE = re.compile(r"^[0-9a-f]{32}(-[0-9]+)?$")
_FIELDS = ("Key", "LastModified", "ETag", "Size")
_REQUIRED = frozenset({"Key", "LastModified", "Size"})
_WS = "[ \t\r\n]*"
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
# A direct child of <Contents>: a text-only element, or (Owner, RestoreStatus) an
# element holding text-only elements.
_CHILD = re.compile(rf"{_WS}<({_NAME})>(?:([^<]*)|(?:{_WS}<({_NAME})>[^<]*</\3>)*{_WS})</\1>")
_TRAILING_WS = re.compile(_WS)
# Bytes that may appear in an XML 1.0 document (UTF-8): every control byte but TAB, LF, CR
# is refused (U+FFFE/U+FFFF are checked on the text; UTF-8 decoding refuses surrogates).
_XML_BYTES = b"\t\n\r" + bytes(range(0x20, 0x100))
_BAD_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)")
# Numeric references other than the quote servers put around every ETag ("&#34;").
_RARE_CHARREF = re.compile(r"&#(?!34;)")
_CHARREF = re.compile(r"&#(?:([0-9]+)|x([0-9a-fA-F]+));")
_REF = re.compile(r"&(?:#([0-9]+)|#x([0-9a-fA-F]+)|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_ISO_Z = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?Z")

_templates: dict[tuple[tuple[str, bool], ...], _Template] = {}


class _Unhandled(Exception):
    """The page holds something only botocore's own parser handles exactly."""


def etag(value: str | None) -> str | None:
    """Normalise an ETag; ``None`` for anything that is not an MD5 or multipart ETag."""
    normalised = (value or "").strip('"').lower()
    return normalised if _ETAG_RE.match(normalised) else None


def parse_page(body: bytes) -> tuple[bytes, list[Entry]] | None:
    """Split a ListObjectsV2 body into (the body without its ``<Contents>`` elements,
    one entry per object); ``None`` when botocore must parse the page itself."""
    if b"<Contents>" not in body:
        return None
    try:
        return _parse(body)
    except (_Unhandled, ValueError, OverflowError, TypeError):
        return None


class _Template:
    """Regular expressions that read every ``<Contents>`` with one sequence of children."""

    def __init__(self, shape: tuple[tuple[str, bool], ...]) -> None:
        parts = []
        for number, (name, simple) in enumerate(shape):
            if name in _FIELDS:
                parts.append(f"{_WS}<{name}>(?P<{name}>[^<]*)</{name}>")
            elif simple:
                parts.append(f"{_WS}<{name}>[^<]*</{name}>")
            else:  # Owner, RestoreStatus: text-only children
                inner = f"n{number}"
                parts.append(
                    f"{_WS}<{name}>(?:{_WS}<(?P<{inner}>{_NAME})>[^<]*</(?P={inner})>)*"
                    f"{_WS}</{name}>"
                )
        children = "".join(parts) + _WS
        #: One block's content (between <Contents> and </Contents>).
        self.block = re.compile(children)
        #: Every block of a page at once, for ``split``.
        self.page = re.compile(f"<Contents>{children}</Contents>")
        self.has_etag = any(name == "ETag" for name, _ in shape)
        wanted = _FIELDS if self.has_etag else ("Key", "LastModified", "Size")
        self.groups = tuple(self.block.groupindex[name] for name in wanted)


def _parse(body: bytes) -> tuple[bytes, list[Entry]]:
    text = body.decode("utf-8")  # botocore's parser reads every body as UTF-8
    if (
        "<!" in text  # comment, CDATA, DOCTYPE
        or "]]>" in text
        or body.translate(None, _XML_BYTES)  # control characters XML does not allow
        or "\ufffe" in text
        or "\uffff" in text
        or _BAD_AMP.search(text)
    ):
        raise _Unhandled
    if _RARE_CHARREF.search(text):
        for ref in _CHARREF.finditer(text):  # expat rejects a reference to a non-character
            _character(int(ref[1]) if ref[1] else int(ref[2], 16))
    count = text.count("<Contents>")
    if text.count("<Contents") != count or text.count("</Contents>") != count:
        raise _Unhandled  # <Contents/>, attributes, stray end tags
    first = text.index("<Contents>") + len("<Contents>")
    template = _template_for(text[first : text.index("</Contents>", first)])
    parts = template.page.split(text)
    stride = template.page.groups + 1
    if len(parts) == count * stride + 1:  # every block has the first one's shape
        gaps = parts[::stride]
        columns = [parts[group::stride] for group in template.groups]
    else:
        gaps, columns = _parse_blocks(text)
    keys, modified, *rest = columns
    keys = [_xml_text(key) if "&" in key or "\r" in key else key for key in keys]
    dates = _Dates()
    if len(rest) == 2:
        raw_tags, raw_sizes = rest
        tags = [etag(_etag_text(tag)) if tag is not None else None for tag in raw_tags]
    else:
        raw_sizes = rest[0]
        tags = [None] * len(keys)
    sizes = [int(_xml_text(size) if "&" in size else size) for size in raw_sizes]
    entries = list(zip(keys, sizes, map(dates.get, modified), tags, strict=True))
    return "".join(gaps).encode("utf-8"), entries


def _parse_blocks(text: str) -> tuple[list[str], list[list[Any]]]:
    """One block at a time, for pages whose blocks differ in shape."""
    head, *chunks = text.split("<Contents>")
    gaps = [head]
    columns: list[list[Any]] = [[], [], [], []]
    template = _template_for(chunks[0].partition("</Contents>")[0])
    for chunk in chunks:
        block, _, gap = chunk.partition("</Contents>")
        gaps.append(gap)
        match = template.block.fullmatch(block)
        if match is None:
            template = _template_for(block)
            match = template.block.fullmatch(block)
            if match is None:
                raise _Unhandled
        if template.has_etag:
            key, modified, tag, size = match.group(*template.groups)
        else:
            (key, modified, size), tag = match.group(*template.groups), None
        for column, value in zip(columns, (key, modified, tag, size), strict=True):
            column.append(value)
    return gaps, columns


def _etag_text(raw: str) -> str:
    if "&" not in raw and "\r" not in raw:
        return raw
    # Servers quote every ETag: "&quot;" (AWS) or "&#34;" (SeaweedFS).
    raw = raw.replace("&quot;", '"').replace("&#34;", '"')
    return _xml_text(raw) if "&" in raw or "\r" in raw else raw


def _template_for(block: str) -> _Template:
    """The template for blocks with ``block``'s sequence of children."""
    shape: list[tuple[str, bool]] = []
    position = 0
    while True:
        child = _CHILD.match(block, position)
        if child is None:
            break
        shape.append((child.group(1), child.group(2) is not None))
        position = child.end()
    trailing = _TRAILING_WS.match(block, position)
    if trailing is None or trailing.end() != len(block):
        raise _Unhandled
    key = tuple(shape)
    template = _templates.get(key)
    if template is None:
        names = [name for name, _ in shape]
        fields = [name for name in names if name in _FIELDS]
        if (
            len(fields) != len(set(fields))  # repeated: botocore's parse decides
            or not _REQUIRED.issubset(fields)  # missing: likewise
            or any(name in _FIELDS and not simple for name, simple in shape)
            or "Contents" in names
        ):
            raise _Unhandled
        if len(_templates) > 64:
            _templates.clear()
        template = _templates[key] = _Template(key)
    return template


def _xml_text(raw: str) -> str:
    """What an XML parser makes of element text: line ends normalised, then references."""
    return _REF.sub(_expand, raw.replace("\r\n", "\n").replace("\r", "\n"))


def _expand(ref: re.Match[str]) -> str:
    decimal, hexadecimal, name = ref.groups()
    if name:
        return _NAMED[name]
    return _character(int(decimal) if decimal else int(hexadecimal, 16))


def _character(code: int) -> str:
    """The character an XML character reference stands for; expat refuses others."""
    if not (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    ):
        raise _Unhandled
    return chr(code)


class _Dates:
    """LastModified values of one page, each distinct text parsed once.

    The usual ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` is built directly, with the tzinfo
    botocore's parser (dateutil) gives such a text on this machine (``tzlocal()`` when
    the local zone is named UTC, ``tzutc()`` otherwise, fraction digits past the sixth
    cut off), checked once per page against ``botocore.utils.parse_timestamp``, which
    parses any other text.
    """

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._zone: tzinfo | None = None

    def get(self, text: str) -> datetime:
        value = self._seen.get(text)
        if value is None:
            value = self._seen[text] = self._parse(text)
        return value

    def _parse(self, text: str) -> datetime:
        if "&" in text or "\r" in text:
            text = _xml_text(text)
        zone = self._zone
        if zone is not None and _ISO_Z.fullmatch(text):
            try:
                return _iso_z(text, zone)
            except ValueError:  # e.g. a leap second: botocore's own answer, error included
                pass
        value: datetime = parse_timestamp(text)
        if zone is None and _ISO_Z.fullmatch(text):
            if value.tzinfo is None or _iso_z(text, value.tzinfo) != value:
                raise _Unhandled
            self._zone = value.tzinfo
        return value


def _iso_z(text: str, zone: tzinfo) -> datetime:
    """A text matching ``_ISO_Z`` as dateutil reads it, in a third of the time: the
    positional constructor is far cheaper than ``datetime.replace()``."""
    day = datetime.fromisoformat(text[:19])
    fraction = text[20:-1]
    return datetime(
        day.year,
        day.month,
        day.day,
        day.hour,
        day.minute,
        day.second,
        int(fraction[:6].ljust(6, "0")) if fraction else 0,
        zone,
    )
