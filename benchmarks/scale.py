"""Preload at scale: list a prefix holding 100,000 objects; report time, CPU, requests, RSS.

    python benchmarks/scale.py [--objects 100000] [--folders 100] [--parser both|fast|modeled]

moto runs in this process (objects are created straight in its backend: 100,000 PUTs
over HTTP would take minutes); the collectstatic that preloads runs in a subprocess,
so its peak RSS and its CPU seconds are the client's own. A RecordingProxy in front
counts the requests and adds ``--delay`` per request, which is what makes listing pages
in parallel pay.

``--parser`` picks how the client parses listing pages: ``fast`` is
``preloadstorage.backends.s3_listing`` (what the storage uses), ``modeled`` switches it
off so that botocore's modeled XML parser reads every object, ``both`` (the default)
runs the preload once each way against the same objects. Per run: wall time of the
command, client CPU seconds (user+sys) of the whole subprocess, of the command and of
the listing alone (from the first listing request to the last object handed to the
cache: parsing, RemoteObjects, cache inserts, on every thread), and how many listing
pages the fast parser read (0 with ``modeled``; with ``fast``, 0 means the storage does
not use it and the run fails).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

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

    def cpu():
        times = os.times()  # the whole process: every thread
        return times.user + times.system

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
    from preloadstorage.backends import s3 as adapter_module, s3_listing

    # The parser switch, for this benchmark only (not an option of the storage).
    s3_listing._ENABLED = os.environ["PARSER"] == "fast"
    fast_pages = []
    parse_page = s3_listing.parse_page
    def counting_parse_page(body):
        parsed = parse_page(body)
        if parsed is not None:
            fast_pages.append(len(parsed[1]))
        return parsed
    s3_listing.parse_page = counting_parse_page

    # The listing window: the adapter's listing generator, first request to last object.
    owner = getattr(adapter_module, "S3Adapter", None)
    hook = "list"
    if owner is None:  # before the adapter refactor
        owner, hook = adapter_module.S3PreloadMixin, "_preload_list"
    listing = {}
    original = getattr(owner, hook)
    def timed(self, *args, **kwargs):
        cpu_started, started = cpu(), time.monotonic()
        yield from original(self, *args, **kwargs)
        listing.update(cpu=cpu() - cpu_started, wall=time.monotonic() - started)
    setattr(owner, hook, timed)

    before = hwm_mib()
    cpu_started, started = cpu(), time.monotonic()
    call_command("collectstatic", "--noinput", "--dry-run", verbosity=0)
    elapsed, command_cpu = time.monotonic() - started, cpu() - cpu_started
    run = staticfiles_storage._preload_run
    print(json.dumps({
        "seconds": elapsed, "listed": len(run.cache),
        "command_cpu": command_cpu, "process_cpu": cpu(),
        "listing_cpu": listing.get("cpu"), "listing_seconds": listing.get("wall"),
        "fast_pages": len(fast_pages), "fast_objects": sum(fast_pages),
        "rss_before_mib": before,
        "rss_peak_mib": hwm_mib(),
    }))
    """
)


def run_child(parser: str, bucket: str, endpoint: str) -> dict[str, Any] | None:
    """One preload in a fresh subprocess; its own report, plus its rusage CPU."""
    env = {
        **os.environ,
        "BUCKET": bucket,
        "ENDPOINT": endpoint,
        "PARSER": parser,
        "PYTHONPATH": str(REPO),
    }
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as cwd:
        child = subprocess.run(
            [sys.executable, "-c", CHILD],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    result["rusage_cpu"] = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per request")
    parser.add_argument(
        "--parser",
        choices=("both", "fast", "modeled"),
        default="both",
        help="listing-page parser of the client (default: one run each)",
    )
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
        sequential = math.ceil(args.objects / 1000) * args.delay
        print(
            f"pages one after another would take >= {sequential:.1f} s at "
            f"{args.delay * 1000:.0f} ms per request"
        )
        parsers = ("modeled", "fast") if args.parser == "both" else (args.parser,)
        ok = True
        results = {}
        for name in parsers:
            proxy.reset()
            result = run_child(name, bucket, proxy.endpoint)
            if result is None:
                return 1
            results[name] = result
            pages = proxy.counts.get("ListObjectsV2", 0)
            print(
                f"[{name}] preload of {result['listed']:,} objects: "
                f"{result['seconds']:.1f} s wall, {pages} ListObjectsV2 pages "
                f"({dict(proxy.counts)}), {result['fast_pages']} pages "
                f"({result['fast_objects']:,} objects) fast-parsed"
            )
            print(
                f"[{name}] client CPU: listing {result['listing_cpu']:.2f} s "
                f"(in {result['listing_seconds']:.1f} s wall), collectstatic "
                f"{result['command_cpu']:.2f} s, whole process {result['rusage_cpu']:.2f} s "
                f"(user+sys, start-up included); peak RSS {result['rss_peak_mib']:.0f} MiB "
                f"(after start-up {result['rss_before_mib']:.0f} MiB)"
            )
            rss_ok = result["rss_peak_mib"] < 200
            print(f"[{name}] RSS under 200 MB:", "OK" if rss_ok else "FAIL")
            ok = ok and rss_ok and result["listed"] >= args.objects
            if name == "fast" and result["fast_objects"] < args.objects:
                print("[fast] FAIL: the storage did not use the fast parser for every page")
                ok = False
        if len(results) == 2:
            modeled, fast = results["modeled"]["listing_cpu"], results["fast"]["listing_cpu"]
            print(
                f"listing CPU: modeled {modeled:.2f} s -> fast {fast:.2f} s "
                f"({modeled / max(fast, 1e-9):.1f}x less; "
                f"{(modeled - fast) / args.objects * 1e6:.0f} us saved per object)"
            )
        return 0 if ok else 1
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
