"""The adapter contract: checked when an adapter class is defined, stable digests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import pytest

from preloadstorage.backends.memory import MemoryAdapter
from preloadstorage.contract import PreloadAdapter, RemoteObject, Upload, metadata_digest
from preloadstorage.fingerprints import Payload

REQUIRED = [
    "delete_one",
    "list",
    "matches",
    "prepare",
    "read",
    "stat",
    "update_metadata",
    "upload",
    "where",
]


def test_an_adapter_missing_methods_fails_at_class_creation_naming_them() -> None:
    with pytest.raises(TypeError) as caught:

        class Partial(PreloadAdapter):
            def where(self) -> str:
                return "x://"

            def list(self) -> Iterable[RemoteObject]:
                return []

    message = str(caught.value)
    assert message.startswith("test_an_adapter_missing_methods")  # the qualified name
    missing = ", ".join(name for name in REQUIRED if name not in ("where", "list"))
    assert f"Partial does not implement {missing} of" in message
    assert "abstract=True" in message


def test_every_required_method_is_named() -> None:
    with pytest.raises(TypeError) as caught:

        class Empty(PreloadAdapter):
            pass

    assert ", ".join(REQUIRED) in str(caught.value)


def test_abstract_base_classes_are_allowed() -> None:
    class Base(PreloadAdapter, abstract=True):
        def where(self) -> str:
            return "base://"

    base: Any = Base
    with pytest.raises(TypeError, match="Base"):
        base(storage=None)  # still abstract: it cannot be instantiated

    # A subclass of it is checked again, and inherits what the base implemented.
    with pytest.raises(TypeError) as caught:

        class Child(Base):
            pass

    assert "where" not in str(caught.value) and "upload" in str(caught.value)


def test_optional_methods_have_defaults() -> None:
    class Complete(MemoryAdapter):
        pass

    defaults = PreloadAdapter.__dict__  # the contract's own implementations
    assert {"metadata_matches", "delete_batch", "explain", "prefix", "key"} <= set(defaults)
    instance = Complete(storage=None)
    remote = RemoteObject("k", 1, datetime.now(timezone.utc))
    upload = Upload("k", "k", Payload(data=b"k"))
    assert PreloadAdapter.metadata_matches(instance, remote, upload) is None
    assert PreloadAdapter.delete_batch(instance, ["k"]) is None
    error = RuntimeError("boom")
    assert instance.explain(error, "write") is error


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"a": 1, "b": "x"}, {"b": "x", "a": 1}, True),
        ({"m": {"y": 2, "x": 1}}, {"m": {"x": 1, "y": 2}}, True),
        ({"cache_control": "max-age=1"}, {"cache_control": "max-age=2"}, False),
        ({}, {"content_type": None}, False),
    ],
)
def test_metadata_digest_is_stable_and_order_independent(
    a: dict[str, Any], b: dict[str, Any], same: bool
) -> None:
    assert (metadata_digest(a) == metadata_digest(b)) is same
    assert metadata_digest(a) == metadata_digest(dict(a))
    assert len(metadata_digest(a)) == 16


def test_metadata_digest_does_not_change_between_releases() -> None:
    # Recorded in every bucket's run state: a new digest would re-apply all metadata.
    assert metadata_digest({}) == "44136fa355b3678a"
    css = {"content_type": "text/css", "cache_control": "max-age=60"}
    assert metadata_digest(css) == "0d9292cdd2802ca1"
    upload = Upload("a", "a", Payload(data=b""), metadata={"b": 1})
    assert upload.metadata_digest == metadata_digest({"b": 1})
