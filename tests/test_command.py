"""Finding the stock collectstatic command from inside the storage."""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.staticfiles.management.commands.collectstatic import Command as Collect
from django.core.management.base import BaseCommand
from django.utils.functional import LazyObject

from preloadstorage.backends.memory import PreloadingInMemoryStorage
from preloadstorage.command import (
    CollectContext,
    _command_files,
    find_collectstatic,
    will_post_process,
)
from tests.conftest import REPO, Memory, StaticTree, deploy, local_collect, prefixed
from tests.targets.base import Target


def test_nothing_is_found_or_imported_where_collectstatic_never_ran() -> None:
    code = (
        "import sys\n"
        "import preloadstorage.command as c\n"
        "assert c.find_collectstatic() is None\n"
        "assert c._MODULE not in sys.modules, 'collectstatic was imported'\n"
        "assert c._command_files.cache_info().currsize == 0, 'the stack was walked'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


class Recording(PreloadingInMemoryStorage):
    """Records what the storage finds on the stack when the command asks it."""

    seen: list[tuple[str, CollectContext | None]] = []

    def exists(self, name: str) -> bool:
        self.seen.append((name, find_collectstatic()))
        return super().exists(name)


def test_found_during_collectstatic_with_the_source_being_decided(
    memory: Memory, small_tree: StaticTree
) -> None:
    Recording.seen = []
    assert memory.run(backend=f"{__name__}.Recording").exit_code == 0
    contexts = dict(reversed(Recording.seen))  # the first call per name: delete_file()
    ctx = contexts["css/vars.css"]
    assert ctx is not None and isinstance(ctx.command, Collect)
    assert ctx.source is not None
    source_storage, path = ctx.source
    assert path == "css/vars.css"
    assert source_storage.path(path) == str(small_tree.path("css/vars.css"))
    assert len({id(c.command) for c in contexts.values() if c is not None}) == 1


class Unrelated(BaseCommand):
    """Another command with the stock command's method names: not collectstatic."""

    def handle(self, *args: Any, **options: Any) -> None:
        self.found = self.collect()

    def collect(self) -> CollectContext | None:
        return self.copy_file()

    def copy_file(self) -> CollectContext | None:
        return find_collectstatic()


class Subclassed(Collect):
    """A project's collectstatic subclass overriding a method: its frames don't count,
    the stock ones it calls do."""

    def collect(self) -> Any:
        self.found_here = find_collectstatic()
        return {"modified": [], "unmodified": [], "post_processed": []}


def test_frames_of_other_commands_do_not_count() -> None:
    command = Unrelated()
    command.handle()
    assert command.found is None
    subclassed = Subclassed()
    subclassed.collect()
    assert subclassed.found_here is None
    assert find_collectstatic() is None


def _instrumented(method: Any, keep_name: bool) -> Any:
    """What an APM or a profiler does to a command's method."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:  # no ``self``: a plain pass-through
        return method(*args, **kwargs)

    return functools.wraps(method)(wrapper) if keep_name else wrapper


@pytest.fixture(params=[True, False], ids=["functools.wraps", "bare"])
def instrumented(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stock command's methods wrapped, as an APM or a profiler wraps them."""
    for name in ("handle", "collect", "delete_file", "copy_file"):
        monkeypatch.setattr(Collect, name, _instrumented(getattr(Collect, name), request.param))
    _command_files.cache_clear()  # read the (wrapped) methods afresh
    yield
    _command_files.cache_clear()


def test_instrumented_command_methods_still_run_and_are_found(
    memory: Memory, small_tree: StaticTree, monkeypatch: pytest.MonkeyPatch, instrumented: None
) -> None:
    monkeypatch.setattr(Recording, "seen", [])
    assert memory.run(backend=f"{__name__}.Recording").exit_code == 0
    assert memory.run(backend=f"{__name__}.Recording").exit_code == 0
    # Before: KeyError 'self' from the wrapper's frame, and the command failed.
    ctx = dict(reversed(Recording.seen))["css/vars.css"]  # first call: from delete_file()
    assert ctx is not None and isinstance(ctx.command, Collect)
    assert ctx.source is not None and ctx.source[1] == "css/vars.css"
    # The preload answered: the unchanged second run wrote nothing, asked nothing per file.
    assert memory.writes == []
    assert set(memory.requests) <= {"list", "get"}, memory.requests  # no per-file stat


def test_instrumented_command_on_a_real_server(
    moto: Target, small_tree: StaticTree, tmp_path: Path, instrumented: None
) -> None:
    bucket = moto.new_bucket()
    first = deploy(moto, bucket)
    assert first.exit_code == 0, first.stderr
    assert moto.objects(bucket) == prefixed(local_collect(tmp_path))
    before = moto.objects(bucket)
    rerun = deploy(moto, bucket)
    assert rerun.exit_code == 0, rerun.stderr
    assert moto.count(moto.upload_ops) == moto.count(moto.delete_ops) == 0
    assert moto.count(moto.read_ops) <= 1  # the manifest: no per-file HEAD or GET
    assert moto.objects(bucket) == before


_LazyObject: Any = LazyObject  # generic in the type stubs only


class Wrapper(_LazyObject):
    def _setup(self) -> None:
        raise AssertionError("never set up by will_post_process()")


def test_only_the_commands_own_storage_gets_the_barrier() -> None:
    own, other = PreloadingInMemoryStorage(), PreloadingInMemoryStorage()
    command = Collect()
    command.post_process = True
    command.storage = own
    assert will_post_process(command, own)
    assert not will_post_process(command, other)  # e.g. a separate manifest_storage

    lazy = Wrapper()
    command.storage = lazy
    # Still being created (ManifestFilesMixin reads its manifest in __init__).
    assert not will_post_process(command, own)
    lazy._wrapped = own
    assert will_post_process(command, own)
    assert not will_post_process(command, other)

    command.post_process = False  # --no-post-process
    assert not will_post_process(command, own)
    command.post_process = True
    assert not will_post_process(command, object())  # a storage without post_process()
