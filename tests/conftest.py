"""Shared fixtures: Django settings, real servers behind a recording proxy, static trees.

Servers start once per session and only when a test asks for them; every test gets a
fresh bucket, and the proxy's counters are reset before each test. Set
``PRELOADSTORAGE_TARGETS`` (e.g. ``moto,gcs``) to run the conformance suite on a subset.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_project"

if not settings.configured:
    settings.configure(
        SECRET_KEY="tests",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.staticfiles",
        ],
        STATIC_URL="/static/",
        STATIC_ROOT=tempfile.mkdtemp(prefix="preloadstorage-tests-root-"),
        USE_TZ=True,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.test import override_settings  # noqa: E402

from tests.targets.base import Target  # noqa: E402

ALL_TARGETS = ("moto", "seaweedfs", "gcs", "azure")


def _selected_targets() -> list[str]:
    from tests.targets.live import available

    chosen = os.environ.get("PRELOADSTORAGE_TARGETS", "")
    targets = [t for t in chosen.split(",") if t] if chosen else list(ALL_TARGETS)
    # An S3 server the user already runs (LocalStack): one environment variable adds it.
    if os.environ.get("LOCALSTACK_HOST") or os.environ.get("AWS_ENDPOINT_URL"):
        targets.append("localstack")
    return targets + [t for t in available() if t not in targets]


# -- servers -----------------------------------------------------------------------------
_servers: dict[str, Any] = {}


def _server(kind: str) -> Any:
    """Start (once per session) and return the server for ``kind``."""
    if kind not in _servers:
        from tests.support import servers

        factory = {
            "moto": servers.MotoServer,
            "seaweedfs": servers.SeaweedServer,
            "gcs": servers.FakeGcsServer,
            "azure": servers.AzuriteServer,
            "localstack": servers.ExternalS3Server,
        }[kind]
        server = factory()
        server.start()
        _servers[kind] = server
    return _servers[kind]


_proxies: dict[str, Any] = {}


def _proxy(kind: str, flavor: str) -> Any:
    if kind not in _proxies:
        from tests.support.proxy import RecordingProxy

        proxy = RecordingProxy(_server(kind).endpoint, flavor=flavor)
        proxy.start()
        _proxies[kind] = proxy
    return _proxies[kind]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for proxy in _proxies.values():
        proxy.stop()
    for server in _servers.values():
        server.stop()
    shutil.rmtree(settings.STATIC_ROOT, ignore_errors=True)


def make_target(kind: str) -> Target:
    if kind.startswith("live-"):
        from tests.targets.live import LiveTarget

        return LiveTarget(kind)
    if kind in ("moto", "seaweedfs", "localstack"):
        from tests.targets.s3 import S3Target

        return S3Target(_server(kind), _proxy(kind, "s3"), kind)
    if kind == "gcs":
        from tests.targets.gcs import GcsTarget

        return GcsTarget(_server(kind), _proxy(kind, "gcs"))
    from tests.targets.azure import AzureTarget

    return AzureTarget(_server(kind), _proxy(kind, "azure"))


def reset_proxy(target: Target) -> None:
    proxy = target.proxy
    proxy.reset()
    defaults = (
        ("fault_rate", 0.0),
        ("fault_kinds", ("503",)),
        ("rule", None),
        ("deny_list", False),
        ("delay", 0.0),
    )
    for attr, value in defaults:
        if hasattr(proxy, attr):
            setattr(proxy, attr, value)


def _serve(kind: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """Yield the target for ``kind``: its environment set, its proxy reset around the test."""
    tgt = make_target(kind)
    for name, value in tgt.env().items():
        monkeypatch.setenv(name, value)
    reset_proxy(tgt)
    yield tgt
    reset_proxy(tgt)


@pytest.fixture(params=_selected_targets())
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """Every backend on every server: the conformance suite's parameter."""
    live = request.param.startswith("live-")
    if live and request.node.get_closest_marker("proxy"):
        pytest.skip("needs the recording proxy (fault injection or per-request records)")
    for tgt in _serve(request.param, monkeypatch):
        yield tgt
        if live:
            tgt.cleanup()  # type: ignore[attr-defined]


@pytest.fixture(params=["moto", "seaweedfs"])
def s3(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """The S3 targets only."""
    yield from _serve(request.param, monkeypatch)


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    yield from _serve("moto", monkeypatch)


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    yield from _serve("gcs", monkeypatch)


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    yield from _serve("azure", monkeypatch)


# -- static trees ------------------------------------------------------------------------
@dataclass
class StaticTree:
    """A realistic source tree (the example project's assets), editable per test."""

    root: Path
    dirs: list[Any] = field(default_factory=list)

    def path(self, name: str) -> Path:
        for entry in self.dirs:
            prefix, folder = entry if isinstance(entry, tuple) else ("", entry)
            rel = name[len(prefix) + 1 :] if prefix and name.startswith(prefix + "/") else name
            candidate = Path(folder) / rel
            if candidate.exists():
                return candidate
        raise FileNotFoundError(name)

    def write(self, name: str, data: bytes | str, folder: int = 0) -> Path:
        entry = self.dirs[folder]
        base = Path(entry[1] if isinstance(entry, tuple) else entry)
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def age(self, seconds: float = 60) -> None:
        """Every mtime ``seconds`` in the past (sources are rarely written the second a
        deploy reads them; preloadstorage's work ahead skips those that were)."""
        old = time.time() - seconds
        for entry in self.dirs:
            base = Path(entry[1] if isinstance(entry, tuple) else entry)
            for path in base.rglob("*"):
                if path.is_file():
                    os.utime(path, (old, old))

    def touch_all(self) -> None:
        """What a fresh CI checkout does: every mtime becomes 'now'."""
        for entry in self.dirs:
            base = Path(entry[1] if isinstance(entry, tuple) else entry)
            for path in base.rglob("*"):
                if path.is_file():
                    os.utime(path)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[StaticTree]:
    """The example project's static files, copied so tests may edit them."""
    root = tmp_path / "src"
    pages = root / "pages"
    assets = root / "assets"
    shutil.copytree(EXAMPLE / "pages" / "static", pages)
    shutil.copytree(EXAMPLE / "assets", assets)
    static = StaticTree(root, [str(pages), str(assets)])
    with override_settings(STATICFILES_DIRS=static.dirs):
        yield static


@pytest.fixture
def small_tree(tmp_path: Path) -> Iterator[StaticTree]:
    """A handful of files with references, for fast and focused tests."""
    root = tmp_path / "small"
    static = StaticTree(root, [str(root)])
    static.write(
        "css/base.css", '@import url("vars.css");\nbody { background: url("../img/a.png"); }\n'
    )
    static.write("css/vars.css", ":root { --c: red; }\n")
    static.write("img/a.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    static.write("js/app.js", "console.log('hi');\n")
    with override_settings(
        STATICFILES_DIRS=static.dirs, INSTALLED_APPS=["django.contrib.staticfiles"]
    ):
        yield static


# -- running collectstatic -----------------------------------------------------------------
#: Where the tests deploy inside a bucket.
LOCATION = "static"


@dataclass
class Collected:
    stdout: str
    stderr: str
    #: What the command raised: a CommandError (collectstatic wraps post-processing
    #: errors in one), or what the storage raised while copying, as is.
    error: Exception | None

    @property
    def exit_code(self) -> int:
        return 0 if self.error is None else 1


def collect(backend: str, options: dict[str, Any], *args: str) -> Collected:
    """Run the stock ``collectstatic`` with ``backend`` as the staticfiles storage."""
    stdout, stderr = io.StringIO(), io.StringIO()
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": backend, "OPTIONS": options},
    }
    error = None
    with override_settings(STORAGES=storages):
        try:
            call_command(
                "collectstatic", "--noinput", *args, stdout=stdout, stderr=stderr, verbosity=1
            )
        except (CommandError, ValueError, RuntimeError, UnicodeDecodeError, OSError) as exc:
            error = exc
        finally:
            _remember_requests()
    return Collected(stdout.getvalue(), stderr.getvalue(), error)


def _remember_requests() -> None:
    """Keep the storage's own request counts (the live tier has no proxy to count)."""
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.utils.functional import empty

    from tests.targets.live import LAST_REQUESTS

    wrapped = staticfiles_storage._wrapped
    run = None if wrapped is empty else getattr(wrapped, "_preload_run", None)
    if run is not None:
        LAST_REQUESTS.update(run.stats.requests)


def deploy(target: Target, bucket: str, *args: str, **extra: Any) -> Collected:
    """Reset the proxy's counts, then run ``collectstatic`` with the target's manifest
    backend into ``bucket`` under ``LOCATION``; ``extra`` goes to its OPTIONS."""
    target.proxy.reset()
    return collect(target.manifest_backend, target.options(bucket, LOCATION, **extra), *args)


def prefixed(files: dict[str, bytes], location: str = LOCATION) -> dict[str, bytes]:
    """``files`` (e.g. from ``local_collect``) with the keys they get under ``location``."""
    return {f"{location}/{name}": data for name, data in files.items()}


def local_collect(tmp: Path, *args: str, **storage_options: Any) -> dict[str, bytes]:
    """What Django's own ManifestStaticFilesStorage writes for the current sources."""
    root = tmp / "local-root"
    shutil.rmtree(root, ignore_errors=True)
    options = {"location": str(root), **storage_options}
    result = collect(
        "django.contrib.staticfiles.storage.ManifestStaticFilesStorage", options, *args
    )
    assert result.error is None, result.stderr
    return {
        str(path.relative_to(root)).replace(os.sep, "/"): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


# -- the in-memory reference backend: the engine without a server ------------------------
MEMORY = "preloadstorage.backends.memory.PreloadingInMemoryStorage"
MEMORY_MANIFEST = "preloadstorage.backends.memory.PreloadingInMemoryManifestStorage"


@dataclass
class Memory:
    """The in-process buckets; what the adapters were asked since the last ``run()``."""

    #: Every MemoryAdapter (subclasses included) created since the last ``run()``.
    adapters: list[Any] = field(default_factory=list)
    #: ``(operation, key)`` of every write, in the order the adapters made them.
    writes: list[tuple[str, str]] = field(default_factory=list)

    def run(self, *args: str, backend: str = MEMORY_MANIFEST, **options: Any) -> Collected:
        self.adapters.clear()
        self.writes.clear()
        return collect(backend, options, *args)

    @property
    def requests(self) -> dict[str, int]:
        """The summed ``MemoryAdapter.requests`` of the last ``run()``."""
        from collections import Counter

        total: Counter[str] = Counter()
        for adapter in self.adapters:
            total.update(adapter.requests)
        return dict(total)

    def objects(self, bucket: str = "default", state: bool = False) -> dict[str, bytes]:
        """The bucket's contents, read with InMemoryStorage's own methods."""
        from django.core.files.storage import InMemoryStorage

        from preloadstorage.backends.memory import _BUCKETS
        from preloadstorage.state import STATE_NAME

        reader: Any = InMemoryStorage()
        reader._root = _BUCKETS[bucket][0] if bucket in _BUCKETS else reader._root
        found: dict[str, bytes] = {}
        folders = [""]
        while folders:
            folder = folders.pop()
            dirs, files = reader.listdir(folder)
            folders.extend(f"{folder}{d}/" for d in dirs)
            for name in files:
                with reader.open(folder + name) as fh:
                    found[folder + name] = fh.read()
        return {k: v for k, v in sorted(found.items()) if state or k != STATE_NAME}

    def metadata(self, bucket: str = "default") -> dict[str, dict[str, Any]]:
        from preloadstorage.backends.memory import _BUCKETS

        return dict(_BUCKETS[bucket][1]) if bucket in _BUCKETS else {}


@pytest.fixture
def memory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Memory]:
    """Empty in-memory buckets, and a recorder of what the memory adapters did."""
    from preloadstorage.backends.memory import MemoryAdapter, clear_buckets

    mem = Memory()
    init, upload = MemoryAdapter.__init__, MemoryAdapter.upload
    patch, delete = MemoryAdapter.update_metadata, MemoryAdapter.delete_one

    def recording_init(adapter: Any, storage: Any) -> None:
        init(adapter, storage)
        mem.adapters.append(adapter)

    def recording_upload(adapter: Any, item: Any) -> Any:
        mem.writes.append(("put", item.key))
        return upload(adapter, item)

    def recording_patch(adapter: Any, remote: Any, item: Any) -> Any:
        mem.writes.append(("patch", remote.key))
        return patch(adapter, remote, item)

    def recording_delete(adapter: Any, key: str) -> None:
        mem.writes.append(("delete", key))
        delete(adapter, key)

    monkeypatch.setattr(MemoryAdapter, "__init__", recording_init)
    monkeypatch.setattr(MemoryAdapter, "upload", recording_upload)
    monkeypatch.setattr(MemoryAdapter, "update_metadata", recording_patch)
    monkeypatch.setattr(MemoryAdapter, "delete_one", recording_delete)
    clear_buckets()
    yield mem
    clear_buckets()
