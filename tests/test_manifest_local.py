"""LocalManifestMixin without a server: the in-memory manifest storage against Django's.

The server-backed twin is tests/test_manifest.py (hooks, options and errors on moto).
"""

from __future__ import annotations

import json
from pathlib import Path

from django.templatetags.static import static
from django.test import override_settings

from preloadstorage.backends.memory import (
    MemoryAdapter,
    PreloadingInMemoryManifestStorage,
    PreloadingInMemoryStorage,
)
from preloadstorage.contract import RemoteObject, Upload
from preloadstorage.state import STATE_NAME
from tests.conftest import MEMORY_MANIFEST, Memory, StaticTree, local_collect

MANIFEST = "staticfiles.json"


def test_results_are_byte_identical_to_djangos(
    memory: Memory, tree: StaticTree, tmp_path: Path
) -> None:
    result = memory.run()
    assert result.exit_code == 0, result.stderr
    expected = local_collect(tmp_path)
    assert memory.objects() == expected
    assert memory.requests == {"get": 1, "list": 1, "put": len(expected) + 1}


def test_edits_and_clear_stay_byte_identical(
    memory: Memory, small_tree: StaticTree, tmp_path: Path
) -> None:
    assert memory.run().exit_code == 0
    assert memory.run().exit_code == 0
    assert memory.requests == {"get": 2, "list": 1}  # listing, manifest, run state
    assert memory.objects() == local_collect(tmp_path)

    # The stylesheet base.css imports changes, one file goes: the cascade and --clear
    # end where a fresh Django collection does.
    small_tree.write("css/vars.css", ":root { --c: green; }\n")
    small_tree.path("js/app.js").unlink()
    result = memory.run("--clear")
    assert result.exit_code == 0, result.stderr
    assert memory.objects() == local_collect(tmp_path)
    assert not any(key == MANIFEST for op, key in memory.writes if op == "delete")


def test_manifest_is_written_after_every_file_it_names(
    memory: Memory, small_tree: StaticTree
) -> None:
    assert memory.run().exit_code == 0
    puts = [key for op, key in memory.writes if op == "put"]
    # Every object, then the manifest, then the run state.
    assert puts[-2:] == [MANIFEST, STATE_NAME]
    assert set(puts[:-2]) == set(memory.objects()) - {MANIFEST}
    named = json.loads(memory.objects()[MANIFEST])["paths"]
    assert set(named.values()) <= set(memory.objects())

    small_tree.write("css/vars.css", ":root { --c: blue; }\n")
    assert memory.run().exit_code == 0
    named = json.loads(memory.objects()[MANIFEST])["paths"]
    puts = [key for op, key in memory.writes if op == "put"]
    # The edited file, its hashed copy, the stylesheet importing it; then the manifest.
    assert puts[-2:] == [MANIFEST, STATE_NAME]
    assert set(puts[:-2]) == {"css/vars.css", named["css/vars.css"], named["css/base.css"]}


# -- failures --------------------------------------------------------------------------------
class RefusingAdapter(MemoryAdapter):
    """Refuses writes of keys containing :attr:`refused` (a bucket policy, say)."""

    refused = "vars."

    def upload(self, upload: Upload) -> RemoteObject:
        if self.refused in upload.key:
            raise PermissionError(f"AccessDenied: PutObject on {upload.key} refused")
        return super().upload(upload)


class RefusingManifestStorage(PreloadingInMemoryManifestStorage):
    preload_adapter_class = RefusingAdapter


def test_failed_upload_keeps_the_live_manifest_and_deletes_nothing(
    memory: Memory, small_tree: StaticTree
) -> None:
    small_tree.write("css/old.css", "s { color: red; }\n")
    assert memory.run().exit_code == 0
    before = memory.objects(state=True)
    small_tree.path("css/old.css").unlink()
    small_tree.write("css/vars.css", ":root { --c: blue; }\n")

    result = memory.run("--clear", backend=f"{__name__}.RefusingManifestStorage")

    assert result.exit_code != 0
    message = str(result.error)
    assert "css/vars." in message and "AccessDenied" in message
    assert "could not be written to memory://" in message
    after = memory.objects(state=True)
    assert after[MANIFEST] == before[MANIFEST]
    assert {k: v for k, v in after.items() if k in before} == before  # nothing deleted
    assert not any(op == "delete" for op, _ in memory.writes)
    assert ("put", MANIFEST) not in memory.writes
    assert "FAILED" in result.stderr  # the summary, at WARNING

    # Fixed: the next run sends only what is missing, then the manifest.
    result = memory.run("--clear")
    assert result.exit_code == 0, result.stderr
    named = json.loads(memory.objects()[MANIFEST])["paths"]
    puts = [key for op, key in memory.writes if op == "put"]
    assert puts[-2:] == [MANIFEST, STATE_NAME]
    assert set(puts[:-2]) == {"css/vars.css", named["css/vars.css"]}
    deleted = {key for op, key in memory.writes if op == "delete"}
    assert deleted == set(before) - set(memory.objects(state=True))
    assert {k for k in before if k.startswith("css/old.")} <= deleted
    assert set(named.values()) <= set(memory.objects())


def test_manifest_exists_when_the_command_returns(memory: Memory, small_tree: StaticTree) -> None:
    assert memory.run().exit_code == 0
    manifest = json.loads(memory.objects()[MANIFEST])
    assert set(manifest["paths"]) == {"css/base.css", "css/vars.css", "img/a.png", "js/app.js"}
    assert all(hashed in memory.objects() for hashed in manifest["paths"].values())


def test_web_process_reads_the_manifest_once_and_never_lists(
    memory: Memory, small_tree: StaticTree
) -> None:
    assert memory.run().exit_code == 0
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": MEMORY_MANIFEST},
    }
    memory.adapters.clear()
    with override_settings(STORAGES=storages):
        url = static("css/base.css")
        static("img/a.png")
    hashed = json.loads(memory.objects()[MANIFEST])["paths"]["css/base.css"]
    assert url.endswith(f"/{hashed}")
    assert memory.requests == {"get": 1}


# -- a separate manifest_storage ------------------------------------------------------------
class RefuseAllAdapter(RefusingAdapter):
    refused = ""


class RefusingStorage(PreloadingInMemoryStorage):
    preload_adapter_class = RefuseAllAdapter


def test_separate_manifest_storage(memory: Memory, small_tree: StaticTree) -> None:
    manifests = PreloadingInMemoryStorage(bucket_name="manifests")
    assert memory.run(manifest_storage=manifests).exit_code == 0
    assert set(memory.objects("manifests")) == {MANIFEST}
    assert MANIFEST not in memory.objects()
    named = json.loads(memory.objects("manifests")[MANIFEST])["paths"]
    assert set(named.values()) <= set(memory.objects())
    puts = [key for op, key in memory.writes if op == "put"]
    assert puts.index(MANIFEST) > max(puts.index(hashed) for hashed in named.values())


def test_separate_manifest_storage_that_refuses_writes_fails_the_command(
    memory: Memory, small_tree: StaticTree
) -> None:
    manifests = PreloadingInMemoryStorage(bucket_name="manifests")
    assert memory.run(manifest_storage=manifests).exit_code == 0
    live = memory.objects("manifests")[MANIFEST]
    small_tree.write("css/vars.css", ":root { --c: blue; }\n")

    refusing = RefusingStorage(bucket_name="manifests")
    result = memory.run(manifest_storage=refusing)

    assert result.exit_code != 0
    message = str(result.error)
    assert MANIFEST in message and "AccessDenied" in message
    assert "could not be written to memory://" in message
    # The previous manifest is still live: overwritten in place, never deleted first.
    assert memory.objects("manifests") == {MANIFEST: live}
    assert not any(op == "delete" for op, _ in memory.writes)
