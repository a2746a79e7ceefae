"""Deletes the way the adapter's server likes them: batches, with a one-by-one fallback.

Written once for every backend: the keys are split into ``delete_batch_size`` chunks
sent side by side; a key a batch reports as transient (:data:`RETRY_ALONE`), a batch
that fails as a whole, and every key of a server without a batch API (the adapter's
``delete_batch`` returns ``None``, after which no batch is tried again) go through
``delete_one``, whose client retries.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .contract import RETRY_ALONE, PreloadAdapter

__all__ = ["BatchedDeletes", "Failures"]

Failures = list[tuple[str, BaseException]]


class BatchedDeletes:
    """Deletes keys through one adapter; remembers when its server has no batch API."""

    def __init__(self, adapter: PreloadAdapter, max_workers: int) -> None:
        self.adapter = adapter
        self.max_workers = max_workers
        self._no_batch = False

    def __call__(self, keys: list[str]) -> Failures:
        """Delete ``keys``; return the ``(key, exception)`` of those that failed."""
        if not keys:
            return []
        failures, singles = self._batches(keys)
        if singles:
            with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
                for key, exc in zip(singles, pool.map(self._one, singles), strict=True):
                    if exc is not None:
                        failures.append((key, exc))
        return failures

    def _batches(self, keys: list[str]) -> tuple[Failures, list[str]]:
        size = self.adapter.delete_batch_size
        chunks = [keys[i : i + size] for i in range(0, len(keys), size)]
        failures: Failures = []
        singles: list[str] = []
        workers = max(1, min(self.max_workers, len(chunks)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for chunk, outcome in zip(chunks, pool.map(self._batch, chunks), strict=True):
                if outcome is None:  # no batch API here (or the batch failed as a whole)
                    singles.extend(chunk)
                    continue
                for key in chunk:
                    exc = outcome.get(key)
                    if exc is RETRY_ALONE:
                        singles.append(key)
                    elif exc is not None:
                        failures.append((key, exc))
        return failures, singles

    def _batch(self, chunk: list[str]) -> Any:
        if self._no_batch:
            return None
        try:
            outcome = self.adapter.delete_batch(chunk)
        except Exception:
            return None  # the single deletes retry, and report
        if outcome is None:
            self._no_batch = True
        return outcome

    def _one(self, key: str) -> BaseException | None:
        try:
            self.adapter.delete_one(key)
        except Exception as exc:
            return exc
        return None
