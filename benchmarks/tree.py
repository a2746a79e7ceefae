#!/usr/bin/env python
"""The "large tree": real third-party static files on top of example_project.

``bench.py --tree large`` (and anyone who wants the example project to collect a
realistic amount of assets) gets, on first use, pinned releases from the package
registries, unpacked into the git-ignored ``benchmarks/.tree/``:

* Wagtail's static files (the ``static/`` folder of every Wagtail app in the wheel:
  admin, images, documents, snippets, embeds, contrib; not ``project_template``),
* Django REST framework's and django-debug-toolbar's ``static/`` folders (pip wheels),
* Bootstrap 5's ``dist/`` folder, mounted as ``bootstrap/`` (npm),
* Font Awesome 6 Free's whole package, mounted as ``fontawesome/`` (npm; its own
  "host yourself" instructions copy the whole folder: css, js, webfonts, svgs, sprites,
  less, scss, metadata),

Django's admin comes from ``django.contrib.admin`` as usual. Nothing is imported or
installed into the venv: only the files are unpacked, and example_project's settings
add them to ``STATICFILES_DIRS`` through ``EXAMPLE_EXTRA_STATIC_DIRS`` (entries
``PATH`` or ``PREFIX=PATH``, separated by ``os.pathsep``), so the same unchanged
``manage.py collectstatic`` runs over them. Collected paths are the ones the apps'
``AppDirectoriesFinder`` would give (``wagtailadmin/...``, ``rest_framework/...``).

Every download is pinned by version and SHA-256, so the tree is the same on every
machine. Django's ``ManifestStaticFilesStorage`` (strict, default settings) collects it
without error.

    python benchmarks/tree.py            # install if needed, print the export line
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

BENCH_DIR = Path(__file__).resolve().parent
TREE_DIR = BENCH_DIR / ".tree"

#: pip wheels: distribution -> (version, wheel file's SHA-256).
PIP_PINS: dict[str, tuple[str, str]] = {
    "wagtail": ("8.0.1", "1e6ad5c7891a54efce1400e168298b5a2cc343b642cee89c31bf5ec30c98b26c"),
    "djangorestframework": (
        "3.18.3",
        "8544bb674846731b1e3c9b309236ee1dc412905a0aa725be2ec193ca950a7d12",
    ),
    "django-debug-toolbar": (
        "8.0.0",
        "329dfd6e1c26d9b4501a5cc69294c8bb734206ccb1bd36e96afc4d14128b630a",
    ),
}
#: npm packages: name -> (version, tarball's SHA-256, folder of the package to mount,
#: prefix it is mounted under).
NPM_PINS: dict[str, tuple[str, str, str, str]] = {
    "bootstrap": (
        "5.3.8",
        "8b02d4a7482e0f0a2b1da58f1c9c86830e96cc2f77f094f89e4681b19886bc38",
        "dist",
        "bootstrap",
    ),
    "@fortawesome/fontawesome-free": (
        "6.7.2",
        "794284b4ac7f3e30825bbeea1a073f542c45dff83f8146625f600f1015c9d52b",
        "",
        "fontawesome",
    ),
}
#: Static folders inside wheels that are not an app's (never collected by a project).
_SKIP_WHEEL_DIRS = ("wagtail/project_template/",)


def pins_text() -> str:
    lines = [f"pip {name}=={v} sha256:{h}" for name, (v, h) in PIP_PINS.items()]
    lines += [
        f"npm {name}@{v} sha256:{h} {d or '.'} as {p}" for name, (v, h, d, p) in NPM_PINS.items()
    ]
    return "\n".join(lines) + "\n"


def describe() -> str:
    """One line naming the pinned packages, for reports."""
    parts = [f"{name} {v}" for name, (v, _) in PIP_PINS.items()]
    parts += [f"{name} {v} (npm)" for name, (v, *_rest) in NPM_PINS.items()]
    return ", ".join(parts)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, wanted: str, what: str) -> None:
    got = _sha256(path)
    if got != wanted:
        raise SystemExit(f"{what}: SHA-256 {got} of {path.name}, expected {wanted}")


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )


def _unpack_wheel(wheel: Path, dest: Path) -> list[str]:
    """Extract every ``<...>/static/...`` member; return the static folders (relative)."""
    roots: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            name = member.filename
            if member.is_dir() or "/static/" not in name or name.startswith(_SKIP_WHEEL_DIRS):
                continue
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts:
                raise SystemExit(f"{wheel.name}: unsafe member {name!r}")
            roots.add(name.split("/static/", 1)[0] + "/static")
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    return sorted(roots)


def _unpack_npm(tarball: Path, dest: Path) -> None:
    """Extract the package (its members all start with ``package/``) into ``dest``."""
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if not member.isfile():
                continue
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts or path.parts[0] != "package":
                raise SystemExit(f"{tarball.name}: unexpected member {member.name!r}")
            target = dest.joinpath(*path.parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            src = archive.extractfile(member)
            assert src is not None
            with src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def ensure(python: str = sys.executable, quiet: bool = False) -> list[str]:
    """Install the tree on first use; return the ``EXAMPLE_EXTRA_STATIC_DIRS`` entries."""
    stamp = TREE_DIR / ".stamp"
    dirs_file = TREE_DIR / ".dirs"
    if stamp.exists() and dirs_file.exists() and stamp.read_text() == pins_text():
        return dirs_file.read_text().splitlines()
    if not quiet:
        print(f"==> installing the large tree into {TREE_DIR}: {describe()}", flush=True)
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("the large tree needs npm (for Bootstrap and Font Awesome)")
    shutil.rmtree(TREE_DIR, ignore_errors=True)
    TREE_DIR.mkdir(parents=True)
    entries: list[str] = []
    with tempfile.TemporaryDirectory(prefix="preloadstorage-tree-") as tmp:
        downloads = Path(tmp)
        specs = [f"{name}=={version}" for name, (version, _) in PIP_PINS.items()]
        _run(
            [
                python,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(downloads),
                *specs,
            ],
            downloads,
        )
        for name, (version, sha) in PIP_PINS.items():
            stem = f"{name.replace('-', '_')}-{version}-"
            wheels = [p for p in downloads.glob("*.whl") if p.name.lower().startswith(stem)]
            if len(wheels) != 1:
                raise SystemExit(f"pip download gave no single wheel for {name}=={version}")
            _verify(wheels[0], sha, f"{name}=={version}")
            dest = TREE_DIR / "pip" / name
            for root in _unpack_wheel(wheels[0], dest):
                entries.append(str(dest / root))
        for name, (version, sha, folder, prefix) in NPM_PINS.items():
            out = subprocess.run(
                [npm, "pack", "--silent", f"{name}@{version}"],
                cwd=downloads,
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"npm pack {name}@{version} failed:\n{out.stderr[-4000:]}")
            tarball = downloads / out.stdout.strip().splitlines()[-1]
            _verify(tarball, sha, f"{name}@{version}")
            dest = TREE_DIR / "npm" / name.replace("/", "__")
            _unpack_npm(tarball, dest)
            mounted = dest / folder if folder else dest
            entries.append(f"{prefix}={mounted}")
    dirs_file.write_text("\n".join(entries) + "\n")
    stamp.write_text(pins_text())
    return entries


def env_value(entries: list[str]) -> str:
    return os.pathsep.join(entries)


def count_files(entries: list[str]) -> int:
    total = 0
    for entry in entries:
        path = entry.split("=", 1)[1] if "=" in entry.split(os.sep, 1)[0] else entry
        total += sum(1 for p in Path(path).rglob("*") if p.is_file())
    return total


def main() -> int:
    entries = ensure()
    print(f"# {count_files(entries)} files: {describe()}", file=sys.stderr)
    print(f"export EXAMPLE_EXTRA_STATIC_DIRS='{env_value(entries)}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
