"""The newcomer demo (``scripts/demo.py``, run by ``./scripts/demo.sh``) works end to end.

It runs in a subprocess with this interpreter (not ``.venv-demo``) and ``--delay 0``:
moto's server, the recording proxy, four unchanged ``collectstatic`` runs, the pages and
their static URLs. The stock backend's runs alone send ~3,900 requests one at a time, so
this takes 40-80 s on a 2-core machine: it is in the slow tier. ``./scripts/demo.sh``
itself installs only a short dependency list into ``.venv-demo``: a fast test checks that
list covers every package the demo's modules import.
"""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "scripts" / "demo.py"


@pytest.mark.slow
def test_demo_runs_and_cleans_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EXAMPLE_", "DJANGO_"))}
    env["TMPDIR"] = str(tmp_path)  # everything the demo creates lands here
    env["PRELOADSTORAGE_DEMO_PIDFILE"] = str(tmp_path / "server.pid")
    env["PYTHONIOENCODING"] = "utf-8"
    result = subprocess.run(
        [sys.executable, str(DEMO), "--delay", "0"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr

    # The side-by-side table: both backends in both scenarios, every column.
    assert re.search(r"seconds\s+requests\s+PUT\s+HEAD\s+GET\s+LIST\s+DELETE\s+COPY", out), out
    assert re.search(r"first deploy\s+stock\s+[\d.]+\s+\d+", out), out
    assert re.search(r"unchanged re-run\s+stock\s+[\d.]+\s+\d+", out), out
    assert len(re.findall(r"^\s+preloadstorage\s+[\d.]+\s+\d+", out, re.M)) == 2, out
    assert "x faster" in out and "x fewer requests" in out
    # preloadstorage's own summary line, from the unchanged collectstatic's output.
    assert re.search(r"preloadstorage: s3://demo-preload/static/: 0 uploaded", out), out

    # The pages and the static files they link, served from the bucket.
    for page in ("/", "/about/", "/gallery/"):
        assert re.search(rf"GET {re.escape(page)} -> 200; .*: all \d+ answer 200", out), out
    assert re.search(r"\.[0-9a-f]{12}\.css -> 200 \(text/css, ", out), out

    # Nothing left behind: the server is stopped, its port closed, temp files gone.
    port = re.search(r"S3 server http://127\.0\.0\.1:(\d+)", out)
    assert port, out
    with socket.socket() as sock, pytest.raises(OSError):
        sock.settimeout(2)
        sock.connect(("127.0.0.1", int(port.group(1))))
    assert list(tmp_path.iterdir()) == []


def _demo_deps() -> list[str]:
    """The requirements ``scripts/demo.sh`` installs besides ``preloadstorage[s3]``."""
    found = re.search(r'^DEMO_DEPS="([^"]*)"', (REPO / "scripts" / "demo.sh").read_text(), re.M)
    assert found, "DEMO_DEPS not found in scripts/demo.sh"
    return found.group(1).split()


def _installed_closure(requirements: list[str]) -> set[str]:
    """Distributions (normalised names) that installing ``requirements`` brings in."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue  # not installed here, so nothing imported here can come from it
        seen.add(name)
        for text in dist.requires or ():
            sub = Requirement(text)
            env_ok = any(
                sub.marker is None or sub.marker.evaluate({"extra": extra})
                for extra in [*req.extras, ""]
            )
            if env_ok and canonicalize_name(sub.name) not in seen:
                todo.append(sub)
    return seen


def _module_imports(path: Path) -> set[str]:
    """Top-level packages ``path`` imports at module level (what loading it needs)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_demo_venv_installs_everything_the_demo_imports() -> None:
    """``./scripts/demo.sh`` (the README's first command) runs in a venv with only
    ``preloadstorage[s3]`` and ``DEMO_DEPS``: a module the demo loads from another
    package must come with them (mirakuru once did not)."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    available = _installed_closure(["preloadstorage[s3]", *_demo_deps()])
    owners = packages_distributions()
    modules = [REPO / "scripts" / "demo.py", *(REPO / "tests" / "support").glob("[!t]*.py")]
    missing = {}
    for path in modules:
        for name in _module_imports(path) - set(sys.stdlib_module_names) - {"tests"}:
            dists = {canonicalize_name(d) for d in owners.get(name, [name])}
            if not dists & available:
                missing[name] = path.relative_to(REPO).as_posix()
    assert not missing, f"add to DEMO_DEPS in scripts/demo.sh: {missing}"
