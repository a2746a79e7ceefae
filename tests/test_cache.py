"""PreloadCache: lazy single listing, pending deletes, folders."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from preloadstorage.cache import PreloadCache
from preloadstorage.contract import RemoteObject

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def obj(key: str, fp: str = "x") -> RemoteObject:
    return RemoteObject(key, 1, NOW, fp)


def make(keys: list[str]) -> tuple[PreloadCache, list[int], list[str]]:
    calls: list[int] = []
    stats: list[str] = []

    def loader() -> Iterable[RemoteObject]:
        calls.append(1)
        return [obj(k) for k in keys]

    def stat(key: str) -> RemoteObject | None:
        stats.append(key)
        return None

    return PreloadCache(loader, stat), calls, stats


def test_lists_once_and_lazily() -> None:
    cache, calls, stats = make(["s/a.css", "s/b/c.js"])
    assert calls == []
    assert cache.get("s/a.css") is not None
    assert cache.get("s/missing") is None
    assert cache.has_dir("s/b/")
    assert calls == [1]
    assert stats == []


def test_pending_delete_hides_but_keeps_ghost() -> None:
    cache, _, _ = make(["s/a.css"])
    assert cache.mark_deleted("s/a.css")
    assert cache.get("s/a.css") is None
    assert cache.current("s/a.css") is not None
    assert not cache.has_dir("s/")
    assert cache.pending_deletes() == ["s/a.css"]
    cache.keep("s/a.css")
    assert cache.get("s/a.css") is not None
    assert cache.pending_deletes() == []
    assert cache.has_dir("s/")


def test_record_and_forget_keep_folders_current() -> None:
    cache, _, _ = make([])
    assert not cache.has_dir("")
    cache.record(obj("s/x/y.css"))
    assert cache.has_dir("") and cache.has_dir("s/") and cache.has_dir("s/x/")
    cache.record(obj("s/x/y.css", "other"))  # overwrite counts once
    cache.forget("s/x/y.css")
    assert not cache.has_dir("s/x/") and not cache.has_dir("")


def test_listdir() -> None:
    cache, _, _ = make(["s/a.css", "s/b/c.js", "s/b/d/e.png", "s/f"])
    assert cache.listdir("s/") == (["b"], ["a.css", "f"])
    assert cache.listdir("s/b/") == (["d"], ["c.js"])
    cache.mark_deleted("s/b/c.js")
    assert cache.listdir("s/b/") == (["d"], [])


def test_fallback_stats_each_key_once() -> None:
    stats: list[str] = []

    def stat(key: str) -> RemoteObject | None:
        stats.append(key)
        return obj(key) if key == "s/here" else None

    cache = PreloadCache(lambda: None, stat)
    assert cache.get("s/here") is not None
    assert cache.get("s/gone") is None
    assert cache.get("s/here") is not None and cache.get("s/gone") is None
    assert stats == ["s/here", "s/gone"]
    assert not cache.complete
