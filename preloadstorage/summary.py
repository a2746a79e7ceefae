"""What really happened to the bucket: counters, the one-line summary, and progress.

collectstatic's own summary counts what the *command* did ("881 static files copied"),
which says nothing about requests or about files whose bytes were already there. The
summary here counts what reached the server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["SyncStats", "emit"]

logger = logging.getLogger("preloadstorage")


def _size(num: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num < 1024 or unit == "GiB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    raise AssertionError("unreachable")


class SyncStats:
    """Thread-safe counters of one collectstatic run."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.uploaded = 0
        self.uploaded_bytes = 0
        self.updated = 0
        self.unchanged = 0
        self.deleted = 0
        self.failed = 0
        self.requests: Counter[str] = Counter()

    def count_request(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] += 1

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self, where: str) -> str:
        seconds = time.monotonic() - self.started
        with self._lock:
            requests = ", ".join(f"{n} {op}" for op, n in sorted(self.requests.items()))
            failed = f", {self.failed} FAILED" if self.failed else ""
            updated = f"{self.updated} metadata updated, " if self.updated else ""
            return (
                f"preloadstorage: {where}: {self.uploaded} uploaded "
                f"({_size(self.uploaded_bytes)}), {updated}{self.unchanged} unchanged, "
                f"{self.deleted} deleted{failed} in {seconds:.2f} s; "
                f"requests: {requests or 'none'}"
            )


def emit(message: str, output: Any, level: int = logging.INFO) -> None:
    """Send ``message`` to the ``preloadstorage`` logger if it is configured, else print it.

    Django's default logging has no handler for this logger (and the root logger drops
    INFO), so by default the line goes to the command's output, where
    ``call_command(stdout=...)`` and ``--verbosity 0`` apply as usual. A ``preloadstorage``
    entry in ``LOGGING`` routes it through logging instead.
    """
    if logger.handlers or output is None:
        logger.log(level, message)
    elif getattr(output, "verbosity", 1) >= 1 or level >= logging.WARNING:
        stream = output.stderr if level >= logging.WARNING else output.stdout
        stream.write(message)


class Progress:
    """Prints "uploaded 340/1200" every ``interval`` seconds while the barrier waits.

    Silent for short runs, one line per interval otherwise: readable in a terminal and
    in a CI log alike.
    """

    def __init__(self, output: Any, interval: float) -> None:
        self.output = output
        self.interval = interval
        self._last = time.monotonic()

    def tick(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.interval <= 0 or now - self._last < self.interval or done >= total:
            return
        self._last = now
        percent = 100 * done // max(total, 1)
        emit(f"preloadstorage: uploaded {done}/{total} ({percent}%)...", self.output)
