"""Preload at scale: list a prefix holding 100,000 objects; report time, requests, RSS.

    python benchmarks/scale.py [--objects 100000] [--folders 100]

moto runs in this process (objects are created straight in its backend: 100,000 PUTs
over HTTP would take minutes); the collectstatic that preloads runs in a subprocess,
so its peak RSS is the storage's own. A RecordingProxy in front counts the requests
and adds ``--delay`` per request, which is what makes listing pages in parallel pay.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD = textwrap.dedent(
    """
    import json, os, sys, time, tempfile

    def hwm_mib():
        # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec (the forked parent).
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import django
    from django.conf import settings
    src = tempfile.mkdtemp()
    open(os.path.join(src, "app.css"), "w").write("a {}")
    settings.configure(
        INSTALLED_APPS=["django.contrib.staticfiles"], STATIC_URL="/static/", USE_TZ=True,
        STATICFILES_DIRS=[src],
        STORAGES={"staticfiles": {
            "BACKEND": "preloadstorage.backends.s3.PreloadingS3StaticStorage",
            "OPTIONS": dict(bucket_name=os.environ["BUCKET"], location="static",
                endpoint_url=os.environ["ENDPOINT"], access_key="test", secret_key="test",
                region_name="us-east-1", addressing_style="path", max_workers=16)}},
    )
    django.setup()
    from django.core.management import call_command
    from django.contrib.staticfiles.storage import staticfiles_storage
    from storages.backends import s3  # the client libraries, loaded before measuring
    before = hwm_mib()
    started = time.monotonic()
    call_command("collectstatic", "--noinput", "--dry-run", verbosity=0)
    elapsed = time.monotonic() - started
    run = staticfiles_storage._preload_run
    print(json.dumps({
        "seconds": elapsed, "listed": len(run.cache),
        "rss_before_mib": before,
        "rss_peak_mib": hwm_mib(),
    }))
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per request")
    args = parser.parse_args()

    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    from tests.support.proxy import RecordingProxy
    from tests.support.servers import free_port, s3_client

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    proxy = RecordingProxy(f"http://127.0.0.1:{port}", flavor="s3", delay=args.delay).start()
    try:
        bucket = "scale"
        s3_client(f"http://127.0.0.1:{port}").create_bucket(Bucket=bucket)
        backend = s3_backends["123456789012"]["global"]
        started = time.monotonic()
        for i in range(args.objects):
            folder = f"f{i % args.folders:03d}"
            backend.put_object(bucket, f"static/{folder}/file-{i:06d}.css", b"x" * 64)
        print(f"created {args.objects:,} objects in {time.monotonic() - started:.1f} s")
        proxy.reset()
        env = {**os.environ, "BUCKET": bucket, "ENDPOINT": proxy.endpoint, "PYTHONPATH": str(REPO)}
        with tempfile.TemporaryDirectory() as cwd:
            child = subprocess.run(
                [sys.executable, "-c", CHILD],
                env=env,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=1800,
            )
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        result = json.loads(child.stdout.strip().splitlines()[-1])
        pages = proxy.counts.get("ListObjectsV2", 0)
        sequential = math.ceil(args.objects / 1000) * args.delay
        print(
            f"preload of {result['listed']:,} objects: {result['seconds']:.1f} s, "
            f"{pages} ListObjectsV2 pages ({dict(proxy.counts)}), "
            f"peak RSS {result['rss_peak_mib']:.0f} MiB "
            f"(after start-up {result['rss_before_mib']:.0f} MiB); "
            f"pages one after another would take >= {sequential:.1f} s at "
            f"{args.delay * 1000:.0f} ms per request"
        )
        limit_ok = result["rss_peak_mib"] < 200
        print("RSS under 200 MB:", "OK" if limit_ok else "FAIL")
        return 0 if limit_ok and result["listed"] >= args.objects else 1
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
