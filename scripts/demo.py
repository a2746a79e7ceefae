"""The newcomer demo: stock vs preloadstorage ``collectstatic`` on a local S3 server.

Run through ``./scripts/demo.sh`` (which builds the ``.venv-demo`` it needs), or directly
with any Python that has preloadstorage[s3] and moto[server] installed::

    python scripts/demo.py [--delay SECONDS]

What it does, all on 127.0.0.1 and cleaned up afterwards:

1. starts moto's S3 server and a recording proxy in front of it that counts requests by
   S3 operation and waits ``--delay`` seconds per request (a stand-in for the network
   round trip to a real bucket);
2. runs the example project's unchanged ``manage.py collectstatic --noinput`` four
   times: django-storages' ``S3ManifestStaticStorage`` and preloadstorage's
   ``PreloadingS3ManifestStorage`` (``EXAMPLE_STORAGE=stock-s3`` / ``s3``, one bucket
   each), each a first deploy into an empty bucket and then an unchanged re-run;
3. prints wall time and requests per operation side by side, and the speed-ups;
4. renders the site's pages with the preloading backend and fetches the hashed static
   URLs they link to from the bucket.

Exits non-zero, with a message, if any step fails.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.proxy import RecordingProxy  # noqa: E402
from tests.support.servers import S3_ACCESS_KEY, S3_REGION, S3_SECRET_KEY, MotoServer  # noqa: E402

PROJECT = REPO / "example_project"
MANAGE = PROJECT / "manage.py"
LOCATION = "static"
PAGES = ("/", "/about/", "/gallery/")
DEFAULT_DELAY = 0.01
RUN_TIMEOUT = 600  # seconds per collectstatic run; the stock first deploy is the slow one
#: Set by scripts/demo.sh: where to note the server's pid for its clean-up trap.
PIDFILE_ENV = "PRELOADSTORAGE_DEMO_PIDFILE"

BACKENDS = {
    "stock-s3": ("stock", "storages.backends.s3.S3ManifestStaticStorage", "demo-stock"),
    "s3": (
        "preloadstorage",
        "preloadstorage.backends.s3.PreloadingS3ManifestStorage",
        "demo-preload",
    ),
}
SCENARIOS = ("first deploy", "unchanged re-run")
#: Table columns: label -> the proxy's S3 operation names counted in it.
COLUMNS = {
    "PUT": ("PutObject", "UploadPart", "CreateMultipartUpload", "CompleteMultipartUpload"),
    "HEAD": ("HeadObject", "HeadBucket"),
    "GET": ("GetObject",),
    "LIST": ("ListObjectsV2", "ListObjects"),
    "DELETE": ("DeleteObject", "DeleteObjects"),
    "COPY": ("CopyObject", "UploadPartCopy"),
}
PAGE_MARKER = "@@PRELOADSTORAGE-DEMO@@"
# Runs inside the example project (manage.py shell -c): render the pages, print JSON.
RENDER_PAGES = f"""
import json
from django.test import Client
client = Client()
pages = {{}}
for path in {list(PAGES)!r}:
    response = client.get(path)
    pages[path] = [response.status_code, response.content.decode("utf-8", "replace")]
print({PAGE_MARKER!r} + json.dumps(pages))
"""
URL_ATTR_RE = re.compile(r"""\b(?:href|src)\s*=\s*"([^"]*)\"""")


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


@dataclass
class Run:
    kind: str
    scenario: str
    seconds: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    output: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def column(self, label: str) -> int:
        return sum(self.counts.get(op, 0) for op in COLUMNS[label])


# -- helpers -------------------------------------------------------------------------------
def say(text: str = "") -> None:
    print(text, flush=True)


def kib(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"


def project_env(workdir: Path, endpoint: str, kind: str) -> dict[str, str]:
    """The environment for one run of the example project: only the demo's own settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXAMPLE_", "AWS_", "DJANGO_", "PRELOADSTORAGE_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "demo_site.settings",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "PYTHONUTF8": "1",
            "PYTHONIOENCODING": "utf-8",
            "EXAMPLE_STORAGE": kind,
            "EXAMPLE_S3_ENDPOINT": endpoint,
            "EXAMPLE_S3_BUCKET": BACKENDS[kind][2],
            "EXAMPLE_S3_LOCATION": LOCATION,
            "EXAMPLE_DB_PATH": str(workdir / "db.sqlite3"),
            "EXAMPLE_STATIC_ROOT": str(workdir / "static_root"),
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            # Everything is on 127.0.0.1: never through an HTTP proxy of the environment.
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def manage(args: list[str], env: dict[str, str], what: str) -> str:
    """Run the example project's manage.py; return its output, raise DemoError on failure."""
    try:
        result = subprocess.run(
            [sys.executable, str(MANAGE), *args],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=RUN_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        raise DemoError(f"{what}: no result after {RUN_TIMEOUT} s") from exc
    output = result.stdout + result.stderr
    if result.returncode != 0:
        tail = "\n".join("    " + line for line in output.strip().splitlines()[-25:])
        raise DemoError(f"{what} exited with code {result.returncode}:\n{tail}")
    return output


def create_bucket(endpoint: str, name: str) -> None:
    """Create a bucket whose static files anyone may read, as a static-files bucket's are.

    On AWS that is a bucket policy like this one (or a CDN in front); without it the
    unsigned static URLs (querystring_auth off) answer 403.
    """
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
        region_name=S3_REGION,
        config=Config(s3={"addressing_style": "path"}, proxies={}),
    )
    client.create_bucket(Bucket=name)
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicReadStatic",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{name}/{LOCATION}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=name, Policy=json.dumps(public_read))


def collectstatic(proxy: RecordingProxy, workdir: Path, kind: str, scenario: str) -> Run:
    name = BACKENDS[kind][0]
    what = f"collectstatic ({name}, {scenario})"
    env = project_env(workdir, proxy.endpoint, kind)
    proxy.reset()
    start = time.perf_counter()
    output = manage(["collectstatic", "--noinput"], env, what)
    run = Run(kind, scenario, time.perf_counter() - start, Counter(proxy.counts), output)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    result = next((ln for ln in reversed(lines) if "static file" in ln), "")
    summary = next((ln for ln in lines if ln.startswith("preloadstorage:")), "")
    say(f"    {run.seconds:6.1f} s  {run.total:5d} requests   {result}")
    if summary:
        say(f"    {summary}")
    return run


def print_table(runs: list[Run], delay: float) -> None:
    head = f"  {'scenario':<18}{'backend':<15}{'seconds':>8}{'requests':>9}"
    head += "".join(f"{label:>7}" for label in COLUMNS)
    say(head)
    say("  " + "-" * (len(head) - 2))
    for scenario in SCENARIOS:
        for i, run in enumerate(r for r in runs if r.scenario == scenario):
            row = f"  {scenario if i == 0 else '':<18}{BACKENDS[run.kind][0]:<15}"
            row += f"{run.seconds:>8.1f}{run.total:>9d}"
            row += "".join(f"{run.column(label):>7d}" for label in COLUMNS)
            say(row)
    known = {op for ops in COLUMNS.values() for op in ops}
    others: Counter[str] = Counter()
    for run in runs:
        others.update({op: n for op, n in run.counts.items() if op not in known})
    if others:
        say("  (requests also counts: " + ", ".join(f"{n} {op}" for op, n in others.items()) + ")")
    say(f"  (every request waited {delay * 1000:g} ms in the proxy, standing in for the network)")


def print_speedups(runs: list[Run]) -> None:
    for scenario in SCENARIOS:
        stock, preload = (
            next(r for r in runs if r.kind == k and r.scenario == scenario) for k in BACKENDS
        )
        faster = stock.seconds / max(preload.seconds, 1e-9)
        fewer = stock.total / max(preload.total, 1)
        say(
            f"  {scenario + ':':<18}{faster:5.1f}x faster ({stock.seconds:.1f} s -> "
            f"{preload.seconds:.1f} s), {fewer:5.1f}x fewer requests "
            f"({stock.total} -> {preload.total})"
        )


def fetch(url: str) -> tuple[int, str, int]:
    """GET ``url`` as a browser would: status, content type, size."""
    # Django's manifest storages unquote the URLs they build, so a name with a space is
    # rendered with a raw space; browsers percent-encode it before sending, so do we.
    url = quote(url, safe=":/?#[]@!$&'()*+,;=%~")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=30) as response:
            body = response.read()
            return response.status, response.headers.get("Content-Type", "?"), len(body)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", "?"), 0


def show_pages(proxy: RecordingProxy, workdir: Path) -> None:
    """Render the pages with the preloading backend and GET the static URLs they name."""
    env = project_env(workdir, proxy.endpoint, "s3")
    output = manage(["shell", "-c", RENDER_PAGES], env, "rendering the pages (manage.py shell)")
    line = next((ln for ln in output.splitlines() if ln.startswith(PAGE_MARKER)), None)
    if line is None:
        raise DemoError(f"rendering the pages printed no result:\n{output[-2000:]}")
    pages: dict[str, list[Any]] = json.loads(line[len(PAGE_MARKER) :])
    bucket_url = f"{proxy.endpoint}/{BACKENDS['s3'][2]}/{LOCATION}/"
    failures: list[str] = []
    seen: set[str] = set()
    for path in PAGES:
        status, body = pages[path]
        urls = list(dict.fromkeys(html.unescape(u) for u in URL_ATTR_RE.findall(body)))
        static = [u for u in urls if u.startswith(bucket_url)]
        if status != 200:
            failures.append(f"GET {path} -> {status}")
            say(f"  GET {path} -> {status}")
            continue
        if not static:
            failures.append(f"GET {path}: no static URL points at the bucket {bucket_url}")
            continue
        results = [(u, *fetch(u)) for u in static]
        bad = [r for r in results if r[1] != 200]
        failures += [f"{path}: {u} -> {code}" for u, code, _, _ in bad]
        verdict = f"all {len(static)} answer 200" if not bad else f"{len(bad)} do NOT answer 200"
        say(f"  GET {path} -> {status}; links {len(static)} static files in the bucket: {verdict}")
        # A few examples: a stylesheet, a script and an image not shown for an earlier
        # page; then the failures.
        shown: list[tuple[str, int, str, int]] = []
        for ext in (".css", ".js", (".png", ".svg")):
            match = next(
                (r for r in results if unquote(r[0]).endswith(ext) and r[0] not in seen), None
            )
            if match:
                shown.append(match)
                seen.add(match[0])
        shown += [r for r in bad[:3] if r not in shown]
        for url, code, ctype, size in shown:
            name = unquote(url[len(bucket_url) :])
            say(f"      {name} -> {code} ({ctype.split(';')[0]}, {kib(size)}, from the bucket)")
    say(f"  (the URLs are {bucket_url}<hashed name>, unsigned: querystring_auth is off)")
    if failures:
        raise DemoError(
            "some pages or static files did not answer 200:\n    " + "\n    ".join(failures)
        )


# -- main ----------------------------------------------------------------------------------
def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument(
        "--delay",
        type=float,
        default=DEFAULT_DELAY,
        help=f"seconds the proxy waits per request, standing in for the network round trip "
        f"to a real bucket (default {DEFAULT_DELAY}; 0 for the raw local server)",
    )
    args = parser.parse_args(argv)
    if args.delay < 0:
        parser.error("--delay must be >= 0")
    return args


def demo(delay: float, workdir: Path, server: MotoServer, proxies: list[RecordingProxy]) -> None:
    say("Starting a local S3 server (moto) on 127.0.0.1 behind a proxy that counts requests")
    say(
        f"and delays each by {delay * 1000:g} ms, a stand-in for the network round trip to a"
        " real bucket"
    )
    say("(usually longer than that; change it with --delay SECONDS).")
    server.start()
    pidfile = os.environ.get(PIDFILE_ENV)
    if pidfile and server.process is not None:
        Path(pidfile).write_text(f"{server.process.pid}\n")
    proxy = RecordingProxy(server.endpoint, flavor="s3", delay=delay)
    proxies.append(proxy)
    proxy.start()
    for kind in BACKENDS:
        create_bucket(server.endpoint, BACKENDS[kind][2])
    say(
        f"  S3 server {server.endpoint}, proxy {proxy.endpoint}, "
        f"buckets {', '.join(b[2] for b in BACKENDS.values())}"
    )
    say()
    say("Running the unchanged `python example_project/manage.py collectstatic --noinput`;")
    say("only STORAGES['staticfiles']['BACKEND'] differs (EXAMPLE_STORAGE=stock-s3 / s3):")
    runs: list[Run] = []
    steps = [(kind, scenario) for kind in BACKENDS for scenario in SCENARIOS]
    for number, (kind, scenario) in enumerate(steps, 1):
        say(
            f"  [{number}/{len(steps)}] {BACKENDS[kind][1].rsplit('.', 1)[1]}, {scenario}"
            f"{' (slow: several requests per file, one at a time)' if number == 1 else ''}"
        )
        runs.append(collectstatic(proxy, workdir, kind, scenario))
    say()
    say("Side by side (requests by S3 operation, counted by the proxy):")
    print_table(runs, delay)
    say()
    say("preloadstorage vs stock:")
    print_speedups(runs)
    say()
    say(
        "The site's pages resolve their hashed static URLs from the bucket "
        "(EXAMPLE_STORAGE=s3, DEBUG off):"
    )
    show_pages(proxy, workdir)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.suppress(ValueError, AttributeError):
        signal.signal(signal.SIGHUP, _terminate)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="preloadstorage-demo-"))
    server = MotoServer()
    proxies: list[RecordingProxy] = []  # created once the server has a port
    status = 0
    try:
        demo(args.delay, workdir, server, proxies)
    except DemoError as exc:
        say()
        print(f"demo failed: {exc}", file=sys.stderr, flush=True)
        status = 1
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr, flush=True)
        status = 130
    except SystemExit as exc:
        print("\nstopped: cleaning up", file=sys.stderr, flush=True)
        status = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # a server that would not start, a refused request, ...
        traceback.print_exc()
        print(f"\ndemo failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        status = 1
    finally:
        # Ignore further Ctrl-C/TERM while cleaning up, so that nothing is left behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for proxy in proxies:
            proxy.stop()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        pidfile = os.environ.get(PIDFILE_ENV)
        if pidfile:
            with contextlib.suppress(OSError):
                os.unlink(pidfile)
    if status:
        return status
    say()
    say(
        f"Done in {time.perf_counter() - started:.0f} s; the S3 server and the proxy are "
        "stopped, temporary files removed."
    )
    say("Next, in README.md: 'Set-up: one line' (switch your own project), 'Options',")
    say("'How it works', and 'S3-compatible providers'; example_project/README.md runs the")
    say("same site against your own S3, GCS or Azure bucket.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
