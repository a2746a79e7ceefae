"""The README's "Writing an adapter" code is the reference adapter's, and it runs."""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

import pytest

from preloadstorage.backends import memory as backend
from tests.conftest import REPO, Memory, StaticTree


def snippet(marker: str) -> str:
    """The code between ``<!-- marker:start -->`` and ``<!-- marker:end -->``."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- {marker}:start -->\n```python\n(.*?)```\n<!-- {marker}:end -->",
        readme,
        re.DOTALL,
    )
    assert found, f"README.md has no '{marker}' snippet"
    return found.group(1)


def test_the_readme_shows_the_memory_adapter_as_it_is() -> None:
    assert snippet("memory-adapter") == inspect.getsource(backend.MemoryAdapter), (
        "README.md's adapter listing differs from preloadstorage/backends/memory.py: "
        "paste inspect.getsource(MemoryAdapter) between the memory-adapter markers."
    )


def test_the_readme_adapter_collects_static_files(
    memory: Memory, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace: dict[str, Any] = dict(vars(backend))  # the module's imports
    exec(compile(snippet("memory-adapter"), "README.md", "exec"), namespace)
    adapter = namespace["MemoryAdapter"]
    assert adapter is not backend.MemoryAdapter

    class ReadmeStorage(backend.PreloadingInMemoryManifestStorage):
        preload_adapter_class = adapter

    monkeypatch.setattr(sys.modules[__name__], "ReadmeStorage", ReadmeStorage, raising=False)
    result = memory.run(backend=f"{__name__}.ReadmeStorage")
    assert result.exit_code == 0, result.stderr
    assert "css/vars.css" in memory.objects() and "staticfiles.json" in memory.objects()
    assert "memory://: 9 uploaded" in result.stdout
    before = memory.objects(state=True)
    result = memory.run(backend=f"{__name__}.ReadmeStorage")
    assert result.exit_code == 0, result.stderr
    assert "9 unchanged, 0 deleted" in result.stdout
    assert "requests: 2 get, 1 list\n" in result.stdout  # nothing written
    assert memory.objects(state=True) == before


def test_the_readme_storage_glue_builds_storage_classes() -> None:
    from storages.base import BaseStorage

    namespace: dict[str, Any] = {
        "MyCloudStorage": BaseStorage,  # any django-storages backend
        "MyCloudAdapter": backend.MemoryAdapter,
    }
    exec(compile(snippet("storage-glue"), "README.md", "exec"), namespace)
    storage = namespace["PreloadingMyCloudStorage"](max_workers=3)
    assert isinstance(storage.preload_adapter, backend.MemoryAdapter)
    assert storage.max_workers == 3
    manifest_class = namespace["PreloadingMyCloudManifestStorage"]
    assert manifest_class.__mro__.index(namespace["PreloadingMyCloudStorage"]) > 0
