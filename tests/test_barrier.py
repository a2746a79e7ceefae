"""PreloadBarrierMixin through the in-memory reference adapter: post_process() as barrier.

Every write of the run is waited for in post_process(); a failure is yielded (the stock
command turns it into a CommandError naming the files), the manifest and deletes wait
for every write, and the hooks run in their documented order.
"""

from __future__ import annotations

from typing import Any

from preloadstorage.backends.memory import MemoryAdapter, PreloadingInMemoryManifestStorage
from preloadstorage.contract import RemoteObject, Upload
from tests.conftest import Memory, StaticTree

EVENTS: list[str] = []


class RefusingAdapter(MemoryAdapter):
    """Refuses to write one file, after the others were handed to the pool."""

    def upload(self, upload: Upload) -> RemoteObject:
        if upload.name == "js/app.js":
            raise PermissionError("AccessDenied: s3:PutObject on js/app.js")
        EVENTS.append(f"upload {upload.name}")
        return super().upload(upload)


class RefusingStorage(PreloadingInMemoryManifestStorage):
    preload_adapter_class = RefusingAdapter


class HookedStorage(PreloadingInMemoryManifestStorage):
    """Records when the barrier's hooks run, relative to the uploads."""

    def preload_before_deletes(self, run: Any) -> None:
        EVENTS.append("before_deletes")
        super().preload_before_deletes(run)

    def preload_before_state(self, run: Any) -> None:
        EVENTS.append("before_state")
        super().preload_before_state(run)

    def preload_finished(self, result: Any) -> None:
        EVENTS.append(f"finished ok={result.ok}")
        super().preload_finished(result)


class HookedAdapter(MemoryAdapter):
    def upload(self, upload: Upload) -> RemoteObject:
        EVENTS.append("upload")
        return super().upload(upload)


HookedStorage.preload_adapter_class = HookedAdapter


def test_a_failed_write_fails_the_command_naming_the_file_and_keeps_the_manifest(
    memory: Memory, small_tree: StaticTree
) -> None:
    assert memory.run().exit_code == 0
    manifest = memory.objects()["staticfiles.json"]
    small_tree.write("js/app.js", b"console.log('changed');\n")

    result = memory.run(backend=f"{__name__}.RefusingStorage")

    assert result.exit_code == 1
    assert "js/app.js" in str(result.error) and "AccessDenied" in str(result.error)
    assert memory.objects()["staticfiles.json"] == manifest  # the live site keeps working


def test_hooks_run_after_every_write_in_order(memory: Memory, small_tree: StaticTree) -> None:
    EVENTS.clear()
    result = memory.run(backend=f"{__name__}.HookedStorage")
    assert result.exit_code == 0, result.stderr
    first_hook = EVENTS.index("before_deletes")
    assert EVENTS[:first_hook] and set(EVENTS[:first_hook]) == {"upload"}
    rest = [event for event in EVENTS[first_hook:] if event != "upload"]
    # the manifest (uploaded in before_deletes) comes after every file it names
    assert rest == ["before_deletes", "before_state", "finished ok=True"]
