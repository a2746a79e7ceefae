"""A run's listing, fetched in the background: the objects, and the run state.

The first question of a collectstatic run (``exists()`` of the first file) needs the
whole listing, and the first content check needs the run state, read with one GET once
the listing shows it exists. Fetched in that order on the command's thread, both are
waited for one after the other, and after the storage's own start-up (client creation,
the manifest's GET). :class:`Listing` starts the listing when the storage is created
(:meth:`Listing.start`) and reads the state as soon as the listing's pages show it,
while the rest of the pages are still coming, so the waits overlap.

Nothing is guessed: the run still uses the complete listing of this run (it is taken
after the command started), errors reach the command's thread unchanged, and a state
object the listing does not show is never read (no request for it on a first deploy).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future

from .contract import MaybeMissing, PreloadAdapter, RemoteObject
from .state import STATE_NAME

__all__ = ["Listing"]

_DONE = object()


class Listing:
    """The objects under ``adapter.prefix()`` but the run state's, and the state's bytes."""

    def __init__(self, adapter: PreloadAdapter) -> None:
        self.adapter = adapter
        self.state_key = adapter.key(STATE_NAME)
        self._objects: Future[list[RemoteObject]] = Future()
        self._state: Future[bytes | None] | None = None
        #: Whether the listing showed the state object (``None``: not listed yet).
        self.state_listed: bool | None = None
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> Listing:
        """List in a background thread; :meth:`objects` waits for it."""
        with self._lock:
            if self._started:
                return self
            self._started = True
        thread = threading.Thread(target=self._run, name="preloadstorage-listing", daemon=True)
        thread.start()
        return self

    def objects(self, meanwhile: Iterator[object] | None = None) -> list[RemoteObject]:
        """Every listed object (the state's own object left out), once listed.

        Lists on the calling thread when :meth:`start` was never called. While a
        background listing is still coming, ``meanwhile`` (work the caller would do
        later anyway) is advanced one step at a time, until the listing is in or the
        work is done. Raises what the listing raised
        (:class:`~preloadstorage.contract.ListingDenied`, or the adapter's explained
        error).
        """
        with self._lock:
            here = not self._started
            self._started = True
        if here:
            self._run()
        elif meanwhile is not None:
            while not self._objects.done():
                if next(meanwhile, _DONE) is _DONE:
                    break
        return self._objects.result()

    def state(self) -> bytes | None:
        """The state object's bytes, once :meth:`objects` returned or raised: read as
        soon as the listing showed it, or now when the listing could not tell (no
        listing permission); ``None`` if missing."""
        if self._state is None:
            if self.state_listed is False:
                return None
            self._state = Future()
            self._read_state(self._state)
        try:
            return self._state.result()
        except MaybeMissing:
            return None

    # -- the background work --------------------------------------------------------
    def _run(self) -> None:
        listed: list[RemoteObject] = []
        try:
            for obj in self.adapter.list():
                if obj.key == self.state_key:
                    self._read_state_soon()
                else:
                    listed.append(obj)
        except BaseException as exc:  # handed to the command's thread by objects()
            self._objects.set_exception(exc)
            return
        self.state_listed = self._state is not None
        self._objects.set_result(listed)

    def _read_state_soon(self) -> None:
        if self._state is not None:
            return
        self._state = Future()
        thread = threading.Thread(
            target=self._read_state, args=(self._state,), name="preloadstorage-state", daemon=True
        )
        thread.start()

    def _read_state(self, future: Future[bytes | None]) -> None:
        try:
            future.set_result(self.adapter.read(STATE_NAME))
        except BaseException as exc:
            future.set_exception(exc)
