"""The variants under test, Collectfasta's private venv, and one measured collectstatic run."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
COLLECTFASTA_VENV = BENCH_DIR / ".venv-collectfasta"
COLLECTFASTA_VERSION = "3.3.5"
COLLECTFASTA_STRATEGIES = {
    "filesystem": "collectfasta.strategies.boto3.Boto3ManifestFileSystemStrategy",
    "memory": "collectfasta.strategies.boto3.Boto3ManifestMemoryStrategy",
}


@dataclass(frozen=True)
class Variant:
    """One way of running the stock ``manage.py collectstatic``."""

    key: str  # "stock", "collectfasta", "preload" or "preload+<option>"
    label: str
    storage: str  # EXAMPLE_STORAGE
    backend: str = ""  # dotted class, checked before running (preloading backends only)
    settings_module: str = "demo_site.settings"
    #: preloadstorage OPTIONS the run adds (EXAMPLE_PRELOAD_OPTIONS, a JSON object).
    options: tuple[tuple[str, Any], ...] = ()
    #: Invalidate on a CloudFront distribution the benchmark creates in moto (S3 only).
    cdn: bool = False

    @property
    def collectfasta(self) -> bool:
        return self.key == "collectfasta"

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    @property
    def bucket_prefix(self) -> str:
        """The variant's key as a bucket-name part (no "+")."""
        return self.key.replace("+", "-")


VARIANTS: dict[str, dict[str, Variant]] = {
    "s3": {
        "stock": Variant("stock", "stock S3ManifestStaticStorage", "stock-s3"),
        "collectfasta": Variant(
            "collectfasta",
            f"Collectfasta {COLLECTFASTA_VERSION} two-pass",
            "stock-s3",
            settings_module="collectfasta_settings",
        ),
        "preload": Variant(
            "preload",
            "preloadstorage",
            "s3",
            "preloadstorage.backends.s3.PreloadingS3ManifestStorage",
        ),
    },
    "gcs": {
        "stock": Variant("stock", "stock GoogleCloudStorage+ManifestFilesMixin", "stock-gcs"),
        "preload": Variant(
            "preload",
            "preloadstorage",
            "gcs",
            "preloadstorage.backends.gcloud.PreloadingGoogleCloudManifestStorage",
        ),
    },
    "azure": {
        "stock": Variant("stock", "stock AzureStorage+ManifestFilesMixin", "stock-azure"),
        "preload": Variant(
            "preload",
            "preloadstorage",
            "azure",
            "preloadstorage.backends.azure_storage.PreloadingAzureManifestStorage",
        ),
    },
}


#: Issue 10's options on the preloading backend: opt-in (``--variants preload+...``), never
#: part of the default run. Each is the ``preload`` variant plus OPTIONS.
HASHED_CACHE_CONTROL = "public, max-age=31536000, immutable"
UNHASHED_CACHE_CONTROL = "no-cache"
_OPTION_VARIANTS: dict[str, tuple[str, tuple[tuple[str, Any], ...]]] = {
    "preload+hashedonly": (
        "preloadstorage, keep_only_hashed_files",
        (("keep_only_hashed_files", True),),
    ),
    "preload+releases": ("preloadstorage, keep_releases=1", (("keep_releases", 1),)),
    "preload+policy": (
        "preloadstorage, hashed/unhashed_cache_control",
        (
            ("hashed_cache_control", HASHED_CACHE_CONTROL),
            ("unhashed_cache_control", UNHASHED_CACHE_CONTROL),
        ),
    ),
}


def _option_variants(backend: str) -> dict[str, Variant]:
    base = VARIANTS[backend]["preload"]
    out = {
        key: Variant(key, label, base.storage, base.backend, options=options)
        for key, (label, options) in _OPTION_VARIANTS.items()
    }
    if backend == "s3":
        # Issue 11: single-request uploads through the AWS Common Runtime (needs awscrt).
        out["preload+crt"] = Variant(
            "preload+crt",
            "preloadstorage, transport=crt",
            base.storage,
            base.backend,
            options=(("transport", "crt"),),
        )
        out["preload+cdn"] = Variant(
            "preload+cdn",
            "preloadstorage, cloudfront_distribution_id",
            base.storage,
            base.backend,
            cdn=True,
        )
    return out


#: Opt-in variants per backend (not run unless named in ``--variants``).
OPTION_VARIANTS: dict[str, dict[str, Variant]] = {b: _option_variants(b) for b in VARIANTS}


def backend_problem(variant: Variant, env: dict[str, str]) -> str | None:
    """Why the variant's storage class cannot be imported (``None`` when it can)."""
    if not variant.backend:
        return None
    module, _, name = variant.backend.rpartition(".")
    code = f"import importlib; getattr(importlib.import_module({module!r}), {name!r})"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode == 0:
        return None
    last = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
    return f"{variant.backend} is not available yet ({last})"


# -- Collectfasta's own venv --------------------------------------------------------------
def _pins() -> tuple[list[str], str]:
    """Collectfasta plus the repo's runtime deps at the versions this interpreter has."""
    pins = [f"collectfasta=={COLLECTFASTA_VERSION}"]
    note = ""
    for dist in ("Django", "django-storages", "boto3", "botocore", "s3transfer"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pins.append(dist)
            continue
        if dist == "Django" and tuple(int(p) for p in version.split(".")[:2]) < (5, 2):
            # Collectfasta 3.3.5 requires Django >= 5.2: let pip choose.
            note = f"Collectfasta needs Django >= 5.2; its venv does not use Django {version}"
            pins.append("Django>=5.2")
            continue
        pins.append(f"{dist}=={version}")
    return pins, note


def collectfasta_python() -> Path:
    """Create ``benchmarks/.venv-collectfasta`` on first use; return its python."""
    python = COLLECTFASTA_VENV / "bin" / "python"
    pins, note = _pins()
    stamp = COLLECTFASTA_VENV / ".stamp"
    wanted = "\n".join(pins)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"==> creating {COLLECTFASTA_VENV.relative_to(REPO)}: {' '.join(pins)}", flush=True)
    if note:
        print(f"    note: {note}", flush=True)
    shutil.rmtree(COLLECTFASTA_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(COLLECTFASTA_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *pins], check=True)
    stamp.write_text(wanted)
    return python


# -- one run ----------------------------------------------------------------------------
@dataclass
class RunResult:
    returncode: int
    wall: float  # seconds, process start to exit
    max_rss_mib: float  # peak resident set size of the collectstatic process
    cpu: float  # user + system CPU seconds of the collectstatic process
    output: str  # stdout + stderr


GNU_TIME = "/usr/bin/time"
#: Bare Django start-up: settings, app registry and the management machinery, nothing
#: else (no storage is built, no request is sent).
STARTUP_COMMAND = ("shell", "-c", "pass")


def run_collectstatic(
    python: Path | str, project: Path, env: dict[str, str], cwd: Path, timeout: float
) -> RunResult:
    """Run ``manage.py collectstatic --noinput`` in a fresh process and measure it."""
    return run_manage(python, project, ("collectstatic", "--noinput"), env, cwd, timeout)


def run_startup(
    python: Path | str, project: Path, env: dict[str, str], cwd: Path, timeout: float
) -> RunResult:
    """Bare Django start-up (``manage.py shell -c pass``), measured the same way."""
    return run_manage(python, project, STARTUP_COMMAND, env, cwd, timeout)


def run_manage(
    python: Path | str,
    project: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    cwd: Path,
    timeout: float,
) -> RunResult:
    """Run ``manage.py ARGS`` in a fresh process and measure it.

    Peak RSS comes from GNU time, which forks the command from its own small process:
    the ``ru_maxrss`` that ``wait4``/RUSAGE_CHILDREN report for a direct child also
    counts the pages it inherited from this (much bigger) process at fork time, so
    without GNU time the figure is only an upper bound.
    """
    command = [str(python), str(project / "manage.py"), *args]
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        if os.access(GNU_TIME, os.X_OK):
            command = [GNU_TIME, "-f", "%M %U %S", "-o", str(rss_file), *command]
        with open(Path(tmp) / "out", "w+b") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so that a timeout kills time and its child
            )
            killed = threading.Event()
            timer = threading.Timer(timeout, _kill, (proc.pid, killed))
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:  # Ctrl-C: the child has its own session, stop it too
                _kill(proc.pid, killed)
                proc.wait()
                raise
            finally:
                timer.cancel()
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            output = out.read().decode("utf-8", "replace")
        rss_kib = float(usage.ru_maxrss)
        cpu = usage.ru_utime + usage.ru_stime
        if rss_file.exists():
            fields = (rss_file.read_text().strip().splitlines() or [""])[-1].split()
            if len(fields) == 3 and fields[0].isdigit():
                rss_kib, cpu = float(fields[0]), float(fields[1]) + float(fields[2])
    if killed.is_set():
        output += f"\n[bench] killed after {timeout:.0f} s"
    return RunResult(proc.returncode, wall, rss_kib / 1024, cpu, output)


def _kill(pid: int, killed: threading.Event) -> None:
    killed.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
