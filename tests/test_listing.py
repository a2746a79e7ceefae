"""The run's listing in the background: overlap, errors, the state read, and when it starts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from preloadstorage.contract import ListingDenied, RemoteObject
from preloadstorage.listing import Listing
from preloadstorage.state import STATE_NAME
from tests.conftest import Memory, StaticTree
from tests.test_sync import FakeAdapter

STATE_KEY = "s/" + STATE_NAME


class SlowListing(FakeAdapter):
    """Lists the state object first, then waits until the state was read: a listing that
    finished only after the state's GET proves the two overlapped."""

    def __init__(self) -> None:
        super().__init__()
        self.state_read = threading.Event()
        self.threads: list[str] = []

    def list(self) -> Iterator[RemoteObject]:
        self._call("list")
        self.threads.append(threading.current_thread().name)
        for key in sorted(self.objects, key=lambda k: k != STATE_KEY):  # the state first
            yield self._remote(key)
            if key == STATE_KEY:
                assert self.state_read.wait(5), "the state was not read during the listing"

    def read(self, name: str) -> bytes | None:
        data = super().read(name)
        if name == STATE_NAME:
            self.state_read.set()
        return data


def test_state_is_read_while_the_listing_goes_on_and_hidden_from_it() -> None:
    adapter = SlowListing()
    adapter.objects = {STATE_KEY: b"{}", "s/a.css": b"a", "s/b.js": b"b"}
    listing = Listing(adapter).start()
    assert [o.key for o in listing.objects()] == ["s/a.css", "s/b.js"]
    assert listing.state() == b"{}"
    assert adapter.threads == ["preloadstorage-listing"]
    assert adapter.calls == ["list", f"read {STATE_NAME}"]  # one GET, not two


def test_a_state_the_listing_does_not_show_is_never_read() -> None:
    adapter = FakeAdapter()
    adapter.objects = {"s/a.css": b"a"}
    listing = Listing(adapter)  # not started: lists on this thread
    assert [o.key for o in listing.objects()] == ["s/a.css"]
    assert listing.state() is None
    assert adapter.calls == ["list"]


def test_without_listing_permission_the_state_is_read_directly() -> None:
    adapter = FakeAdapter()
    adapter.objects = {STATE_KEY: b"{}"}
    adapter.deny_list = True
    listing = Listing(adapter).start()
    with pytest.raises(ListingDenied):
        listing.objects()
    assert listing.state() == b"{}"


def test_a_failed_background_listing_raises_on_the_asking_thread() -> None:
    class Broken(FakeAdapter):
        def list(self) -> Iterator[RemoteObject]:
            raise RuntimeError("NoSuchBucket: create the bucket")
            yield  # pragma: no cover

    listing = Listing(Broken()).start()
    with pytest.raises(RuntimeError, match="NoSuchBucket"):
        listing.objects()


def test_the_command_storage_starts_its_listing_when_created(
    memory: Memory, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest storage reads its manifest in __init__: the listing starts before
    that GET, in the background, and the run uses it (one listing, no second one)."""
    memory.run()  # a first deploy, so the re-run has a manifest and a state to read
    seen: list[tuple[str, str]] = []
    run = Listing._run

    def recording_run(listing: Any) -> None:
        seen.append(("list", threading.current_thread().name))
        run(listing)

    monkeypatch.setattr(Listing, "_run", recording_run)
    result = memory.run()
    assert result.exit_code == 0, result.stderr
    assert seen == [("list", "preloadstorage-listing")]
    assert memory.requests.get("list") == 1


def test_work_meanwhile_advances_only_while_the_listing_is_coming() -> None:
    released = threading.Event()

    class Held(FakeAdapter):
        def list(self) -> Iterator[RemoteObject]:
            assert released.wait(5)
            yield from super().list()

    steps: list[int] = []

    def work() -> Iterator[None]:
        for step in range(100):
            steps.append(step)
            if step == 3:
                released.set()  # the listing may finish now: the work stops soon after
                while not listing._objects.done():
                    threading.Event().wait(0.01)
            yield

    adapter = Held()
    adapter.objects = {"s/a.css": b"a"}
    listing = Listing(adapter).start()
    assert [o.key for o in listing.objects(work())] == ["s/a.css"]
    assert steps == [0, 1, 2, 3]
    assert Listing(FakeAdapter()).objects(work()) == []  # listed here: nothing to overlap
    assert steps == [0, 1, 2, 3]
