"""The newcomer demo (``scripts/demo.py``, run by ``./scripts/demo.sh``) works end to end.

It runs in a subprocess with this interpreter (not ``.venv-demo``) and ``--delay 0``:
moto's server, the recording proxy, four unchanged ``collectstatic`` runs, the pages and
their static URLs. The stock backend's runs alone send ~3,900 requests one at a time, so
this takes 40-80 s on a 2-core machine: it is in the slow tier.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "scripts" / "demo.py"

pytestmark = pytest.mark.slow


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
