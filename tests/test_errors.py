"""Error texts: names, causes, no secrets."""

from __future__ import annotations

from preloadstorage.errors import SyncFailed, describe, redact


def test_sync_failed_names_files_and_causes() -> None:
    exc = SyncFailed("uploaded to", "s3://b/static/", [("css/a.css", RuntimeError("AccessDenied"))])
    assert "RuntimeError: AccessDenied: css/a.css" in str(exc)
    assert "s3://b/static/" in str(exc) and exc.names == ["css/a.css"]


def test_secrets_are_redacted() -> None:
    text = (
        "GET https://x/b?X-Amz-Signature=abc123&X-Amz-Credential=AKIA%2F&sig=zzz AccountKey=Eby8=="
    )
    out = redact(text)
    assert "abc123" not in out and "AKIA" not in out and "zzz" not in out and "Eby8" not in out
    assert describe(RuntimeError("boom\nmore")) == "RuntimeError: boom"
