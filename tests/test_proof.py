"""The proof-carrying skip of post-processing (issue 11): it skips, and it cannot lie.

An unchanged re-run replays Django's results and writes nothing. Then every input of
the proof changes alone (a source byte, the set of sources, what shapes Django's output,
the bucket behind the deploy's back, ``--clear``): each time the run must post-process
and end byte for byte where Django's own ``ManifestStaticFilesStorage`` ends after the
same sequence of deploys, and the next unchanged run must skip again.

Server-free first (the in-memory adapter), then the core sequence on every real server.
"""

from __future__ import annotations

import json
import mimetypes
import os
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage
from django.test import override_settings

from preloadstorage import proof
from preloadstorage.backends.memory import (
    _BUCKETS,
    PreloadingInMemoryManifestStorage,
    PreloadingInMemoryStorage,
)
from preloadstorage.state import STATE_NAME
from tests.conftest import (
    LOCATION,
    MEMORY_MANIFEST,
    Memory,
    StaticTree,
    collect,
    deploy,
    local_collect,
    prefixed,
)
from tests.targets.base import Target

MANIFEST = "staticfiles.json"
LOCAL = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"


# -- instruments ---------------------------------------------------------------------------
@dataclass
class Spy:
    """What ``proof.verify`` answered and whether ``proof.replay`` ran, since ``reset()``."""

    verdicts: list[bool] = field(default_factory=list)
    replays: int = 0

    def reset(self) -> None:
        self.verdicts.clear()
        self.replays = 0

    @property
    def skipped(self) -> bool:
        return self.verdicts == [True] and self.replays == 1

    @property
    def post_processed(self) -> bool:
        return True not in self.verdicts and self.replays == 0


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    found = Spy()
    verify, replay = proof.verify, proof.replay

    def spying_verify(*args: Any, **kwargs: Any) -> bool:
        verdict = verify(*args, **kwargs)
        found.verdicts.append(verdict)
        return verdict

    def spying_replay(*args: Any, **kwargs: Any) -> Any:
        found.replays += 1
        return replay(*args, **kwargs)

    monkeypatch.setattr(proof, "verify", spying_verify)
    monkeypatch.setattr(proof, "replay", spying_replay)
    return found


def summary_line(result: Any) -> str:
    """collectstatic's own last line: copied / unmodified / post-processed counts."""
    lines = re.findall(r"^\d+ static files? .*\.$", result.stdout, re.MULTILINE)
    assert len(lines) == 1, result.stdout
    return str(lines[0])


class Mirror:
    """Django's ``ManifestStaticFilesStorage`` run through the same deploys into one folder.

    Like the bucket, the folder keeps earlier deploys' files (unless ``--clear``), so the
    two must be equal byte for byte after every deploy.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, backend: str = LOCAL) -> dict[str, bytes]:
        # Django's storage copies only sources newer than its copies: age them, so a
        # change that keeps the source's mtime reaches the folder as it reaches the bucket.
        for path in self.root.rglob("*"):
            if path.is_file():
                os.utime(path, (0, 0))
        result = collect(backend, {"location": str(self.root)}, *args)
        assert result.error is None, result.stderr
        return {
            str(path.relative_to(self.root)).replace(os.sep, "/"): path.read_bytes()
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
        }


class Bucket:
    """Someone else's hands on the in-memory bucket (not through the storage)."""

    def __init__(self, name: str = "default") -> None:
        self.store: Any = cast(Any, InMemoryStorage())
        self.store._root = _BUCKETS[name][0]
        self.metadata = _BUCKETS[name][1]

    def read(self, key: str) -> bytes:
        with self.store.open(key) as fh:
            return bytes(fh.read())

    def write(self, key: str, data: bytes) -> None:
        """Overwrite ``key`` (its metadata, as another tool would leave it, unchanged)."""
        self.store.delete(key)
        assert self.store.save(key, ContentFile(data)) == key

    def delete(self, key: str) -> None:
        self.store.delete(key)
        self.metadata.pop(key, None)

    def manifest(self) -> dict[str, Any]:
        return dict(json.loads(self.read(MANIFEST)))


# -- the tree: small, with every kind of reference ---------------------------------------------
ABSOLUTE_CSS = 'h1 { background: url("/static/img/a.png"); }\n'


@pytest.fixture
def sources(small_tree: StaticTree) -> StaticTree:
    """``small_tree`` plus a stylesheet with an absolute URL (STATIC_URL shapes its output)."""
    small_tree.write("css/abs.css", ABSOLUTE_CSS)
    return small_tree


# -- 1. the skip, server-free ---------------------------------------------------------------------
def test_unchanged_rerun_skips_and_equals_a_full_run(
    memory: Memory, tree: StaticTree, tmp_path: Path, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = memory.run()
    assert first.exit_code == 0, first.stderr
    assert spy.verdicts == [False]  # nothing recorded yet
    expected = local_collect(tmp_path)
    assert memory.objects() == expected
    state = json.loads(memory.objects(state=True)[STATE_NAME])
    assert set(state["proof"]["objects"]) == set(expected)

    spy.reset()
    skipped = memory.run()
    assert skipped.exit_code == 0, skipped.stderr
    assert spy.skipped
    assert memory.writes == []
    # The listing, the manifest, the run state: nothing else.
    assert memory.requests == {"list": 1, "get": 2}
    assert memory.objects() == expected
    assert f"0 uploaded (0 B), {len(expected)} unchanged" in skipped.stdout

    # The same run without the proof: the same output, the same bucket, nothing written.
    monkeypatch.setattr(proof, "verify", lambda *args: False)
    full = memory.run()
    assert full.exit_code == 0, full.stderr
    assert memory.writes == []
    assert summary_line(skipped) == summary_line(full)
    assert "post-processed" in summary_line(full)
    assert memory.objects() == expected
    assert f"0 uploaded (0 B), {len(expected)} unchanged" in full.stdout


def test_replay_yields_djangos_results_in_verbose_output(
    memory: Memory, sources: StaticTree, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    def verbose(*args: str) -> list[str]:
        result = memory.run("--verbosity", "2", *args)
        assert result.exit_code == 0, result.stderr
        return sorted(line for line in result.stdout.splitlines() if "ost-process" in line)

    assert memory.run().exit_code == 0
    spy.reset()
    skipped = verbose()
    assert spy.skipped
    monkeypatch.setattr(proof, "verify", lambda *args: False)
    assert skipped == verbose()


def test_dry_run_never_skips_nor_writes(memory: Memory, sources: StaticTree, spy: Spy) -> None:
    assert memory.run().exit_code == 0
    sources.write("js/app.js", "console.log('changed');\n")
    spy.reset()
    result = memory.run("--dry-run")
    assert result.exit_code == 0, result.stderr
    assert spy.verdicts == [] and memory.writes == []


# -- each input, changed alone --------------------------------------------------------------------
@dataclass
class Change:
    """How one input differs from the deploy the proof was written by."""

    #: collectstatic arguments of the repairing run only (``--clear``).
    args: tuple[str, ...] = ()
    backend: str = MEMORY_MANIFEST
    #: Django's storage doing the same, for the mirror.
    local: str = LOCAL
    options: dict[str, Any] = field(default_factory=dict)
    #: Settings in force from the repairing run on.
    settings: AbstractContextManager[Any] = field(default_factory=nullcontext)
    #: Further checks on the bucket after the repairing run.
    check: Callable[[Memory], None] | None = None


@dataclass
class Env:
    tree: StaticTree
    bucket: Bucket
    monkeypatch: pytest.MonkeyPatch

    def hashed(self, name: str) -> str:
        return str(self.bucket.manifest()["paths"][name])


class LooseStorage(PreloadingInMemoryManifestStorage):
    manifest_strict = False


class FewerPasses(PreloadingInMemoryManifestStorage):
    max_post_process_passes = 3


def _one_byte(env: Env) -> Change:
    # Same size, same mtime: only the content says it changed.
    path = env.tree.path("css/vars.css")
    stat = path.stat()
    data = bytearray(path.read_bytes())
    at = data.index(b"red") + 2
    data[at] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return Change()


def _added(env: Env) -> Change:
    env.tree.write("js/new.js", "console.log('new');\n")
    return Change()


def _removed(env: Env) -> Change:
    env.tree.path("js/app.js").unlink()
    return Change()


def _renamed(env: Env) -> Change:
    # The same bytes under another name: the set of sources changed, not their contents.
    env.tree.path("js/app.js").rename(env.tree.path("js/app.js").with_name("main.js"))
    return Change()


def _manifest_strict(env: Env) -> Change:
    # The same class and code: only the attribute differs.
    env.monkeypatch.setattr(PreloadingInMemoryManifestStorage, "manifest_strict", False)
    return Change()


def _subclass(env: Env) -> Change:
    return Change(backend=f"{__name__}.LooseStorage")


def _passes(env: Env) -> Change:
    return Change(backend=f"{__name__}.FewerPasses")


def _intermediate_files(env: Env) -> Change:
    # Changes what is written: the intermediate hashed copies stay, locally too.
    env.monkeypatch.setattr(ManifestFilesMixin, "keep_intermediate_files", True)
    return Change()


def _static_url(env: Env) -> Change:
    # css/abs.css names /static/img/a.png: rewritten under /static/, left alone under /assets/.
    def check(memory: Memory) -> None:
        named = json.loads(memory.objects()[MANIFEST])["paths"]
        assert memory.objects()[named["css/abs.css"]] == ABSOLUTE_CSS.encode()

    return Change(settings=override_settings(STATIC_URL="/assets/"), check=check)


def _object_parameters(env: Env) -> Change:
    def check(memory: Memory) -> None:
        for key, meta in memory.metadata().items():
            assert meta.get("cache_control") == "max-age=60", key

    return Change(options={"object_parameters": {"cache_control": "max-age=60"}}, check=check)


def _content_types(env: Env) -> Change:
    # The machine's MIME table (another Python, another /etc/mime.types) sets content
    # types: a full run rewrites them on the hashed copies too, so the skip must not hold.
    mimetypes.guess_type("x.css")  # initialised before the table is patched
    env.monkeypatch.setitem(mimetypes.types_map, ".css", "text/x-proof")
    assert mimetypes.guess_type("x.css")[0] == "text/x-proof"

    def check(memory: Memory) -> None:
        for key, meta in memory.metadata().items():
            if key.endswith(".css"):
                assert meta["content_type"] == "text/x-proof", key

    return Change(check=check)


def _hashed_deleted(env: Env) -> Change:
    env.bucket.delete(env.hashed("img/a.png"))
    return Change()


def _hashed_altered(env: Env) -> Change:
    # Other bytes of the same size, written within seconds of the proof: the
    # fingerprint, not the modification time, tells.
    key = env.hashed("css/base.css")
    data = bytearray(env.bucket.read(key))
    data[0] ^= 1
    env.bucket.write(key, bytes(data))
    return Change()


def _metadata_altered(env: Env) -> Change:
    # Same bytes, same modification time (a metadata edit does not bump it here), but
    # the listing shows other metadata: a full run rewrites it, so the skip must not hold.
    key = env.hashed("css/base.css")
    env.bucket.metadata[key] = {**env.bucket.metadata[key], "cache_control": "no-store"}

    def check(memory: Memory) -> None:
        assert "cache_control" not in memory.metadata()[key]

    return Change(check=check)


def _manifest_altered(env: Env) -> Change:
    # Valid, same "hash" field (so manifest_hash still matches), one path changed.
    manifest = env.bucket.manifest()
    manifest["paths"]["js/app.js"] = "js/app.0123456789ab.js"
    env.bucket.write(MANIFEST, json.dumps(manifest).encode())
    return Change()


def _state_deleted(env: Env) -> Change:
    env.bucket.delete(STATE_NAME)
    return Change()


def _clear(env: Env) -> Change:
    return Change(args=("--clear",))


def _removed_with_clear(env: Env) -> Change:
    env.tree.path("js/app.js").unlink()
    return Change(args=("--clear",))


CHANGES: dict[str, Callable[[Env], Change]] = {
    "one-source-byte": _one_byte,
    "file-added": _added,
    "file-removed": _removed,
    "file-renamed": _renamed,
    "manifest_strict-attribute": _manifest_strict,
    "subclass-manifest_strict": _subclass,
    "subclass-max_post_process_passes": _passes,
    "keep_intermediate_files": _intermediate_files,
    "STATIC_URL": _static_url,
    "object_parameters-option": _object_parameters,
    "content-type-table": _content_types,
    "hashed-object-deleted": _hashed_deleted,
    "hashed-object-altered": _hashed_altered,
    "hashed-object-metadata-altered": _metadata_altered,
    "manifest-altered": _manifest_altered,
    "state-deleted": _state_deleted,
    "clear": _clear,
    "file-removed-with-clear": _removed_with_clear,
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_each_input_changed_alone_post_processes_and_repairs(
    name: str,
    memory: Memory,
    sources: StaticTree,
    tmp_path: Path,
    spy: Spy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mirror = Mirror(tmp_path / "mirror")
    assert memory.run().exit_code == 0
    assert memory.objects() == mirror.run()
    # The proof holds before the change.
    spy.reset()
    assert memory.run().exit_code == 0
    assert spy.skipped and memory.writes == []

    change = CHANGES[name](Env(sources, Bucket(), monkeypatch))
    with change.settings:
        spy.reset()
        result = memory.run(*change.args, backend=change.backend, **change.options)
        assert result.exit_code == 0, result.stderr
        assert spy.post_processed
        if "--clear" not in change.args:  # --clear never even asks
            assert spy.verdicts == [False]
        assert memory.objects() == mirror.run(*change.args, backend=change.local)
        if change.check is not None:
            change.check(memory)

        # Repaired, and proven again: the next unchanged run skips.
        before = memory.objects(state=True)
        spy.reset()
        result = memory.run(backend=change.backend, **change.options)
        assert result.exit_code == 0, result.stderr
        assert spy.skipped, spy
        assert memory.writes == []
        assert memory.objects(state=True) == before


def test_skip_leaves_the_proof_for_the_next_run(
    memory: Memory, sources: StaticTree, spy: Spy
) -> None:
    assert memory.run().exit_code == 0
    for _ in range(3):
        spy.reset()
        assert memory.run().exit_code == 0
        assert spy.skipped and memory.writes == []


def test_separate_manifest_storage_is_never_proven(
    memory: Memory, sources: StaticTree, spy: Spy
) -> None:
    manifests = PreloadingInMemoryStorage(bucket_name="manifests")
    assert memory.run(manifest_storage=manifests).exit_code == 0
    spy.reset()
    assert memory.run(manifest_storage=manifests).exit_code == 0
    assert spy.post_processed


def test_failed_run_keeps_the_old_proof_true(
    memory: Memory, sources: StaticTree, tmp_path: Path, spy: Spy
) -> None:
    assert memory.run().exit_code == 0
    sources.write("css/vars.css", ":root { --c: blue; }\n")
    refused = memory.run(backend="tests.test_manifest_local.RefusingManifestStorage")
    assert refused.exit_code != 0
    assert spy.post_processed

    # Back to the proven sources: the live manifest and its objects are still the
    # proven ones (the failed run wrote new hashed names and no manifest): skip.
    sources.write("css/vars.css", ":root { --c: red; }\n")
    spy.reset()
    assert memory.run().exit_code == 0
    assert spy.skipped and memory.writes == []
    expected = local_collect(tmp_path)
    stored = memory.objects()
    assert {key: stored.get(key) for key in expected} == expected

    # The edited sources again, writes allowed: post-processed, Django's result.
    sources.write("css/vars.css", ":root { --c: blue; }\n")
    spy.reset()
    assert memory.run().exit_code == 0
    assert spy.post_processed
    expected = local_collect(tmp_path)
    stored = memory.objects()
    assert {key: stored.get(key) for key in expected} == expected


# -- 2. real servers ---------------------------------------------------------------------------
def _budget(target: Target) -> dict[str, int]:
    counts = {op: n for op, n in target.proxy.counts.items() if n}
    return {
        "list": sum(n for op, n in counts.items() if op in target.list_ops),
        "read": sum(n for op, n in counts.items() if op in target.read_ops),
        "other": sum(n for op, n in counts.items() if op not in target.list_ops | target.read_ops),
    }


def _stored(target: Target, bucket: str) -> dict[str, bytes]:
    state = f"{LOCATION}/{STATE_NAME}"
    return {k: v for k, v in target.objects(bucket).items() if k != state}


@pytest.mark.proxy
def test_proof_on_every_server(
    target: Target, small_tree: StaticTree, tmp_path: Path, spy: Spy
) -> None:
    expected = prefixed(local_collect(tmp_path))
    bucket = target.new_bucket()
    result = deploy(target, bucket)
    assert result.exit_code == 0, result.stderr
    assert _stored(target, bucket) == expected

    # Unchanged: the listing, the manifest, the run state; nothing else.
    spy.reset()
    result = deploy(target, bucket)
    assert result.exit_code == 0, result.stderr
    assert spy.skipped, (spy, dict(target.proxy.counts))
    assert _budget(target) == {"list": 1, "read": 2, "other": 0}, dict(target.proxy.counts)
    assert _stored(target, bucket) == expected

    # A hashed object deleted behind the deploy's back: post-processed, repaired.
    manifest = json.loads(expected[f"{LOCATION}/{MANIFEST}"])
    target.delete_prefix(bucket, f"{LOCATION}/{manifest['paths']['img/a.png']}")
    assert len(_stored(target, bucket)) == len(expected) - 1
    spy.reset()
    result = deploy(target, bucket)
    assert result.exit_code == 0, result.stderr
    assert spy.verdicts == [False] and spy.replays == 0
    assert _stored(target, bucket) == expected
    assert target.count(target.object_upload_ops) <= 2  # the object, the run state

    # And proven again.
    spy.reset()
    result = deploy(target, bucket)
    assert result.exit_code == 0, result.stderr
    assert spy.skipped, (spy, dict(target.proxy.counts))
    assert _budget(target) == {"list": 1, "read": 2, "other": 0}, dict(target.proxy.counts)
    assert _stored(target, bucket) == expected
